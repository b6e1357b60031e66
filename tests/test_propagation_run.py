"""Slice-propagation runs (seed 004): the validator, configs/slice_propagation.py through fit,
`jaxseg evaluate` on a propagation run and `jaxseg propagate`."""

import csv
import json

import jax.numpy as jnp
import nibabel as nib
import numpy as np
import optax
import pytest
from PIL import Image

from jaxseg.cli import main
from jaxseg.config import ConfigError, load_config
from jaxseg.core.state import TrainState
from jaxseg.data.cases import LoadedCase
from jaxseg.io import GeometryMismatchError, ReadError, Volume, read_nifti, write_mask, write_nifti
from jaxseg.propagate import read_slice_mask
from jaxseg.tasks import get_task
from jaxseg.train.loop import fit
from jaxseg.train.optim import learning_rate_schedule
from tests.conftest import tiny_overrides


def _tiny(phantom_root, **extra):
    """configs/slice_propagation.py on the 5 tiny phantoms: 5 folds -> 3 train, 1 val, 1 test case."""
    values = {"data.num_test": 0, "model.name": "propagation_unet", "sampling.pair_classes": (1, 2, 3),
              "optimizer.boundaries": (2,), "train.steps": 3, "train.log_every": 1, "train.val_every": 3,
              "train.checkpoint_every": 3, **extra}
    return load_config("slice_propagation", tiny_overrides(phantom_root, **values))


def _hand_state(logits_of_prior):
    """A TrainState whose 'network' maps the prior channel to 2-class logits; it checks the padding."""
    def apply_fn(variables, x, train):
        assert x.shape[1] % 2 == 0 and x.shape[2] % 2 == 0  # padded to the U-Net's multiple (2 here)
        return logits_of_prior(x[..., 1])

    return TrainState.create(apply_fn=apply_fn, params={}, tx=optax.identity(), batch_stats={})


def _prism_case(case_id, slices):
    """A 7 x 9 x `slices` volume (odd in-plane sizes: padding needed) with prisms through every axial slice:
    label 1 (12 voxels per slice), label 2 (6 per slice) and label 3, which is not configured."""
    label = np.zeros((7, 9, slices), np.uint8)
    label[1:4, 2:6] = 1
    label[4:6, 5:8] = 2
    label[6, 0] = 3
    image = np.random.default_rng(0).normal(size=label.shape).astype(np.float32)
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    return LoadedCase(case_id, Volume(image, affine), Volume(label, affine), pad_value=(float(image.min()),))


def test_validator_propagates_each_organ_from_its_middle_slice(phantom_root):
    config = _tiny(phantom_root, **{"sampling.pair_classes": (1, 2)})
    cases = [_prism_case("a", 8), _prism_case("b", 5)]
    copy = _hand_state(lambda prior: jnp.stack([jnp.zeros_like(prior), 40 * (prior - 0.5)], axis=-1))
    assert get_task("propagation").validator(config, cases)(copy) == {"val_dice": 1.0}
    empty = _hand_state(lambda prior: jnp.stack([jnp.ones_like(prior), -jnp.ones_like(prior)], axis=-1))
    # Only the annotated slice is found: Dice 2A / (A + S A) = 2 / (S + 1), for 2 organs of case a, 2 of case b.
    assert get_task("propagation").validator(config, cases)(empty)["val_dice"] == pytest.approx(
        (2 / 9 + 2 / 9 + 2 / 6 + 2 / 6) / 4)
    only_spleen = _tiny(phantom_root, **{"propagation.classes": (2,)})
    assert get_task("propagation").validator(only_spleen, cases[1:])(empty)["val_dice"] == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="no validation case holds any organ"):
        get_task("propagation").validator(_tiny(phantom_root, **{"propagation.classes": (4,)}), cases)


def test_the_validator_thresholds_at_inference_threshold(phantom_root):
    """A model whose foreground probability is 0.7 under the prior copies it at thresholds up to 0.7 and
    finds nothing above: the validation Dice is 1, then that of the annotated slice alone (2 / (S + 1))."""
    logit = float(np.log(0.7 / 0.3))
    hesitant = _hand_state(lambda prior: jnp.stack([jnp.zeros_like(prior), logit * prior - 9 * (1 - prior)], axis=-1))
    cases = [_prism_case("a", 8)]
    for threshold, dice in ((0.5, 1.0), (0.69, 1.0), (0.71, 2 / 9)):
        config = _tiny(phantom_root, **{"sampling.pair_classes": (1, 2), "inference.threshold": threshold})
        assert get_task("propagation").validator(config, cases)(hesitant)["val_dice"] == pytest.approx(dice), threshold


