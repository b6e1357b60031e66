"""Deterministic CT phantoms: torso-like volumes in Hounsfield units with labelled organs.

Each case is an elliptical torso (skin-fat layer, abdominal wall muscle, bowel and visceral fat)
holding a liver, a spleen, two kidneys and the spine, each an ellipsoid deformed by a smooth random
field, with per-case size, position and rotation. The image is rendered on a fine grid, blurred
(partial volume) and given scanner noise; labels come from the sharp shapes. Cases are written as
NIfTI in the Medical Segmentation Decathlon layout, stored in the LPS-like orientation that DICOM
converters commonly produce, so readers must use the affine to find the anatomy.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from scipy import ndimage

from jaxseg.io import Volume, write_nifti

LABELS = {0: "background", 1: "liver", 2: "spleen", 3: "kidney", 4: "spine"}

# Mean HU of each tissue; each case shifts them a little, as contrast timing does.
_HU = {"air": -1000.0, "fat": -100.0, "muscle": 45.0, "bowel": -40.0,
       "liver": 70.0, "spleen": 45.0, "kidney": 160.0, "spine": 450.0}


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma: float, upsample: int) -> np.ndarray:
    """Zero-mean, unit-std random field on a grid `upsample` times finer than `shape`, smooth over
    `sigma` voxels of `shape` (drawn coarse, then linearly interpolated: 16x cheaper than fine)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    field = ndimage.zoom(field, upsample, order=1, mode="grid-wrap", grid_mode=True)
    return (field - field.mean()) / (field.std() + 1e-12)


def _ellipsoid(points: np.ndarray, centre, radii, angle: float, wobble: np.ndarray) -> np.ndarray:
    """Boolean mask of a deformed ellipsoid, rotated by `angle` (radians) about the z axis.

    points: (..., 3) world coordinates in mm; centre, radii: (3,) in mm; wobble: field added to
    the implicit function (relative to 1 at the surface).
    """
    d = points - np.asarray(centre)
    c, s = np.cos(angle), np.sin(angle)
    x = c * d[..., 0] + s * d[..., 1]
    y = -s * d[..., 0] + c * d[..., 1]
    r = (x / radii[0]) ** 2 + (y / radii[1]) ** 2 + (d[..., 2] / radii[2]) ** 2
    return r + wobble < 1.0


