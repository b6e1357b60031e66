"""A predicted label map (or class probabilities) as a DICOM SEG that references its source series.

The SEG is built by highdicom: one segment per foreground class (SegmentLabel = the class name),
one frame per source frame holding that segment, placed by the source frames' own geometry, and
the algorithm identified (jaxseg, its version, the checkpoint step). BINARY by default; with
class probabilities FRACTIONAL (PROBABILITY, 0..255 = 0..1).

What is copied from the source series, and nothing else (highdicom copies every attribute of
the Patient, Patient Study, General Study and clinical-trial modules it is given, so it is given
a header reduced to these):
- the references: SOP Class and Instance UIDs of every source image, Study and Series Instance
  UIDs, Frame of Reference UID, Modality;
- the Patient and General Study attributes the SEG IOD requires (type 1 and 2, empty when the
  source lacks them): PatientName, PatientID, PatientBirthDate, PatientSex, StudyDate, StudyTime,
  StudyID, AccessionNumber, ReferringPhysicianName (and SpecificCharacterSet to read them);
- the image geometry (Rows, Columns, positions, orientation, pixel spacing, slice thickness,
  an enhanced image's functional groups).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

import jaxseg
from jaxseg.io.atomic import atomic_path
from jaxseg.io.dicom_dataset import frame_count, functional_group, is_multiframe
from jaxseg.io.dicom_geometry import frame_plane
from jaxseg.io.dicom_seg import _frame_index
from jaxseg.io.dicom_series import _select
from jaxseg.io.errors import ReadError
from jaxseg.io.volume import Volume

REFERENCES = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID",
              "Modality", "SpecificCharacterSet")
# Type 2 attributes of the Patient and General Study modules: present in the SEG, empty if unknown.
PATIENT_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "StudyID",
                 "AccessionNumber", "ReferringPhysicianName")
GEOMETRY = ("Rows", "Columns", "NumberOfFrames", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
            "SliceThickness", "SpacingBetweenSlices", "SharedFunctionalGroupsSequence",
            "PerFrameFunctionalGroupsSequence")
SEGMENTATION_TYPES = ("BINARY", "FRACTIONAL")


def reduced_header(ds: Dataset, file: Path) -> Dataset:
    """The attributes of source image `file` the SEG may take (see the module docstring). A blank
    SOP Class or Instance UID is taken from the file meta (anonymisers blank the dataset's copy);
    a blank Study or Series Instance UID leaves nothing to reference: ReadError."""
    reduced = Dataset()
    for keyword in REFERENCES + GEOMETRY:
        if keyword in ds and ds[keyword].value not in (None, ""):  # blank: absent (highdicom rejects a blank charset)
            setattr(reduced, keyword, copy.deepcopy(ds[keyword].value))
    meta = getattr(ds, "file_meta", Dataset())
    reduced.SOPClassUID = ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID", "")
    reduced.SOPInstanceUID = ds.get("SOPInstanceUID") or meta.get("MediaStorageSOPInstanceUID", "")
    blank = [key for key in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
             if not reduced.get(key)]
    if blank:
        raise ReadError(file, f"blank {', '.join(blank)} (an anonymised copy?): a DICOM SEG cannot reference it")
    for keyword in PATIENT_STUDY:
        setattr(reduced, keyword, copy.deepcopy(ds.get(keyword, "")))
    return reduced


def segment_description(number: int, name: str, step: int | None) -> hd.seg.SegmentDescription:
    """Segment `number` named `name`. Its property type is the SNOMED CT concept of that name where
    pydicom's code dictionary has one ("liver" -> Liver, "vena_cava" -> VenaCava), else Tissue."""
    keyword = "".join(word.capitalize() for word in re.split(r"[\s_\-]+", name) if word)
    kind = getattr(codes.SCT, keyword, None) if keyword.isidentifier() else None
    parameters = {"checkpoint_step": str(step)} if step is not None else None
    return hd.seg.SegmentDescription(
        segment_number=number, segment_label=name[:64], segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=kind or codes.SCT.Tissue, algorithm_type="AUTOMATIC",
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="jaxseg", family=codes.cid7162.ArtificialIntelligence, version=jaxseg.__version__,
            parameters=parameters))


