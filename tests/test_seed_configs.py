"""The seed recipes in configs/ load, and each trains at tiny scale (slow: one compile per config)."""

import json
from pathlib import Path

import numpy as np
import pytest

from jaxseg.config import CONFIGS_DIR, load_config
from jaxseg.core.mesh import local_mesh
from jaxseg.data.datasets import load_cases, open_dataset
from jaxseg.data.msd import read_msd_index
from jaxseg.evaluate import evaluate_runs
from jaxseg.inference.predictor import Predictor
from jaxseg.io import read_nifti
from jaxseg.train.checkpoint import Checkpoints
from jaxseg.train.loop import fit
from jaxseg.train.restore import restore
from tests.conftest import tiny_overrides

BRATS = Path(__file__).resolve().parents[2] / "shared" / "data" / "brats2015_deepmedic_subset"
GOLDEN_PIG_CT_SIGMOID_LOSSES = [0.7456099, 0.7988542]  # loss at steps 2 and 4 (recorded on a CPU)
BRATS_CASES = ("brats_2013_pat0001_1", "brats_2013_pat0002_1", "brats_2013_pat0003_1")


def test_every_config_loads():
    names = sorted(p.stem for p in CONFIGS_DIR.glob("*.py"))
    assert {"demo", "pig_ct_unet2d", "pig_ct_unet3d", "kayalibay_brats", "kayalibay_hand"} <= set(names)
    for name in names:
        assert load_config(name).name == name


def _brats_root(tmp_path: Path) -> Path:
    """A dataset.json over the shared BraTS cases, channel files listed per case (FLAIR, T1c)."""
    if not BRATS.is_dir():
        pytest.skip(f"{BRATS} is absent")
    tmp_path.mkdir(parents=True, exist_ok=True)
    for c in BRATS_CASES:  # dataset.json paths stay inside the dataset folder: link the cases in
        (tmp_path / c).symlink_to(BRATS / c, target_is_directory=True)
    entries = [{"image": [f"{c}/Flair_subtrMeanDivStd.nii.gz", f"{c}/T1c_subtrMeanDivStd.nii.gz"],
                "label": f"{c}/OTMultiClass.nii.gz"} for c in BRATS_CASES]
    manifest = {"labels": {"0": "background", "1": "necrosis", "2": "edema", "3": "non-enhancing", "4": "enhancing"},
                "modality": {"0": "FLAIR", "1": "T1c"}, "training": entries}
    (tmp_path / "dataset.json").write_text(json.dumps(manifest))
    return tmp_path


def test_brats_channel_lists_index_by_case_folder(tmp_path):
    index = read_msd_index(_brats_root(tmp_path))
    assert [c.case_id for c in index.cases] == list(BRATS_CASES)
    assert index.channels == ("FLAIR", "T1c") and index.num_classes == 5
    assert [p.name for p in index.cases[0].images] == ["Flair_subtrMeanDivStd.nii.gz", "T1c_subtrMeanDivStd.nii.gz"]


def _train_tiny(name: str, overrides: list[str], workdir: Path) -> None:
    """Train 2 steps and compare the losses and the validation Dice with the values recorded for `name`."""
    config = load_config(name, overrides)
    fit(config, workdir, progress=False)
    losses = [json.loads(line)["loss"] for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    store = Checkpoints(workdir / "checkpoints")
    metrics = store.metrics(store.latest_step())
    store.close()
    assert store.latest_step() == config.train.steps
    got = [*losses, metrics["val_dice"]]
    assert got == pytest.approx(GOLDEN_TINY[name], rel=1e-4), got


# [loss at step 1, loss at step 2, validation Dice] of each tiny run (recorded on a CPU).
GOLDEN_TINY = {"pig_ct_unet2d": [0.8962143, 0.8300817, 0.006234943],
               "pig_ct_unet3d": [1.2388151, 1.2190425, 0.003946782],
               "kayalibay_hand": [4.6158967, 4.6139917, 0.01601243],
               "kayalibay_brats": [4.7244391, 4.7431931, 2.498172e-05]}


TINY_TRAIN = {"train.steps": 2, "train.log_every": 1, "train.val_every": 2, "train.checkpoint_every": 2}
PHANTOM = {"data.source": "phantom", "data.folds": 0, "data.num_test": 1, "data.num_val": 1, "model.num_classes": 5,
           "loss.class_weights": (), "model.depth": None, "model.base_features": None, "inference.batch_size": 4}


@pytest.mark.slow
@pytest.mark.parametrize("name, extra", [
    ("pig_ct_unet2d", {"model.features": (4, 8), "data.plane": "coronal", "data.batch_size": 2}),
    ("pig_ct_unet3d", {"model.features": (4, 8), "sampling.block_shape": (16, 16, 16), "sampling.blocks_per_case": 2,
                       "inference.roi_size": (16, 16, 16)}),
    ("kayalibay_hand", {"model.depth": 3, "model.base_features": 8, "data.batch_size": 1}),
])
def test_phantom_stand_ins_train(name, extra, phantom_root, tmp_path):
    overrides = tiny_overrides(phantom_root, **{**PHANTOM, **TINY_TRAIN, **extra})
    _train_tiny(name, [o for o in overrides if not o.startswith("model.features") or "features" in extra], tmp_path)


@pytest.mark.slow
def test_kayalibay_brats_trains_on_brats(tmp_path):
    root = _brats_root(tmp_path / "data")
    overrides = [f"data.root={root}", "model.in_channels=2", "data.folds=0", "data.num_val=1",
                 "prepare.spacing_mm=(8.0,8.0,8.0)", "inference.roi_size=(24,24,16)",
                 *[f"{k}={v}" for k, v in TINY_TRAIN.items()]]
    _train_tiny("kayalibay_brats", overrides, tmp_path / "run")


def test_pig_ct_unet2d_trains_its_sigmoid_network_and_evaluation_thresholds(phantom_root, tmp_path):
    """Seed 000's recipe as configured: one sigmoid output per foreground class (4 for the phantoms'
    5 classes), BCE weighted 1/f, 1/(1-f) from the prepared voxels, RMSprop; evaluation thresholds."""
    extra = {"model.features": (4, 8), "data.batch_size": 2, "train.steps": 4, "train.log_every": 2,
             "train.val_every": 4, "train.checkpoint_every": 4}
    overrides = [o for o in tiny_overrides(phantom_root, **{**PHANTOM, **extra}) if not o.startswith("train.steps=6")]
    config = load_config("pig_ct_unet2d", overrides)
    fit(config, tmp_path / "run", progress=False)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert losses == pytest.approx(GOLDEN_PIG_CT_SIGMOID_LOSSES, rel=1e-4)

    restored_run = restore(tmp_path / "run")

    state = restored_run.state
    case = load_cases(open_dataset(config, tmp_path / "run")[1]["test"], config,
                      open_dataset(config, tmp_path / "run")[0])[0]
    probabilities = Predictor.create(config, state, local_mesh()).segment(case.image, case.pad_value)[1]
    assert probabilities.shape[-1] == 4
    for threshold in (0.5, 0.6):
        evaluate_runs([tmp_path / "run"], out=tmp_path / f"eval{threshold}", progress=False,
                      overrides=[f"inference.threshold={threshold}"])
        written = read_nifti(next((tmp_path / f"eval{threshold}" / "predictions").glob("*.nii.gz")))
        expected = np.zeros(probabilities.shape[:-1], np.uint8)
        for c in range(4):
            expected[probabilities[..., c] >= threshold] = c + 1
        np.testing.assert_array_equal(written.as_canonical().array, expected)
