"""2D images and masks (PNG, JPEG, TIFF) through Pillow, and per-instance mask folders.

Axis convention for every 2D image: `array[row, column]`, row 0 at the top and column 0 at the
left, as the image is displayed (and as box CSVs count pixels: x is the column, y the row).
"""

from __future__ import annotations

import colorsys
import dataclasses
import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from jaxseg.io.atomic import atomic_path
from jaxseg.io.errors import GeometryMismatchError, ReadError
from jaxseg.io.limits import IMAGE_CODEC_RATIO, check_claimed_size
from jaxseg.io.volume import Volume

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
MASK_WRITE_SUFFIXES = (".png", ".tif", ".tiff")  # lossless only
EXIF_ORIENTATION = 0x0112
TIFF_X_RESOLUTION, TIFF_Y_RESOLUTION, TIFF_RESOLUTION_UNIT = 282, 283, 296
MM_PER_RESOLUTION_UNIT = {2: 25.4, 3: 10.0}  # TIFF ResolutionUnit 2: pixels per inch, 3: per centimetre
MM_PER_SIDECAR_UNIT = {"mm": 1.0, "um": 1e-3, "µm": 1e-3, "nm": 1e-6}


@dataclasses.dataclass(frozen=True)
class Image2D:
    """A 2D image or mask as displayed.

    array: (H, W) grey values or labels, or (H, W, C) colour channels (RGB, RGBA).
    spacing: (row spacing, column spacing) in mm, None when the file does not give it.
    source: where it was read from, for error messages.
    """

    array: np.ndarray
    spacing: tuple[float, float] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if self.array.ndim not in (2, 3):
            raise ValueError(f"{self.source or 'image'}: expected (H, W) or (H, W, C), got shape {self.array.shape}")

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) in pixels."""
        return tuple(self.array.shape[:2])


def is_image_file(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(IMAGE_SUFFIXES)


def _open(path: Path, max_voxels: int | None = None) -> Image.Image:
    """The decoded image; its header's size is checked first (see `jaxseg.io.limits`): at least one
    bit per pixel must fit in what the codec can expand the file to."""
    if not path.is_file():
        raise ReadError(path, "no such file")
    if not is_image_file(path):
        raise ReadError(path, f"unsupported 2D image type: expected one of {', '.join(IMAGE_SUFFIXES)}")
    try:
        image = Image.open(path)
        width, height = image.size
        check_claimed_size(path, (height, width, len(image.getbands())), 1 / 8, path.stat().st_size,
                           IMAGE_CODEC_RATIO, max_voxels)
        image.load()
    except Image.DecompressionBombError as err:
        raise ReadError(path, f"refused as a decompression bomb ({err})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:  # unknown, truncated, corrupt
        if isinstance(err, ReadError):
            raise
        raise ReadError(path, f"not a readable image ({err})") from None
    if getattr(image, "n_frames", 1) > 1:
        raise ReadError(path, f"holds {image.n_frames} pages or frames; expected one 2D image")
    # Pixels as viewers show them: a camera-style EXIF rotation is applied, not ignored.
    if image.getexif().get(EXIF_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)
    return image


def _tiff_spacing(image: Image.Image) -> tuple[float, float] | None:
    """(row, column) mm from a TIFF's YResolution/XResolution in pixels per inch or centimetre
    (ResolutionUnit 2 or 3; absent means inch, the TIFF default); None for unit 1 (no unit) or
    missing or non-positive resolutions."""
    tags = getattr(image, "tag_v2", None)
    if tags is None or TIFF_X_RESOLUTION not in tags or TIFF_Y_RESOLUTION not in tags:
        return None
    mm = MM_PER_RESOLUTION_UNIT.get(int(tags.get(TIFF_RESOLUTION_UNIT, 2)))
    rows, columns = float(tags[TIFF_Y_RESOLUTION]), float(tags[TIFF_X_RESOLUTION])
    if mm is None or not (rows > 0 and columns > 0):
        return None
    return mm / rows, mm / columns


def _sidecar_spacing(path: Path) -> tuple[float, float] | None:
    """(row, column) mm from a BIDS microscopy sidecar `NAME.json` beside the image: "PixelSize"
    [X (width), Y (height), ...] in "PixelSizeUnits" (mm, um or nm). None without a sidecar or
    without PixelSize; a PixelSize that cannot be read raises ReadError naming the sidecar."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        record = json.loads(sidecar.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReadError(sidecar, f"not a readable JSON sidecar ({err})") from None
    if not isinstance(record, dict) or "PixelSize" not in record:
        return None
    size, unit = record["PixelSize"], record.get("PixelSizeUnits")
    if (unit not in MM_PER_SIDECAR_UNIT or not isinstance(size, list) or len(size) < 2
            or not all(isinstance(v, (int, float)) and v > 0 for v in size[:2])):
        raise ReadError(sidecar, f"PixelSize {size!r} in {unit!r}: expected [X, Y] positive numbers in one of "
                                 f"{', '.join(MM_PER_SIDECAR_UNIT)}")
    scale = MM_PER_SIDECAR_UNIT[unit]
    return float(size[1]) * scale, float(size[0]) * scale


