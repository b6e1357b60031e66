"""The prepared cache on disk: one folder per case of uncompressed, memory-mappable arrays.

Layout of a cache folder (one per preprocessing fingerprint, see `prepare`):

    cases/<case_id>/image.npy   float32 (K, J, I, C): normalised channels, axial slices contiguous
    cases/<case_id>/label.npy   uint8 (K, J, I): label map
    cases/<case_id>/index.npz   locations (N, 4) int32 rows (class, i, j, k) sorted by class, up to
                                `locations_per_class` random voxels of each foreground class, and
                                counts_0, counts_1, counts_2 (num_classes, n) int64: voxels of each
                                class in each slice along RAS axis 0, 1, 2
    cases/<case_id>/meta.json   geometry (shape (I, J, K), affine, spacing), padding values, voxels
                                per class, and the size and mtime of the source files

Arrays are stored with the axial (S) axis first because axial slices are what 2D pipelines read
most: one slice is one contiguous run of the file. Readers see RAS (I, J, K) views of them.
A case folder is written under a temporary name and renamed when complete, so a folder named
after a case always holds all of it; an interrupted write leaves only a temporary folder, removed
by the next `prepare`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import uuid
import zipfile
import zlib
from pathlib import Path

import numpy as np

from jaxseg.data.cases import LoadedCase
from jaxseg.data.msd import Case
from jaxseg.io import ReadError
from jaxseg.io.paths import inside

_TEMPORARY = (".tmp-", ".old-")


def source_stamp(case: Case) -> list[list]:
    """[path, size in bytes, mtime in ns] of each source file: a changed file makes the case stale."""
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in (*case.images, case.label)]


def foreground_index(label: np.ndarray, num_classes: int, per_class: int, seed: int) -> dict[str, np.ndarray]:
    """Arrays of index.npz for a label map (I, J, K) uint8 (see the module docstring)."""
    flat = np.flatnonzero(label)
    classes = label.ravel()[flat]
    rng = np.random.default_rng(seed)
    picked = []
    for value in range(1, num_classes):
        positions = flat[classes == value]
        if len(positions) > per_class:
            positions = np.sort(rng.choice(positions, per_class, replace=False))
        picked.append(np.column_stack([np.full(len(positions), value), *np.unravel_index(positions, label.shape)]))
    arrays = {"locations": np.concatenate(picked).astype(np.int32)}
    coords = np.unravel_index(flat, label.shape)
    for axis, n in enumerate(label.shape):
        counts = np.bincount(coords[axis].astype(np.int64) * num_classes + classes, minlength=n * num_classes)
        counts = counts.reshape(n, num_classes).T.copy()
        counts[0] = label.size // n - counts[1:].sum(axis=0)
        arrays[f"counts_{axis}"] = counts
    return arrays


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, offset of the data) from a .npy file's header, reading nothing else."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(handle)
        return tuple(shape), np.dtype(dtype), handle.tell()


def array_problem(directory: Path, meta: dict) -> tuple[Path, str] | None:
    """(file, problem) when image.npy, label.npy or index.npz of a case folder does not hold what
    its meta.json describes (a truncated or replaced file); None when all three do."""
    i, j, k = meta["shape"]
    expected = {"image": ((k, j, i, meta["channels"]), np.dtype(np.float32)), "label": ((k, j, i), np.dtype(np.uint8))}
    for name, (shape, dtype) in expected.items():
        path = directory / f"{name}.npy"
        try:
            stored_shape, stored_dtype, offset = _npy_header(path)
            size = path.stat().st_size
        except (OSError, ValueError) as err:
            return path, f"unreadable array ({err})"
        if stored_shape != shape or stored_dtype != dtype:
            return path, f"holds {stored_dtype} {stored_shape}, meta.json describes {dtype} {shape}"
        needed = offset + math.prod(shape) * dtype.itemsize
        if size != needed:
            return path, f"is {size:,} bytes, its shape {shape} needs {needed:,}: truncated or damaged"
    if not zipfile.is_zipfile(directory / "index.npz"):
        return directory / "index.npz", "missing, truncated or damaged"
    return None


class PreparedCase:
    """A case of the prepared cache, its arrays memory-mapped on first use (per process).

    image: (I, J, K, C) float32 view; label: (I, J, K) uint8 view; locations: (N, 4) int32.
    Pickling keeps only the folder and metadata, so grain workers open their own maps.
    Opening a case whose arrays do not match its meta.json raises ReadError naming the file.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.meta = json.loads((self.directory / "meta.json").read_text())
        self._arrays: dict[str, np.ndarray] = {}
        problem = array_problem(self.directory, self.meta)
        if problem:
            raise ReadError(problem[0], f"{problem[1]} (prepared case {self.case_id}): run `jaxseg prepare` again")

    def __getstate__(self) -> dict:
        return {"directory": self.directory, "meta": self.meta, "_arrays": {}}

    def _array(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            if name in ("image", "label"):
                stored = np.load(self.directory / f"{name}.npy", mmap_mode="r")
                self._arrays[name] = stored.transpose(2, 1, 0, *range(3, stored.ndim))
            else:
                with np.load(self.directory / "index.npz") as index:
                    self._arrays.update({k: index[k] for k in index.files})
        return self._arrays[name]

    @property
    def case_id(self) -> str:
        return self.meta["case_id"]

    @property
    def image(self) -> np.ndarray:
        return self._array("image")

    @property
    def label(self) -> np.ndarray:
        return self._array("label")

    @property
    def locations(self) -> np.ndarray:
        return self._array("locations")

    def slice_counts(self, axis: int) -> np.ndarray:
        """(num_classes, n) voxels of each class in each slice along RAS axis `axis`."""
        return self._array(f"counts_{axis}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.meta["shape"])

    @property
    def pad_value(self) -> np.ndarray:
        """(C,) float32: the normalised value of empty space per channel."""
        return np.asarray(self.meta["pad_value"], np.float32)

    @property
    def class_voxels(self) -> np.ndarray:
        """(num_classes,) voxels of each class."""
        return np.asarray(self.meta["class_voxels"], np.int64)


def is_complete(directory: Path, case: Case) -> bool:
    """Whether `directory` holds the whole prepared case, made from the current source files, each
    array of the size its meta.json describes."""
    try:
        meta = json.loads((directory / "meta.json").read_text())
        return meta["source"] == source_stamp(case) and array_problem(directory, meta) is None
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _temporary_name(kind: str, case_id: str) -> str:
    # Host names hold no "_", so the owner can be read back whatever the case id holds.
    return f"{kind}{uuid.uuid4().hex[:8]}_{os.getpid()}_{socket.gethostname()}_{case_id}"


def remove_abandoned(cases_dir: Path) -> None:
    """Delete temporary folders left by processes of this host that are no longer running."""
    for entry in cases_dir.glob(".*"):
        if not entry.name.startswith(_TEMPORARY):
            continue
        parts = entry.name[len(_TEMPORARY[0]):].split("_", 3)  # Both prefixes have the same length.
        if len(parts) == 4 and parts[2] == socket.gethostname() and parts[1].isdigit() and not _running(int(parts[1])):
            shutil.rmtree(entry, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_case(cases_dir: Path, case: Case, prepared: LoadedCase, pad_value: tuple[float, ...],
               num_classes: int, locations_per_class: int) -> PreparedCase:
    """Write a preprocessed case atomically and return it; replaces a stale copy."""
    final = inside(cases_dir, case.case_id, case.label, "case id")
    staging = cases_dir / _temporary_name(".tmp-", case.case_id)
    staging.mkdir(parents=True)
    try:
        label = prepared.label.array
        np.save(staging / "image.npy", np.ascontiguousarray(prepared.image.array.transpose(2, 1, 0, 3)))
        np.save(staging / "label.npy", np.ascontiguousarray(label.transpose(2, 1, 0)))
        # The stored locations depend only on the case, so re-preparing gives the same files.
        seed = zlib.crc32(case.case_id.encode())
        np.savez(staging / "index.npz", **foreground_index(label, num_classes, locations_per_class, seed))
        meta = {
            "case_id": case.case_id,
            "shape": list(label.shape),
            "channels": int(prepared.image.array.shape[-1]),
            "affine": prepared.label.affine.tolist(),
            "spacing": list(prepared.label.spacing),
            "pad_value": list(pad_value),
            "class_voxels": np.bincount(label.ravel(), minlength=num_classes).tolist(),
            "source": source_stamp(case),
        }
        (staging / "meta.json").write_text(json.dumps(meta, indent=1))
        _commit(staging, final, case)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PreparedCase(final)


def _commit(staging: Path, final: Path, case: Case) -> None:
    """Move the finished folder into place; if another process got there first with the same case, keep theirs."""
    if final.exists():
        retired = final.with_name(_temporary_name(".old-", case.case_id))
        try:
            final.rename(retired)
        except FileNotFoundError:
            pass  # Another process retired it already.
        else:
            shutil.rmtree(retired, ignore_errors=True)
    try:
        staging.rename(final)
    except OSError:
        if not is_complete(final, case):
            raise