def _source_frames(series: Path) -> tuple[list[Dataset], list, Path]:
    """(reduced source headers, the plane of each source frame in highdicom's frame order, a file for errors)."""
    _, members = _select(series, None)
    multiframe = [(file, ds) for file, ds in members if is_multiframe(ds, file)]
    if multiframe:
        if len(members) > 1:
            raise ReadError(series, "a SEG references a series of single-frame files or one multi-frame file, "
                                    f"this one has {len(members)} files of which {len(multiframe)} multi-frame")
        file, ds = multiframe[0]
        planes = [frame_plane(ds, file, f"frame {i + 1}", functional_group(ds, i, "PlanePositionSequence"),
                              functional_group(ds, i, "PlaneOrientationSequence"),
                              functional_group(ds, i, "PixelMeasuresSequence"))
                  for i in range(frame_count(ds, file))]
        return [reduced_header(ds, file)], planes, file
    headers = [reduced_header(ds, file) for file, ds in members]
    return headers, [frame_plane(ds, file, file.name) for file, ds in members], members[0][0]


def _frames(values: np.ndarray, grid: Volume, planes: list, path: Path) -> np.ndarray:
    """(F, rows, columns, ...) values of `values` ((I, J, K, ...) on `grid`) at each source frame's pixels."""
    frames = []
    for plane in planes:
        index, axes = _frame_index(plane, grid, path)
        block = values[np.ix_(*index)] if values.ndim == 3 else values[np.ix_(*index, np.arange(values.shape[3]))]
        # grid axis order -> (row, column, normal[, class])
        frames.append(np.transpose(block, (*axes, *range(3, values.ndim)))[:, :, 0])
    return np.stack(frames)


def write_dicom_seg(labels: Volume, series: str | os.PathLike, path: str | os.PathLike,
                    class_names: Mapping[int, str], step: int | None = None,
                    probabilities: np.ndarray | None = None) -> Path:
    """Write a prediction of the DICOM series in folder `series` as a DICOM SEG at `path`, atomically.

    labels: (I, J, K) integer label map (0 = background, c = class c) on the series' grid in any
    axis order (e.g. the canonical grid predictions are made on); every source frame must lie on
    its voxels (else GeometryMismatchError). class_names: class -> name for classes 1..C-1 (segment
    c = class c; missing names become class_c). step: the checkpoint step, recorded as an
    algorithm parameter. probabilities: (I, J, K, C) class probabilities on the same grid: a
    FRACTIONAL SEG of classes 1..C-1 instead of a BINARY one of `labels`.
    """
    series, path = Path(series), Path(path)
    num_classes = max(max(class_names, default=0), int(labels.array.max(initial=0))) + 1
    if probabilities is not None:
        if probabilities.shape[:3] != labels.shape or probabilities.ndim != 4:
            raise ValueError(f"probabilities of shape {probabilities.shape} do not match labels {labels.shape}")
        num_classes = probabilities.shape[3]
    sources, planes, first = _source_frames(series)
    if probabilities is None:
        pixels = _frames(labels.array.astype(np.uint16 if num_classes > 256 else np.uint8), labels, planes, first)
    else:
        pixels = _frames(np.clip(probabilities[..., 1:], 0.0, 1.0).astype(np.float32), labels, planes, first)
    segments = [segment_description(c, class_names.get(c, f"class_{c}"), step) for c in range(1, num_classes)]
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels,
        segmentation_type="BINARY" if probabilities is None else "FRACTIONAL", segment_descriptions=segments,
        series_instance_uid=hd.UID(), series_number=900, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="jaxseg", manufacturer_model_name="jaxseg", software_versions=jaxseg.__version__,
        device_serial_number="none", series_description="jaxseg prediction",
        content_description=f"jaxseg {jaxseg.__version__}" + (f" checkpoint step {step}" if step is not None else ""))
    with atomic_path(path) as tmp:
        seg.save_as(tmp, enforce_file_format=True)
    return path
