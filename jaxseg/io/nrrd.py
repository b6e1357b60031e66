"""NRRD volumes (3D Slicer's format) through pynrrd, with their world geometry."""

from __future__ import annotations

import os
from pathlib import Path

import nrrd
import numpy as np

from jaxseg.io.errors import ReadError
from jaxseg.io.limits import DEFLATE_RATIO, check_claimed_size
from jaxseg.io.volume import Volume

NRRD_SUFFIXES = (".nrrd", ".nhdr")

# Sign flips from each anatomical NRRD space to RAS+ (x, y, z).
SPACE_TO_RAS = {
    "right-anterior-superior": (1, 1, 1), "ras": (1, 1, 1),
    "left-anterior-superior": (-1, 1, 1), "las": (-1, 1, 1),
    "left-posterior-superior": (-1, -1, 1), "lps": (-1, -1, 1),
}
# How far each encoding's stored bytes can expand (None: no bound; bzip2 is only held to io.max_voxels).
# Text holds at least one character per value, of at most 8 bytes.
ENCODING_RATIO = {"raw": 1, "gzip": DEFLATE_RATIO, "gz": DEFLATE_RATIO, "hex": 1, "text": 8, "txt": 8, "ascii": 8,
                  "bzip2": None, "bz2": None}


def _data_file(path: Path, header: dict) -> Path:
    """The file holding the voxels: `path` itself, or a detached `data file` inside path's folder."""
    name = header.get("data file", header.get("datafile"))
    if name is None:
        return path
    if " " in str(name).strip() or str(name).strip().upper() == "LIST":
        raise ReadError(path, f"data file {name!r}: lists of data files are not supported")
    data = (path.parent / str(name).strip()).resolve()
    if not data.is_relative_to(path.parent.resolve()):
        raise ReadError(path, f"data file {name!r} points outside the header's folder {path.parent}: refused")
    if not data.is_file():
        raise ReadError(path, f"data file {name!r} does not exist")
    return data


def is_nrrd(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(NRRD_SUFFIXES)


def read_nrrd(path: str | os.PathLike, max_voxels: int | None = None) -> Volume:
    """Read a 3D NRRD (or 4D with one non-spatial axis, which becomes the last, channel axis).

    The array keeps NRRD's axis order (the first axis varies fastest on disk, as in NIfTI) and
    its stored dtype; the affine comes from `space directions` and `space origin`, converted to
    RAS+ mm. Files without an anatomical `space` (RAS, LAS or LPS) raise ReadError rather than
    guess a world orientation. A detached header's `data file` must lie in the header's folder,
    and the header may not claim more voxels than `max_voxels` or than the data can hold (see
    `jaxseg.io.limits`): both raise ReadError before any voxel is read.
    """
    path = Path(path)
    if not path.is_file():
        raise ReadError(path, "no such file")
    try:
        with open(path, "rb") as handle:
            header = nrrd.read_header(handle)
            data = _data_file(path, header)
            stored = data.stat().st_size - (handle.tell() if data == path else 0)
            encoding = str(header.get("encoding", "raw")).lower()
            # One byte per value: the smallest NRRD type, so no valid file is refused.
            check_claimed_size(path, header["sizes"], 1, stored, ENCODING_RATIO.get(encoding), max_voxels)
            array = nrrd.read_data(header, handle, str(path))
    except ReadError:
        raise
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
