"""Dataset indexes of 2D image folders, matched by file name, and of the Data Science Bowl 2018.

image_folders (`data.source = "image_folders"`): ROOT/<image_dir>/NAME.EXT (PNG, JPEG, TIFF or a
single DICOM image) with its mask ROOT/<mask_dir>/NAME<mask_suffix>.<png|jpg|jpeg|tif|tiff>;
other files (sidecars, masks of other suffixes) are ignored. Mask values become classes through
`layout.label_values` (ISBI 2012: 0 membrane -> 1, 255 cell -> 0; chest X-ray lungs: 255 -> 1).

dsb2018 (`data.source = "dsb2018"`), either layout:
- Kaggle's stage1_train: ROOT/<id>/images/<id>.png and ROOT/<id>/masks/*.png, one mask per nucleus;
- instance maps: ROOT/<image_dir>/<id>.png and ROOT/<mask_dir>/<id>.png (0 background, n nucleus n).
Nuclei are class 1 and, with `layout.nuclei_border`, their outlines class 2 (the 3-class target
nnU-Net and StarDist users train to separate touching nuclei).

Each image is one case and its own subject. An image without its mask is a ReadError naming it;
files that cannot be read fail when the case is read (skipped and counted by `prepare`).
"""

from __future__ import annotations

import os
from pathlib import Path

from jaxseg.data.images2d import Reading2D
from jaxseg.data.msd import Case, DatasetIndex
from jaxseg.io import ReadError
from jaxseg.io.image2d import IMAGE_SUFFIXES
from jaxseg.io.planar import PLANAR_SUFFIXES


def class_labels(class_names: tuple[str, ...], num_classes: int) -> dict[int, str]:
    """{value: name} from `layout.class_names`, else background, class_1, ... for `num_classes` classes."""
    names = class_names or ("background", *(f"class_{c}" for c in range(1, num_classes)))
    return dict(enumerate(names))


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.name.lower().endswith(suffixes))


def _stem(path: Path) -> str:
    return path.name[: -len(path.suffix)]


def _folder(root: Path, name: str, key: str) -> Path:
    folder = root / name
    if not folder.is_dir():
        raise ReadError(root, f"no {name}/ folder (config key 'layout.{key}')")
    return folder


def matched_cases(root: Path, image_dir: str, mask_dir: str, mask_suffix: str, reading: Reading2D) -> list[Case]:
    """A case per image of ROOT/image_dir with its mask ROOT/mask_dir/NAME<mask_suffix>.*; ReadError
    naming an image without a mask, or one with several (x.png and x.tif)."""
    images = _files(_folder(root, image_dir, "image_dir"), PLANAR_SUFFIXES)
    masks: dict[str, list[Path]] = {}
    for mask in _files(_folder(root, mask_dir, "mask_dir"), IMAGE_SUFFIXES):
        masks.setdefault(_stem(mask), []).append(mask)
    if not images:
        raise ReadError(root / image_dir, f"no images ({', '.join(PLANAR_SUFFIXES)}) in this folder")
    cases = []
    for image in images:
        found = masks.get(_stem(image) + mask_suffix, [])
        if len(found) != 1:
            problem = "no mask" if not found else f"{len(found)} masks ({', '.join(p.name for p in found)})"
            raise ReadError(image, f"{problem} named {_stem(image) + mask_suffix}.* in {root / mask_dir}")
        cases.append(Case(_stem(image), (image,), found[0], _stem(image), reading))
    return cases


def read_image_folders(root: str | os.PathLike, layout, num_classes: int) -> DatasetIndex:
    """The image_folders index of `root` per the config's `layout` section (see the module docstring).

    Classes: `layout.class_names`, else as many as the largest class of `layout.label_values` needs,
    else `num_classes` (the model's).
    """
    root = Path(root)
    reading = Reading2D(layout.colour, tuple((int(v), int(c)) for v, c in layout.label_values),
                        layout.unlisted_values)
    cases = matched_cases(root, layout.image_dir, layout.mask_dir, layout.mask_suffix, reading)
    count = 1 + max(c for _, c in reading.label_values) if reading.label_values else num_classes
    return DatasetIndex(root, tuple(cases), class_labels(tuple(layout.class_names), count), reading.channels)


def read_dsb2018(root: str | os.PathLike, layout) -> DatasetIndex:
    """The Data Science Bowl 2018 nuclei at `root`, Kaggle or instance-map layout (module docstring)."""
    root = Path(root)
    reading = Reading2D(layout.colour, instances="border" if layout.nuclei_border else "binary")
    if (root / layout.image_dir).is_dir():
        cases = matched_cases(root, layout.image_dir, layout.mask_dir, "", reading)
    else:
        cases = []
        for folder in sorted(p for p in root.iterdir() if (p / "images").is_dir()) if root.is_dir() else []:
            image, masks = folder / "images" / f"{folder.name}.png", folder / "masks"
            for path in (image, masks):
                if not path.exists():
                    raise ReadError(path, "missing: a Kaggle DSB 2018 case holds images/<id>.png and masks/")
            cases.append(Case(folder.name, (image,), masks, folder.name, reading))
        if not cases:
            raise ReadError(root, f"neither a {layout.image_dir}/ folder nor Kaggle DSB 2018 case folders "
                                  "(<id>/images/<id>.png with <id>/masks/)")
    names = ("background", "nucleus", "border") if layout.nuclei_border else ("background", "nucleus")
    return DatasetIndex(root, tuple(cases), dict(enumerate(names)), reading.channels)
