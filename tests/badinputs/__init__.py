"""A corpus of bad inputs, generated on demand: each maker writes one broken file (or folder) and
returns its path. The tests in tests/test_bad_inputs.py and tests/test_bad_reports.py give them to
jaxseg and assert the outcome: a ReadError naming the file and the problem, a skipped and listed
case, or exit status 2; never a traceback, never a huge allocation.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from tests.io_samples import make_slice

BOMB_SHAPE = (1024, 1024, 2048)  # int16: 4 GiB claimed


def nifti_bomb(path: Path) -> Path:
    """A gzipped NIfTI whose header claims BOMB_SHAPE int16 voxels (4 GiB) and holds a few bytes."""
    header = nib.Nifti1Header()
    header.set_data_shape(BOMB_SHAPE)
    header.set_data_dtype(np.int16)
    path.write_bytes(gzip.compress(header.binaryblock + b"\0" * 4 + b"\0" * 16))
    return path


def nrrd_bomb(path: Path) -> Path:
    """A gzip-encoded NRRD claiming 1024^3 shorts (2 GiB), with 16 bytes of data."""
    header = ("NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nsizes: 1024 1024 1024\n"
              "space directions: (1,0,0) (0,1,0) (0,0,1)\nencoding: gzip\nspace origin: (0,0,0)\n\n")
    path.write_bytes(header.encode() + gzip.compress(b"\0" * 16))
    return path


def nrrd_outside_data_file(folder: Path) -> Path:
    """A detached NRRD header (.nhdr) whose `data file` points to ../secret.raw, outside its folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder.parent / "secret.raw").write_bytes(b"\0" * 8)
    path = folder / "volume.nhdr"
    path.write_text("NRRD0004\ntype: uchar\ndimension: 3\nspace: left-posterior-superior\nsizes: 2 2 2\n"
                    "space directions: (1,0,0) (0,1,0) (0,0,1)\nencoding: raw\nspace origin: (0,0,0)\n"
                    "data file: ../secret.raw\n\n")
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(path: Path, width: int, height: int) -> Path:
    """An 8-bit grey PNG whose header claims width x height pixels, with one tiny compressed row."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + _png_chunk(b"IEND", b""))
    return path


def dicom_claiming(path: Path, rows: int, columns: int) -> Path:
    """An uncompressed DICOM image whose header claims rows x columns pixels and holds 6 x 8."""
    ds = make_slice(np.zeros((6, 8), np.uint16), (0.0, 0.0, 0.0), series_uid="1.2.3.999", instance=1)
    ds.Rows, ds.Columns = rows, columns
    ds.save_as(path, enforce_file_format=True)
    return path


def nifti_with(path: Path, array: np.ndarray) -> Path:
    """A NIfTI file of `array` with a 2 mm affine."""
    nib.save(nib.Nifti1Image(array, np.diag([2.0, 2.0, 2.0, 1.0])), path)
    return path


def truncated(path: Path, keep: float = 0.5) -> Path:
    """`path` cut to the first `keep` of its bytes."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def nifti_with_private_header(path: Path) -> Path:
    """A NIfTI image whose free-text fields and an extension hold a patient's name."""
    image = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.diag([1.5, 1.5, 3.0, 1.0]))
    header = image.header
    header["descrip"], header["aux_file"], header["intent_name"], header["db_name"] = (
        b"Doe^Jane 1970", b"Doe^Jane.txt", b"Doe^Jane", b"Doe^Jane")
    header.extensions.append(nib.nifti1.Nifti1Extension(6, b"PatientName=Doe^Jane"))
    image.set_qform(image.affine, code=1)
    image.set_sform(image.affine, code=2)
    nib.save(image, path)
    return path
