"""Where the IO tests find real sample files, and DICOM series made with pydicom for edge cases."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from jaxseg.io import Volume

# In CI the repository is cloned with shared/ beside it: repo/../shared/data.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
NIBABEL_FILES = Path(nibabel.__file__).parent / "tests" / "data"
NIBABEL_NICOM_FILES = Path(nibabel.__file__).parent / "nicom" / "tests" / "data"
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def shared(*parts: str) -> Path:
    """A path under ../shared/data; the test is skipped when that folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared sample data not found: {path}")
    return path


def pydicom_data(name: str) -> Path:
    """A file of the pydicom-data wheel (test extra), found without pydicom's network fallback."""
    spec = importlib.util.find_spec("data_store")
    if spec is None or spec.origin is None:
        pytest.skip("pydicom-data is not installed")
    return Path(spec.origin).parent / "data" / name


def sitk_volume(files: Sequence[Path] | Path) -> Volume:
    """The same data read by SimpleITK (a list of slice files, or one file), as a Volume (RAS+)."""
    sitk = pytest.importorskip("SimpleITK")
    if isinstance(files, Path):
        image = sitk.ReadImage(str(files))
    else:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames([str(f) for f in files])
        image = reader.Execute()
    direction = np.array(image.GetDirection()).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = LPS_TO_RAS @ direction * np.array(image.GetSpacing())
    affine[:3, 3] = LPS_TO_RAS @ np.array(image.GetOrigin())
    return Volume(sitk.GetArrayFromImage(image).transpose(2, 1, 0), affine, "SimpleITK")


def sitk_series_files(folder: Path) -> list[Path]:
    sitk = pytest.importorskip("SimpleITK")
    return [Path(f) for f in sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))]


def slice_values(count: int, shape: tuple[int, int]) -> np.ndarray:
    """Stored values (K, rows, columns) uint16 that tell every voxel apart: 1000 + 100 k + 10 r + c."""
    k, r, c = np.meshgrid(np.arange(count), np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return (1000 + 100 * k + 10 * r + c).astype(np.uint16)


def make_slice(pixels: np.ndarray, position: Sequence[float], *, series_uid: str, instance: int,
               orientation: Sequence[float] = (1, 0, 0, 0, 1, 0), spacing: Sequence[float] = (0.7, 0.8),
               slope: float = 1.0, intercept: float = -1024.0, photometric: str = "MONOCHROME2",
               modality: str = "CT", thickness: float = 2.5, frame_of_reference: str = "1.2.3.4") -> Dataset:
    """A classic single-frame image (CT Image Storage, explicit VR little endian, 12 of 16 bits)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.StudyInstanceUID = "1.2.3"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesDescription = f"synthetic {series_uid[-4:]}"
    ds.FrameOfReferenceUID = frame_of_reference
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = [float(v) for v in spacing]
    ds.SliceThickness = thickness
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    return ds


def write_series(folder: Path, count: int = 5, shape: tuple[int, int] = (6, 8), step: float = 2.5,
                 origin: Sequence[float] = (-10.0, -20.0, 30.0), orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
                 spacing: Sequence[float] = (0.7, 0.8), tilt: Sequence[float] = (0, 0, 0), drop: Sequence[int] = (),
                 series_uid: str | None = None, **slice_options) -> tuple[str, np.ndarray, np.ndarray]:
    """Write a series whose file names and InstanceNumbers run opposite to slice position.

    Slice k sits at origin + k * step * normal + k * tilt (LPS mm); slices in `drop` are left out.
    Returns (SeriesInstanceUID, stored values (K, rows, columns) of all K slices, positions (K, 3)).
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    row, col = np.array(orientation[:3], float), np.array(orientation[3:], float)
    normal = np.cross(row, col)
    values = slice_values(count, shape)
    positions = np.array([np.array(origin) + k * step * normal + k * np.array(tilt) for k in range(count)])
    for k in range(count):
        if k in drop:
            continue
        ds = make_slice(values[k], positions[k], series_uid=series_uid, instance=count - k,
                        orientation=orientation, spacing=spacing, **slice_options)
        ds.save_as(folder / f"IM{count - k:04d}_{series_uid[-4:]}", enforce_file_format=True)
    return series_uid, values, positions


def expected_affine(positions: np.ndarray, orientation: Sequence[float], spacing: Sequence[float]) -> np.ndarray:
    """RAS+ affine of (column, row, slice) indices for slices at `positions` (LPS), evenly stepped."""
    lps = np.eye(4)
    lps[:3, 0] = np.array(orientation[:3]) * spacing[1]
    lps[:3, 1] = np.array(orientation[3:]) * spacing[0]
    lps[:3, 2] = positions[1] - positions[0]
    lps[:3, 3] = positions[0]
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
