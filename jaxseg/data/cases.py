"""Loading a labelled case into memory: canonical orientation, checked geometry, normalised intensity."""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxseg.data.msd import Case
from jaxseg.io import ReadError, Volume, read_nifti


@dataclasses.dataclass(frozen=True)
class LoadedCase:
    """A case ready for sampling: image (I, J, K) float32 normalised, label (I, J, K) uint8, RAS axes.

    source_affine: the image file's own affine, to write predictions back in its orientation.
    """

    case_id: str
    image: Volume
    label: Volume
    source_affine: np.ndarray


def normalize_ct(hu: np.ndarray, clip_hu: tuple[float, float]) -> np.ndarray:
    """Clip Hounsfield units to a window and scale it linearly to [-1, 1] (float32)."""
    low, high = float(clip_hu[0]), float(clip_hu[1])
    scaled = (np.clip(hu.astype(np.float32), low, high) - (low + high) / 2) / ((high - low) / 2)
    return scaled.astype(np.float32)


def prepare_image(image: Volume, clip_hu: tuple[float, float]) -> Volume:
    """An image as models see it: RAS axes, intensities normalised (float32)."""
    canonical = image.as_canonical()
    return Volume(normalize_ct(canonical.array, clip_hu), canonical.affine, canonical.source)


def load_case(case: Case, clip_hu: tuple[float, float], num_classes: int) -> LoadedCase:
    """Read, check and normalise one case; ReadError naming the case's file if anything is off.

    Image and label must share the grid (same shape, affines equal to 1e-3 mm) and label values
    must lie in [0, num_classes). Both are reoriented to RAS axes (flips and transposes only).
    """
    image = read_nifti(case.image)
    label = read_nifti(case.label)
    if image.array.ndim != 3:
        raise ReadError(case.image, f"expected a single-channel 3D image, got shape {image.array.shape}")
    if label.shape != image.shape or label.array.ndim != 3:
        raise ReadError(case.label, f"label shape {label.array.shape} differs from image shape {image.array.shape}")
    if not np.allclose(label.affine, image.affine, atol=1e-3):
        raise ReadError(case.label, f"label geometry differs from the image's:\n{label.affine}\nvs\n{image.affine}")
    values = label.array
    if values.dtype.kind == "f":
        if not np.array_equal(values, np.round(values)):
            raise ReadError(case.label, "label map holds non-integer values")
    if values.min() < 0 or values.max() >= num_classes:
        raise ReadError(case.label, f"label values span [{values.min()}, {values.max()}], expected [0, {num_classes})")
    label = label.as_canonical()
    return LoadedCase(
        case.case_id,
        prepare_image(image, clip_hu),
        Volume(label.array.astype(np.uint8), label.affine, label.source),
        image.affine,
    )
