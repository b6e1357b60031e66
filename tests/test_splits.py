"""Splits pinned by name (`data.test_cases`, `data.val_cases`) and `jaxseg split`."""

import json
from pathlib import Path

import pytest

from jaxseg.cli import main
from jaxseg.config import ConfigError, load_config
from jaxseg.data.datasets import open_dataset
from jaxseg.data.msd import Case, split_cases
from jaxseg.data.splits import config_split
from tests.conftest import tiny_overrides
from tests.data_samples import SHARED, need

REPO = Path(__file__).resolve().parents[1]


def _cases(subjects):
    return tuple(Case(f"case{i:02d}", (Path(f"images/img{i:02d}.nii.gz"),), Path(f"l{i}"), s)
                 for i, s in enumerate(subjects))


CASES = _cases([f"s{i // 2}" for i in range(12)])  # 6 subjects, 2 scans each


def _ids(group):
    return [c.case_id for c in group]


def _config(**values):
    return load_config("demo", [f"{k}={v!r}" if not isinstance(v, int) else f"{k}={v}" for k, v in values.items()])


def test_pinned_test_cases_take_their_subjects_and_the_seed_draws_the_rest():
    config = _config(**{"data.test_cases": ("case03", "img10.nii.gz"), "data.num_val": 2, "data.num_test": 3})
    split = config_split(config, CASES)
    assert _ids(split["test"]) == ["case02", "case03", "case10", "case11"]  # subjects s1 and s5, whole
    rest = tuple(c for c in CASES if c.subject not in ("s1", "s5"))
    expected = split_cases(rest, 2, 0, seed=0)  # data.num_test is replaced by the pinned list
    assert split["val"] == expected["val"] and split["train"] == expected["train"] and len(split["val"]) == 4


def test_pinned_val_and_test_cases_from_a_text_file(tmp_path):
    listing = tmp_path / "test.txt"
    listing.write_text("# held out\nimg00\n\ncase04  # by id\n")
    split = config_split(_config(**{"data.test_cases": str(listing), "data.val_cases": ("case06",)}), CASES)
    assert _ids(split["test"]) == ["case00", "case01", "case04", "case05"]
    assert _ids(split["val"]) == ["case06", "case07"]
    assert _ids(split["train"]) == ["case02", "case03", "case08", "case09", "case10", "case11"]


def test_pinned_names_are_checked():
    with pytest.raises(ConfigError, match=r"^config key 'data.test_cases' names 2 case\(s\) the dataset does not have: "
                                          r"nope, img99 \(its cases: case00, case01, .*, case07, \.\.\.\)$"):
        config_split(_config(**{"data.test_cases": ("case01", "nope", "img99")}), CASES)
    with pytest.raises(ConfigError, match="subjects s0 are named by both 'data.test_cases' and 'data.val_cases'"):
        config_split(_config(**{"data.test_cases": ("case00",), "data.val_cases": ("case01",)}), CASES)
    with pytest.raises(ConfigError, match="'data.test_cases' pins the test split: it cannot be combined with "
                                          "'data.folds' = 3"):
        config_split(_config(**{"data.test_cases": ("case00",), "data.folds": 3, "data.num_test": 0}), CASES)
    with pytest.raises(ConfigError, match=r"'data.test_cases' = 'absent.txt': no such file"):
        config_split(_config(**{"data.test_cases": "absent.txt"}), CASES)
    with pytest.raises(ConfigError, match="do not fit the 0 cases left to split"):
        config_split(_config(**{"data.test_cases": tuple(_ids(CASES))}), CASES)


def test_split_command_lists_the_split_that_training_uses(phantom_root, capsys):
    overrides = [f"--config.{o}" for o in tiny_overrides(phantom_root, **{"data.test_cases": ("phantom_003",)})]
    assert main(["split", "--config", "demo", *overrides, "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    index, splits = open_dataset(load_config("demo", tiny_overrides(phantom_root, **{
        "data.test_cases": ("phantom_003",)})), ".")
    assert listing == {"dataset": str(phantom_root), "train": ["phantom_000", "phantom_001", "phantom_004"],
                       "val": ["phantom_002"], "test": ["phantom_003"]}
    assert {name: _ids(group) for name, group in splits.items()} == {k: listing[k] for k in ("train", "val", "test")}
    assert main(["split", "--config", "demo", *overrides]) == 0
    assert capsys.readouterr().out == (f"dataset {phantom_root}\ntrain (3): phantom_000 phantom_001 phantom_004\n"
                                       "val   (1): phantom_002\ntest  (1): phantom_003\n")


@pytest.mark.parametrize("name, dataset", [("cxr_lungs_unet", "cxr_lung_covid_hannover"),
                                           ("isbi_membranes_unet", "isbi2012_em_membrane"),
                                           ("nuclei_unet", "dsb2018_nuclei")])
def test_committed_split_files_pin_the_shipped_configs_seeded_split(name, dataset):
    root = need(SHARED / dataset)
    files = {s: str(REPO / "configs" / "splits" / f"{dataset}_{s}.txt") for s in ("val", "test")}
    _, seeded = open_dataset(load_config(name, [f"data.root={root}"]), ".")
    _, pinned = open_dataset(load_config(name, [f"data.root={root}", f"data.val_cases={files['val']}",
                                                f"data.test_cases={files['test']}"]), ".")
    assert {k: _ids(v) for k, v in pinned.items()} == {k: _ids(v) for k, v in seeded.items()}
    assert len(seeded["test"]) == load_config(name).data.num_test
