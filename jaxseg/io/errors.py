"""Errors raised for files that cannot be read as medical images.

Every error names the file (or folder) and the problem, so a bad case in a long run is found at
once. The subclasses let callers react to one kind of problem (for example pick a series by UID
after a `SeriesSelectionError`), and all of them are `ReadError`s.
"""

from __future__ import annotations

from collections.abc import Sequence


class ReadError(ValueError):
    """A file or folder that cannot be read; the message names the path and the problem."""

    def __init__(self, path: object, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class MissingTagError(ReadError):
    """A DICOM file lacks an attribute that its geometry or values depend on."""

    def __init__(self, path: object, keyword: str, why: str):
        self.keyword = keyword
        super().__init__(path, f"missing required DICOM attribute {keyword} ({why})")


class SeriesSelectionError(ReadError):
    """A folder holds several DICOM series (or not the one asked for).

    `series` lists what the folder holds: (SeriesInstanceUID, Modality, SeriesDescription, files).
    """

    def __init__(self, path: object, problem: str, series: Sequence[tuple[str, str, str, int]]):
        self.series = list(series)
        listing = "; ".join(f"{uid} ({modality}, '{description}', {count} files)"
                            for uid, modality, description, count in self.series)
        super().__init__(path, f"{problem}: {listing}")


class SliceSpacingError(ReadError):
    """Slices of a series are not evenly spaced along their normal.

    `gaps` lists each irregular step as (position before, position after, step) in mm along the
    slice normal, and `step_mm` is the regular step the others follow.
    """

    def __init__(self, path: object, problem: str, gaps: Sequence[tuple[float, float, float]], step_mm: float):
        self.gaps = list(gaps)
        self.step_mm = step_mm
        super().__init__(path, problem)


class GeometryMismatchError(ReadError):
    """An image and a label (or two images) that should share a voxel grid do not."""