def test_the_validator_stops_after_empty_slices(phantom_root):
    """A model that finds the liver wherever the slice is bright misses dark slice 6 of 8. Propagated
    from slice 3 it finds 7 of the 8 slices (Dice 14 / 15); propagation.stop_after_empty = 1 ends the
    upward direction there, leaving slice 7 empty too (Dice 2 * 6 / (6 + 8))."""
    case = _prism_case("a", 8)
    image = np.ones(case.image.shape, np.float32)
    image[..., 6] = -1.0
    case = LoadedCase("a", Volume(image, case.image.affine), case.label, pad_value=(-1.0,))
    liver = np.zeros((8, 10), np.float32)  # the slices padded to the U-Net's multiple of 2
    liver[1:4, 2:6] = 1.0

    def apply_fn(variables, x, train):
        found = liver * (x[..., 0] > 0)
        return jnp.stack([jnp.zeros_like(found), 40 * found - 20], axis=-1)

    state = TrainState.create(apply_fn=apply_fn, params={}, tx=optax.identity(), batch_stats={})
    for stop, dice in ((0, 14 / 15), (1, 12 / 14)):
        config = _tiny(phantom_root, **{"sampling.pair_classes": (1,), "propagation.stop_after_empty": stop})
        assert get_task("propagation").validator(config, [case])(state)["val_dice"] == pytest.approx(dice), stop


def test_the_config_is_seed_004s_recipe():
    config = load_config("slice_propagation")
    assert (config.data.sampler, config.model.in_channels, config.model.num_classes) == ("pairs", 2, 2)
    assert (config.data.folds, config.data.clip_hu, config.data.ct_divisor) == (5, (-1024.0, 1024.0), 500.0)
    assert (config.augment.prior_rotate_deg, config.augment.prior_scale) == (1.0, 0.1)
    schedule = learning_rate_schedule(config.optimizer, config.train.steps)
    epoch = 40  # steps per epoch of fold 0 (test_steps_per_epoch_of_the_default_phantoms)
    rates = [float(schedule(e * epoch)) for e in (0, 9, 10, 19, 20, 24, 25, 29)]
    np.testing.assert_allclose(rates, [1e-4, 1e-4, 1e-5, 1e-5, 1e-6, 1e-6, 1e-7, 1e-7], rtol=1e-6)
    assert config.train.steps == 30 * epoch


@pytest.mark.parametrize("override", ["prepare.spacing_mm=(2.0,2.0,2.0)", "prepare.slice_size=(32,32)",
                                      "prepare.crop=body"])
def test_a_propagation_config_that_changes_the_training_grid_is_refused(override):
    # Propagation predicts on the files' own grid: a resampled training grid would meet another scale.
    with pytest.raises(ConfigError, match="own grid"):
        get_task("propagation").check_config(load_config("slice_propagation", [override]))


@pytest.mark.slow
def test_steps_per_epoch_of_the_default_phantoms(tmp_path):
    from jaxseg.data.datasets import open_dataset
    from jaxseg.data.pipeline import training_data

    config = load_config("slice_propagation")
    index, splits = open_dataset(config, tmp_path)
    data = training_data(config, tmp_path, index, splits["train"], 16)
    assert len(data.sampler.elements) == 653 and len(data.sampler.elements) // config.data.batch_size == 40


@pytest.fixture(scope="module")
def run(phantom_root, tmp_path_factory):
    """A 3-step propagation run, validated at its last step."""
    workdir = tmp_path_factory.mktemp("propagation") / "run"
    fit(_tiny(phantom_root), workdir, progress=False)
    return workdir


