"""NRRD volumes (3D Slicer's format) through pynrrd, with their world geometry."""

from __future__ import annotations

import os
from pathlib import Path

import nrrd
import numpy as np

from jaxseg.io.errors import ReadError
from jaxseg.io.volume import Volume

NRRD_SUFFIXES = (".nrrd", ".nhdr")

# Sign flips from each anatomical NRRD space to RAS+ (x, y, z).
SPACE_TO_RAS = {
    "right-anterior-superior": (1, 1, 1), "ras": (1, 1, 1),
    "left-anterior-superior": (-1, 1, 1), "las": (-1, 1, 1),
    "left-posterior-superior": (-1, -1, 1), "lps": (-1, -1, 1),
}


def is_nrrd(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(NRRD_SUFFIXES)


def read_nrrd(path: str | os.PathLike) -> Volume:
    """Read a 3D NRRD (or 4D with one non-spatial axis, which becomes the last, channel axis).

    The array keeps NRRD's axis order (the first axis varies fastest on disk, as in NIfTI) and
    its stored dtype; the affine comes from `space directions` and `space origin`, converted to
    RAS+ mm. Files without an anatomical `space` (RAS, LAS or LPS) raise ReadError rather than
    guess a world orientation.
    """
    path = Path(path)
    if not path.is_file():
        raise ReadError(path, "no such file")
    try:
        array, header = nrrd.read(str(path))
    except Exception as err:  # pynrrd raises NRRDError, ValueError, zlib errors for damaged files
        raise ReadError(path, f"not a readable NRRD file ({type(err).__name__}: {err})") from None
    space = str(header.get("space", "")).lower()
    if space not in SPACE_TO_RAS:
        raise ReadError(path, f"NRRD space {header.get('space')!r} is not an anatomical space (RAS, LAS, LPS): "
                              "its world orientation is unknown")
    directions = np.asarray(header.get("space directions", []), dtype=np.float64)
    spatial = [i for i, row in enumerate(directions) if np.all(np.isfinite(row))]
    if directions.shape != (array.ndim, 3) or len(spatial) != 3 or array.ndim - len(spatial) > 1:
        raise ReadError(path, f"expected 3 spatial axes (and at most one other), got space directions "
                              f"{header.get('space directions')} for shape {array.shape}")
    if array.ndim == 4:
        array = np.moveaxis(array, [a for a in range(4) if a not in spatial][0], -1)
    affine = np.eye(4)
    affine[:3, :3] = directions[spatial].T
    if "space origin" not in header:
        raise ReadError(path, "no 'space origin': the volume's position is unknown")
    affine[:3, 3] = np.asarray(header["space origin"], dtype=np.float64)
    affine = np.diag(SPACE_TO_RAS[space] + (1,)) @ affine
    try:
        return Volume(np.ascontiguousarray(array), affine, str(path))
    except ValueError as err:
        raise ReadError(path, str(err)) from None
