"""`jaxseg prepare`: read every case once, preprocess it and write it to the prepared cache.

The cache lives in `data.cache_dir` (default WORKDIR/prepared), in a folder named after the dataset
and a fingerprint of the preprocessing settings, so caches made with other settings never mix.
Preparing is idempotent: complete cases made from unchanged source files are kept, the rest are
(re)written; an interrupted run leaves no case half-written, and running it again finishes the
job. A case that cannot be read, or whose label does not fit its image, is skipped with a logged
error naming it and counted in the summary, or stops the run with `prepare.on_error = "fail"`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import ml_collections
from tqdm.auto import tqdm

from jaxseg.config import ConfigError
from jaxseg.data.cache import PreparedCase, is_complete, remove_abandoned, write_case
from jaxseg.data.cases import read_case
from jaxseg.data.msd import Case, DatasetIndex
from jaxseg.data.preprocess import Preprocessing, preprocess_case
from jaxseg.io import ReadError
from jaxseg.io.atomic import write_text_atomic

log = logging.getLogger(__name__)

CACHE_VERSION = 1


@dataclasses.dataclass
class PrepareSummary:
    """What one `prepare` run did: cases written now, found complete, and skipped with their error."""

    folder: Path
    prepared: list[str]
    reused: list[str]
    failed: dict[str, str]
    seconds: float

    def to_json(self) -> dict:
        return {"folder": str(self.folder), "cases": len(self.prepared) + len(self.reused) + len(self.failed),
                "prepared": self.prepared, "reused": self.reused, "failed": self.failed,
                "seconds": round(self.seconds, 3)}


def cache_root(config: ml_collections.ConfigDict, workdir: str | os.PathLike | None) -> Path:
    """`data.cache_dir`, else WORKDIR/prepared; ConfigError when neither is given."""
    if config.data.cache_dir:
        return Path(config.data.cache_dir)
    if workdir is None:
        raise ConfigError("config key 'data.cache_dir' is empty and no work folder was given: set one of them")
    return Path(workdir) / "prepared"


def cache_folder(config: ml_collections.ConfigDict, workdir: str | os.PathLike | None, index: DatasetIndex,
                 settings: Preprocessing) -> Path:
    """CACHE_ROOT/<dataset folder name>-<fingerprint of the dataset path, the settings and, for 2D
    cases, how their files are read (colours, label values)>."""
    root = cache_root(config, workdir)
    fingerprint = {"version": CACHE_VERSION, "dataset": str(index.root.absolute()),
                   "settings": dataclasses.asdict(settings)}
    readings = {c.reading for c in index.cases if c.reading is not None}
    if readings:
        fingerprint["readings"] = sorted(repr(r) for r in readings)
    key = json.dumps(fingerprint, sort_keys=True)
    return root / f"{index.root.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def prepare_cases(cases: Sequence[Case], folder: Path, settings: Preprocessing, num_channels: int,
                  on_error: str = "skip", progress: bool = False, max_voxels: int | None = None) -> PrepareSummary:
    """Bring every case into `folder`; returns what was done and writes it to folder/summary.json.
    No source file may claim more than `max_voxels` values (`io.max_voxels`)."""
    start = time.perf_counter()
    cases_dir = folder / "cases"
    cases_dir.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "settings.json", {"version": CACHE_VERSION, **dataclasses.asdict(settings)})
    remove_abandoned(cases_dir)
    prepared, reused, failed = [], [], {}
    for case in tqdm(cases, desc="prepare", disable=not progress):
        if is_complete(cases_dir / case.case_id, case):
            reused.append(case.case_id)
            continue
        try:
            loaded = read_case(case, settings.num_classes, num_channels, max_voxels)
        except ReadError as err:
            if on_error == "fail":
                raise
            log.error("case %s skipped: %s", case.case_id, err)
            failed[case.case_id] = str(err)
            continue
        processed, pad_value = preprocess_case(loaded, settings)
        write_case(cases_dir, case, processed, pad_value, settings.num_classes, settings.locations_per_class)
        prepared.append(case.case_id)
    summary = PrepareSummary(folder, prepared, reused, failed, time.perf_counter() - start)
    _write_json(folder / "summary.json", summary.to_json())
    if failed:
        log.error("%d of %d cases could not be prepared (see %s)", len(failed), len(cases), folder / "summary.json")
    return summary


def open_prepared(cases: Sequence[Case], folder: Path) -> list[PreparedCase]:
    """The complete prepared cases among `cases`, in their order."""
    return [PreparedCase(folder / "cases" / c.case_id) for c in cases if is_complete(folder / "cases" / c.case_id, c)]


def _write_json(path: Path, content: dict) -> None:
    write_text_atomic(path, json.dumps(content, indent=1))
