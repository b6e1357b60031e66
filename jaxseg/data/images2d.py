"""Labelled 2D cases (an image file and its mask, instance map or folder of per-object masks) as
one-slice volumes, so that `prepare`, the slice sampler, validation and evaluation take them as
they take 3D cases.

A 2D image becomes a volume (H, W, 1, C) on `jaxseg.io.one_slice_affine`'s grid: one axial slice
whose radiological display is the image as stored. Its training slices are the axial slices.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from jaxseg.io import (
    Image2D,
    ReadError,
    Volume,
    check_same_size,
    one_slice_affine,
    read_instance_masks,
    read_mask,
    read_planar_image,
)

# ITU-R BT.601 luma weights, the ones Pillow's convert("L") uses.
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
COLOURS = {"gray": ("gray",), "rgb": ("red", "green", "blue")}


@dataclasses.dataclass(frozen=True)
class Reading2D:
    """How the files of a 2D case become image channels and a label map.

    colour: "gray" (one channel; colour images by luminance) | "rgb" (three; grey images repeated).
    Alpha channels are dropped. label_values: ((stored mask value, class), ...); empty means the
    stored values are the classes. unlisted_values: a mask value that is not listed is an "error",
    or takes the class of the "nearest" listed value (stray anti-aliased pixels).
    instances: "" (the mask holds classes) | "binary" (an instance map, or a folder of one mask per
    object: 1 inside any object) | "border" (as binary, and 2 on each object's outline).
    """

    colour: str = "gray"
    label_values: tuple[tuple[int, int], ...] = ()
    unlisted_values: str = "error"
    instances: str = ""

    @property
    def channels(self) -> tuple[str, ...]:
        """Names of the image channels (they decide the normalisation: not CT, so z-scored under auto)."""
        return COLOURS[self.colour]


def image_channels(image: Image2D, colour: str) -> np.ndarray:
    """(H, W, C) float32 channels of a grey (H, W), grey+alpha, RGB or RGBA image, C = 1 (gray) or 3 (rgb)."""
    array = image.array.astype(np.float32)
    if array.ndim == 2:
        grey = array[..., None]
    elif array.shape[-1] in (1, 2):  # grey, grey + alpha
        grey = array[..., :1]
    else:
        rgb = array[..., :3]
        return rgb @ LUMA[:, None] if colour == "gray" else rgb
    return grey if colour == "gray" else np.repeat(grey, 3, axis=-1)


def object_outlines(instances: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of an object with a 4-neighbour outside it (background or another object).

    The image border does not count as outside. Touching objects are separated by their outlines.
    """
    padded = np.pad(instances, 1, mode="edge")
    height, width = instances.shape
    differs = np.zeros(instances.shape, bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        differs |= padded[dy : dy + height, dx : dx + width] != instances
    return differs & (instances > 0)


def mask_classes(mask: Image2D, reading: Reading2D) -> np.ndarray:
    """(H, W) integer classes (uint8 when they fit) of a mask read from a file, per `reading`
    (ReadError naming the mask)."""
    values = mask.array
    if values.size and values.min() < 0:
        raise ReadError(mask.source, f"mask holds negative values (down to {values.min()})")
    if reading.instances:
        classes = (values > 0).astype(np.uint8)
        if reading.instances == "border":
            classes[object_outlines(values)] = 2
        return classes
    if not reading.label_values:
        return values
    listed = np.array([v for v, _ in reading.label_values], np.int64)
    targets = np.array([c for _, c in reading.label_values], np.int64)
    present = np.flatnonzero(np.bincount(values.ravel()))  # Masks hold small integers: counting beats sorting.
    unlisted = present[~np.isin(present, listed)]
    if len(unlisted) and reading.unlisted_values == "error":
        raise ReadError(mask.source, f"mask values {unlisted[:10].tolist()} are not among the listed label values "
                                     f"{listed.tolist()} (config key 'layout.label_values')")
    # Nearest listed value; on a tie the smaller one (argmin takes the first of the sorted values).
    order = np.argsort(listed)
    nearest = order[np.abs(present[:, None] - listed[order][None, :]).argmin(axis=1)]
    lookup = np.zeros(int(present[-1]) + 1 if len(present) else 1, np.uint8 if targets.max() < 256 else np.int64)
    lookup[present] = targets[nearest]
    return lookup[values]


def read_planar_case(image_path: Path, label_path: Path, reading: Reading2D,
                     max_voxels: int | None = None) -> tuple[Volume, Volume, str]:
    """(image (H, W, 1, C) float32, label (H, W, 1) integer classes, spacing unit) of one 2D case on
    the image's one-slice grid. The unit is "mm" when the image file states its pixel size, else
    "px" (the grid then has 1 per pixel: distances on it are in pixels).

    The label is a mask file or, with `reading.instances`, an instance map or a folder of
    per-object masks. Errors name the file: unreadable, different sizes, unlisted mask values,
    more than `max_voxels` pixels x channels.
    """
    image = read_planar_image(image_path, max_voxels)
    if label_path.is_dir():
        if not reading.instances:
            raise ReadError(label_path, "a folder of per-object masks needs instances = binary or border")
        mask = read_instance_masks(label_path, max_voxels)
    else:
        mask = read_mask(label_path, max_voxels)
    check_same_size(image, mask)
    affine = one_slice_affine(image.spacing)
    channels = image_channels(image, reading.colour)
    if not np.all(np.isfinite(channels)):
        raise ReadError(image_path, "image holds NaN or infinite values")
    return (Volume(channels[:, :, None], affine, str(image_path)),
            Volume(mask_classes(mask, reading)[:, :, None], affine, str(label_path)),
            "px" if image.spacing is None else "mm")