def read_image(path: str | os.PathLike, max_voxels: int | None = None) -> Image2D:
    """A PNG, JPEG or TIFF image: (H, W) for grey (uint8, uint16, int32 or float32 as stored),
    (H, W, 3|4) uint8 for colour; palette images are expanded to RGB(A). More than `max_voxels`
    pixels x channels (default `jaxseg.io.limits.MAX_VOXELS`) raise ReadError.

    Spacing (row, column) in mm: a BIDS microscopy sidecar's PixelSize (`NAME.json` beside the
    image), else a TIFF's resolution tags, else None (PNG and JPEG densities are display hints).
    """
    path = Path(path)
    image = _open(path, max_voxels)
    spacing = _sidecar_spacing(path) or _tiff_spacing(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB")
    return Image2D(np.asarray(image), spacing, str(path))


def read_mask(path: str | os.PathLike, max_voxels: int | None = None) -> Image2D:
    """A label mask (H, W): uint8 (bilevel, grey or palette indices), uint16 or int32 as stored.

    A colour file is accepted only when its colour channels are equal (grey saved as RGB);
    real colours are not labels, so they raise ReadError, as do non-integer values, and more than
    `max_voxels` pixels x channels.
    """
    path = Path(path)
    image = _open(path, max_voxels)
    array = np.asarray(image)
    if image.mode == "1":
        array = array.astype(np.uint8)
    elif array.ndim == 3:
        colour = array[..., :3] if array.shape[-1] >= 3 else array[..., :1]
        if not (colour == colour[..., :1]).all():
            raise ReadError(path, f"colour mask ({image.mode}): expected one channel of labels")
        array = colour[..., 0]
    elif array.dtype.kind == "f":
        if not np.array_equal(array, np.round(array)):
            raise ReadError(path, "mask holds non-integer values")
        array = array.astype(np.int32)
    return Image2D(np.ascontiguousarray(array), None, str(path))


def label_colours(count: int) -> list[tuple[int, int, int]]:
    """RGB colours of labels 0..count-1 for viewing: 0 black, label n >= 1 a bright hue n - 1 golden-
    ratio turns round the colour wheel (neighbouring labels far apart, any number of labels)."""
    hues = (((n - 1) * 0.6180339887) % 1.0 for n in range(1, count))
    return [(0, 0, 0), *(tuple(round(255 * c) for c in colorsys.hsv_to_rgb(h, 0.85, 1.0)) for h in hues)]


def write_mask(mask: np.ndarray, path: str | os.PathLike, palette: bool = False) -> Path:
    """Write an (H, W) label mask losslessly (PNG or TIFF), atomically: never a partial file.

    Stored as uint8 when labels fit (bool becomes 0/1), else uint16; negative or larger labels
    raise ValueError. palette: uint8 labels are stored as palette indices coloured by
    `label_colours`, so that viewers show them while the pixel values stay the labels.
    """
    path = Path(path)
    if not path.name.lower().endswith(MASK_WRITE_SUFFIXES):
        raise ValueError(f"{path}: masks are written as {' or '.join(MASK_WRITE_SUFFIXES)} (lossless)")
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype.kind not in "biu":
        raise ValueError(f"{path}: expected an (H, W) integer or bool mask, got {mask.dtype} {mask.shape}")
    low, high = (int(mask.min()), int(mask.max())) if mask.size else (0, 0)
    if low < 0 or high > np.iinfo(np.uint16).max:
        raise ValueError(f"{path}: labels span [{low}, {high}], outside what PNG/TIFF masks hold (0..65535)")
    stored = mask.astype(np.uint8 if high <= 255 else np.uint16)
    with atomic_path(path) as tmp:
        image = Image.fromarray(stored)
        if palette and stored.dtype == np.uint8:
            image = image.convert("P") if image.mode != "P" else image  # Mode L -> P keeps the values as indices.
            image.putpalette([c for colour in label_colours(256) for c in colour])
        image.save(tmp)
    return path


def one_slice_affine(spacing: tuple[float, float] | None) -> np.ndarray:
    """(4, 4) affine of a 2D image placed as one axial slice, array (H, W[, C]) -> (H, W, 1[, C]).

    Rows run towards posterior and columns towards the patient's left (axis codes P, L, S), so the
    radiological display of the slice (anterior up, the patient's right on the left) is the image
    as stored: row 0 at the top, column 0 at the left. Spacing (row, column) in mm, 1 mm when unknown.
    """
    row, column = spacing or (1.0, 1.0)
    affine = np.zeros((4, 4))
    affine[0, 1], affine[1, 0], affine[2, 2], affine[3, 3] = -column, -row, 1.0, 1.0
    return affine


def image_volume(image: Image2D, array: np.ndarray | None = None) -> Volume:
    """A 2D image (or `array`, (H, W) or (H, W, C) values on its pixels) as a one-slice Volume
    (H, W, 1) or (H, W, 1, C) with `one_slice_affine`."""
    values = image.array if array is None else array
    return Volume(np.expand_dims(values, 2), one_slice_affine(image.spacing), image.source)


def volume_pixels(volume: Volume) -> np.ndarray:
    """The (H, W[, C]) pixels of a one-slice volume made by `image_volume`, in the stored image's
    row and column order, whatever its axis order now (a prediction made on `as_canonical()` axes).

    A volume on any other grid raises GeometryMismatchError.
    """
    world_axes = nib.orientations.io_orientation(volume.affine)[:, 0].astype(int)
    size = dict(zip(world_axes, volume.shape))
    spacing = dict(zip(world_axes, volume.spacing))
    grid = one_slice_affine((spacing[1], spacing[0]))  # Rows run along world y, columns along x.
    return volume.reoriented_like(grid, (size[1], size[0], 1), "its 2D image").array[:, :, 0]


def check_same_size(image: Image2D, mask: Image2D) -> None:
    """GeometryMismatchError (naming the mask) unless the mask has the image's (H, W)."""
    if image.shape != mask.shape:
        raise GeometryMismatchError(mask.source or "mask", f"size {mask.shape} (H, W) differs from "
                                                           f"{image.source or 'the image'}'s {image.shape}")


def read_instance_masks(folder: str | os.PathLike, max_voxels: int | None = None) -> Image2D:
    """A folder of binary masks, one object each (Data Science Bowl 2018 `masks/`), as one instance
    map (H, W) uint16 (int32 past 65535 objects): 0 = background, n = the n-th file in sorted order.

    Masks of different sizes raise GeometryMismatchError; overlapping masks, and masks of more
    than `max_voxels` pixels, raise ReadError.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ReadError(folder, "no such folder")
    files = sorted(p for p in folder.iterdir() if is_image_file(p) and not p.name.startswith("."))
    if not files:
        raise ReadError(folder, f"no mask images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    first = read_mask(files[0], max_voxels)
    instances = np.zeros(first.shape, np.uint16 if len(files) <= np.iinfo(np.uint16).max else np.int32)
    for number, file in enumerate(files, start=1):
        mask = first if number == 1 else read_mask(file, max_voxels)
        check_same_size(first, mask)
        inside = mask.array > 0
        taken = instances[inside]
        if taken.any():
            other = files[int(taken[taken > 0][0]) - 1].name
            raise ReadError(file, f"overlaps {other} in {int((taken > 0).sum())} pixels: an instance map holds one "
                                  "object per pixel")
        instances[inside] = number
    return Image2D(instances, None, str(folder))