def test_fit_logs_the_propagation_validation(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert "val_dice" in records[2] and 0.0 <= records[2]["val_dice"] <= 1.0
    assert (run / "checkpoints" / "3").is_dir()


def test_evaluate_writes_curves_and_one_shot_predictions(run, phantom_root, tmp_path):
    out = tmp_path / "eval"
    assert main(["evaluate", "--workdir", str(run), "--out", str(out),
                 "--config.propagation.correction_fractions=(0.5,0.25)"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    section = summary["propagation"]
    organs = ["liver", "spleen", "kidney"]
    assert set(summary["mean"]) == set(organs)
    (case,) = summary["metric_per_case"]
    assert [c["organ"] for c in section["per_case"]] == organs
    for curve in section["per_case"]:
        assert [p["corrections"] for p in curve["curve"]] == ["one-shot", "0.5", "0.25"]
        counts = [p["corrected_slices"] for p in curve["curve"]]
        assert counts[0] == 0 and 1 <= counts[1] <= counts[2]
    # The prediction file holds the one-shot masks, the last organ on top where masks overlap: its
    # Dice there is the curve's first point.
    assert case["metrics"]["kidney"]["Dice"] == pytest.approx(section["per_case"][-1]["curve"][0]["Dice"])
    mean = section["mean_curve"]
    for i, point in enumerate(mean):
        assert point["Dice"] == pytest.approx(np.mean([c["curve"][i]["Dice"] for c in section["per_case"]]))
    rows = list(csv.DictReader((out / "propagation.csv").open()))
    assert len(rows) == 3 * 3 and rows[0]["corrections"] == "one-shot" and rows[0]["fraction"] == ""
    assert Image.open(out / "propagation.png").size[0] > 0
    prediction = nib.load(case["prediction_file"])
    reference = nib.load(case["reference_file"])
    np.testing.assert_allclose(prediction.affine, reference.affine)
    assert prediction.shape == reference.shape
    assert set(np.unique(np.asarray(prediction.dataobj))) <= {0, 1, 2, 3}


def _middle_liver_slice(label: Volume) -> int:
    liver = np.flatnonzero((label.as_canonical().array == 1).any(axis=(0, 1)))
    return int(liver[len(liver) // 2])


def test_slice_masks_from_label_files_and_pngs_use_one_slice_numbering(phantom_root, tmp_path):
    label = read_nifti(phantom_root / "labelsTr" / "phantom_000.nii.gz")
    count = label.shape[2]
    # The same voxels stored with the slice axis reversed as well: file slice k is slice count - 1 - k.
    reverse = np.eye(4)
    reverse[2, 2:] = (-1, count - 1)
    stored = Volume(np.ascontiguousarray(label.array[..., ::-1]), label.affine @ reverse, str(tmp_path / "l.nii.gz"))
    write_nifti(stored, stored.source)
    image = Volume(stored.array.astype(np.float32), stored.affine, "input").as_canonical()
    canonical = label.as_canonical().array
    n = _middle_liver_slice(label)
    expected = canonical[..., n] == 1
    np.testing.assert_array_equal(read_slice_mask(stored.source, stored, image, "axial", n, 1), expected)
    any_label = read_slice_mask(stored.source, stored, image, "axial", n, None)
    np.testing.assert_array_equal(any_label, canonical[..., n] > 0)
    # A PNG of the slice as displayed (anterior up, the patient's right on the left) maps back onto it.
    write_mask((label.plane_slice("axial", n) == 1).astype(np.uint8), tmp_path / "slice.png")
    np.testing.assert_array_equal(read_slice_mask(tmp_path / "slice.png", stored, image, "axial", n, 1), expected)
    write_mask(np.ones((5, 5), np.uint8), tmp_path / "small.png")
    with pytest.raises(ReadError, match=r"small.png.*5 x 5 pixels.*32 x 32"):
        read_slice_mask(tmp_path / "small.png", stored, image, "axial", n, 1)
    with pytest.raises(ReadError, match="axial slice 0 holds no label 1"):
        read_slice_mask(stored.source, stored, image, "axial", 0, 1)
    other = read_nifti(phantom_root / "labelsTr" / "phantom_001.nii.gz")
    with pytest.raises(GeometryMismatchError):
        read_slice_mask(phantom_root / "labelsTr" / "phantom_001.nii.gz", other, image, "axial", n, 1)


def test_propagate_command_with_a_correction(run, phantom_root, tmp_path):
    image_path = phantom_root / "imagesTr" / "phantom_000.nii.gz"
    label_path = phantom_root / "labelsTr" / "phantom_000.nii.gz"
    label = read_nifti(label_path)
    canonical = label.as_canonical().array
    start = _middle_liver_slice(label)
    corrections = tmp_path / "corrections"
    corrections.mkdir()
    fixed = start + 2
    write_mask((label.plane_slice("axial", fixed) == 1).astype(np.uint8), corrections / f"{fixed}.png")
    assert main(["propagate", "--checkpoint", str(run), str(image_path), "--start-slice", str(start), "--label", "1",
                 "--start-mask", str(label_path), "--corrections", str(corrections), str(tmp_path / "out.nii.gz")]) == 0
    out = read_nifti(tmp_path / "out.nii.gz")
    source = nib.load(image_path)
    np.testing.assert_allclose(out.affine, source.affine)
    assert out.shape == source.shape and set(np.unique(out.array)) <= {0, 1}
    result = out.as_canonical().array
    np.testing.assert_array_equal(result[..., start], canonical[..., start] == 1)  # kept as given
    np.testing.assert_array_equal(result[..., fixed], canonical[..., fixed] == 1)
