"""`jaxseg evaluate` with bad cases and failing writes: every case is scored or listed as failed,
the exit status says which, and a failed write never leaves a damaged report."""

import csv
import errno
import io
import json
import shutil

import pytest

from jaxseg.config import load_config
from jaxseg.data.datasets import open_dataset
from jaxseg.train.loop import fit
from tests import badinputs
from tests.conftest import tiny_overrides


@pytest.fixture(scope="module")
def run(phantom_root, tmp_path_factory):
    """A tiny trained run on its own copy of the phantom set, with 2 test cases: (run folder, test cases)."""
    tmp = tmp_path_factory.mktemp("reports")
    root = shutil.copytree(phantom_root, tmp / "data")
    config = load_config("demo", tiny_overrides(root, **{"data.num_test": 2, "train.steps": 2, "train.val_every": 2}))
    fit(config, tmp / "run", progress=False)
    return tmp / "run", open_dataset(config, tmp / "run")[1]["test"]


@pytest.fixture
def damage(run):
    """Truncate a test case's image for one test, then put it back."""
    kept = {}

    def cut(case):
        kept[case.images[0]] = case.images[0].read_bytes()
        return badinputs.truncated(case.images[0])

    yield cut
    for path, data in kept.items():
        path.write_bytes(data)


def test_an_unreadable_case_is_listed_in_every_report_and_exits_1(run, damage, tmp_path, capsys):
    from jaxseg.cli import main

    workdir, cases = run
    bad = damage(cases[0])
    assert main(["evaluate", "--workdir", str(workdir), "--out", str(tmp_path)]) == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["n_cases"], summary["n_failed"]) == (1, 1)
    assert [c["case_id"] for c in summary["metric_per_case"]] == [cases[1].case_id]
    [failure] = summary["failed_cases"]
    assert failure["case_id"] == cases[0].case_id and failure["file"] == str(bad)
    assert failure["reason"].startswith("cannot read the voxel data")
    assert f"- {cases[0].case_id}: {bad}: cannot read the voxel data" in (tmp_path / "summary.md").read_text()
    assert "Means over 1 cases; 1 failed and are not in them:" in (tmp_path / "summary.md").read_text()
    rows = list(csv.reader(io.StringIO((tmp_path / "per_case.csv").read_text())))
    assert rows[-1][:2] == [cases[0].case_id, ""] and rows[-1][-1].startswith(f"{bad}: cannot read the voxel data")
    out, err = capsys.readouterr()
    assert f"- {cases[0].case_id}: {bad}" in out
    assert "1 of 2 cases could not be evaluated" in err and "Traceback" not in err


def test_an_all_unreadable_split_is_exit_2_before_anything_is_written(run, damage, tmp_path, capsys):
    from jaxseg.cli import main

    workdir, cases = run
    for case in cases:
        damage(case)
    assert main(["evaluate", "--workdir", str(workdir), "--out", str(tmp_path / "eval")]) == 2
    assert not (tmp_path / "eval").exists()
    err = capsys.readouterr().err
    assert err.startswith("jaxseg: error: none of the 2 'test' cases of ") and "cannot read the voxel data" in err


def test_a_full_disk_while_writing_the_report_keeps_the_previous_one(run, tmp_path, monkeypatch, capsys):
    from jaxseg.cli import main
    from jaxseg.io import atomic

    workdir, _ = run
    assert main(["evaluate", "--workdir", str(workdir), "--out", str(tmp_path)]) == 0
    before = {name: (tmp_path / name).read_bytes() for name in ("summary.json", "summary.md", "per_case.csv")}

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    assert main(["evaluate", "--workdir", str(workdir), "--out", str(tmp_path)]) == 2
    assert "jaxseg: error: [Errno 28] No space left on device" in capsys.readouterr().err
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


NOISE = ("Event loop is closed", "cannot schedule new futures", "handle is closed", "Exception ignored")


@pytest.mark.slow
def test_no_orbax_or_grain_shutdown_noise_after_an_error(phantom_root, tmp_path):
    """A run that fails while grain workers run (a diverging loss, data.workers = 2) ends with its own
    error only: the checkpoint manager (and a save in flight) and the workers are closed before the
    interpreter shuts down. (grain may still leave a resource-tracker note about shared memory it
    had prefetched; the tracker frees it.)"""
    import subprocess
    import sys

    from tests.test_train import REPO

    overrides = [f"--config.{o}" for o in tiny_overrides(phantom_root, **{
        "data.workers": 2, "optimizer.learning_rate": 1e30, "train.steps": 4, "train.log_every": 1,
        "train.checkpoint_every": 1})]
    result = subprocess.run([sys.executable, "-m", "jaxseg", "train", "--config", "configs/demo.py", "--workdir",
                             str(tmp_path / "run"), *overrides], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0 and "training diverged" in result.stderr
    assert not [line for line in result.stderr.splitlines() if any(n in line for n in NOISE)], result.stderr[-3000:]