def make_phantom(index: int, shape=(64, 64, 32), spacing_mm=(6.0, 6.0, 8.0), seed: int = 0) -> tuple[Volume, Volume]:
    """One phantom case: (image in HU, int16; label map, uint8) on the same grid.

    shape: (x, y, z) voxels; the number of slices varies by up to +-12% per case.
    spacing_mm: voxel size (x, y, z). Same (index, shape, spacing, seed) -> identical arrays.
    """
    rng = np.random.default_rng([seed, index])
    nx, ny, nz = shape
    nz = int(round(nz * rng.uniform(0.88, 1.12)))
    sx, sy, sz = spacing_mm
    sub = 2  # Render at twice the resolution, then average: partial-volume effect.
    fine = (nx * sub, ny * sub, nz * sub)
    # World coordinates (RAS mm, torso centred on the origin) of the fine grid's voxel centres.
    axes = [((np.arange(n) + 0.5) / sub - n / (2 * sub)) * s for n, s in zip(fine, (sx, sy, sz))]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    half_fov = np.array([nx * sx, ny * sy, nz * sz]) / 2

    hu = {k: v + rng.normal(0, 8) for k, v in _HU.items()}
    image = np.full(fine, hu["air"], dtype=np.float32)
    labels = np.zeros(fine, dtype=np.uint8)
    low = _smooth_field(rng, (nx, ny, nz), sigma=3, upsample=sub)

    # Torso: an ellipse whose size varies along z.
    a = half_fov[0] * rng.uniform(0.82, 0.92) * (1 + 0.04 * np.sin(z / half_fov[2] * np.pi + rng.uniform(0, 6)))
    b = half_fov[1] * rng.uniform(0.62, 0.72) * (1 + 0.03 * np.cos(z / half_fov[2] * np.pi))
    torso_r = (x / a) ** 2 + (y / b) ** 2
    torso = torso_r < 1.0
    image[torso] = hu["fat"]
    wall = rng.uniform(0.84, 0.9)
    image[torso_r < wall ** 2] = hu["muscle"]
    cavity = torso_r < (wall - 0.07) ** 2
    image[cavity] = hu["bowel"] + 30 * low[cavity]

    def organ(name: str, centre, radii, angle, roughness) -> None:
        centre = np.asarray(centre) + rng.normal(0, 0.04, 3) * half_fov
        radii = np.asarray(radii) * rng.uniform(0.85, 1.15, 3)
        wobble = roughness * _smooth_field(rng, (nx, ny, nz), sigma=4, upsample=sub)
        mask = _ellipsoid(points, centre, radii, angle + rng.normal(0, 0.15), wobble) & torso
        image[mask] = hu[name] + 8 * low[mask]
        labels[mask] = next(k for k, v in LABELS.items() if v == name)

    # Organ placement relative to the abdominal cavity's semi-axes (ia, ib) and the half length az.
    ia, ib, az = half_fov[0] * 0.87 * (wall - 0.07), half_fov[1] * 0.67 * (wall - 0.07), half_fov[2]
    organ("liver", (0.35 * ia, 0.1 * ib, 0.25 * az), (0.5 * ia, 0.7 * ib, 0.6 * az), 0.3, 0.25)
    organ("spleen", (-0.55 * ia, -0.2 * ib, 0.3 * az), (0.22 * ia, 0.4 * ib, 0.32 * az), -0.5, 0.2)
    for side in (1, -1):
        organ("kidney", (side * 0.45 * ia, -0.5 * ib, -0.15 * az), (0.17 * ia, 0.28 * ib, 0.38 * az), side * 0.4, 0.15)
    organ("spine", (0.0, -0.8 * ib, 0.0), (0.14 * ia, 0.2 * ib, 4 * az), 0.0, 0.05)

    # Partial volume: average sub^3 fine voxels; a coarse voxel takes its majority label.
    coarse = (nx, sub, ny, sub, nz, sub)
    image = image.reshape(coarse).mean(axis=(1, 3, 5))
    votes = np.stack([(labels == k).reshape(coarse).mean(axis=(1, 3, 5)) for k in LABELS])
    label_map = votes.argmax(axis=0).astype(np.uint8)
    image = ndimage.gaussian_filter(image, 0.5) + rng.normal(0, rng.uniform(12, 20), image.shape)
    image = np.clip(np.round(image), -1024, 3071).astype(np.int16)

    # Store as DICOM converters often do: the first two axes run towards L and P (LPS), so the
    # stored array is the RAS grid flipped in x and y, and the affine says so.
    origin = np.array([half_fov[0] - sx / 2, half_fov[1] - sy / 2, -half_fov[2] + sz / 2])
    origin += rng.normal(0, 10, 3)
    affine = np.diag([-sx, -sy, sz, 1.0])
    affine[:3, 3] = origin
    flip = (slice(None, None, -1), slice(None, None, -1), slice(None))
    image_volume = Volume(np.ascontiguousarray(image[flip]), affine)
    label_volume = Volume(np.ascontiguousarray(label_map[flip]), affine)
    return image_volume, label_volume


def write_phantom_dataset(root: str | os.PathLike, num_cases: int, shape=(64, 64, 32),
                          spacing_mm=(6.0, 6.0, 8.0), seed: int = 0) -> Path:
    """Write `num_cases` phantoms in the Decathlon layout under `root`; reuse an identical one.

    Layout: root/dataset.json, root/imagesTr/phantom_NNN.nii.gz, root/labelsTr/phantom_NNN.nii.gz.
    The dataset is built in a temporary folder and moved into place, so an interrupted run never
    leaves a partial dataset behind. An existing dataset made with other parameters is an error.
    """
    root = Path(root)
    params = {"num_cases": num_cases, "shape": list(shape), "spacing_mm": list(spacing_mm), "seed": seed}
    manifest = root / "dataset.json"
    if manifest.exists():
        existing = json.loads(manifest.read_text()).get("jaxseg_phantom")
        if existing != params:
            raise FileExistsError(f"{root} holds a different dataset ({existing}); expected phantom {params}")
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}."))
    try:
        training = []
        for index in range(num_cases):
            image, label = make_phantom(index, shape, spacing_mm, seed)
            name = f"phantom_{index:03d}.nii.gz"
            write_nifti(image, staging / "imagesTr" / name)
            write_nifti(label, staging / "labelsTr" / name)
            training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
        description = {
            "name": "jaxseg-phantom",
            "description": "Synthetic torso CT phantoms made by jaxseg.data.synthetic",
            "tensorImageSize": "3D",
            "modality": {"0": "CT"},
            "labels": {str(k): v for k, v in LABELS.items()},
            "numTraining": num_cases,
            "numTest": 0,
            "training": training,
            "test": [],
            "jaxseg_phantom": params,
        }
        (staging / "dataset.json").write_text(json.dumps(description, indent=2))
        os.replace(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root
