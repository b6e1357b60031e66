"""Samplers on prepared cases: shapes, foreground rates, propagated pairs, determinism, resumption,
host sharding and grain workers."""

import json
from pathlib import Path

import numpy as np
import pytest

from jaxseg.config import ConfigError
from jaxseg.data.blocks import BlockSampler, VolumeSampler
from jaxseg.data.datasets import prepare_dataset
from jaxseg.data.msd import read_msd_index
from jaxseg.data.pairs import PairSampler
from jaxseg.data.pipeline import build_sampler, training_data
from jaxseg.data.prepare import open_prepared
from jaxseg.data.schedule import batch_iterator
from jaxseg.data.slices import SliceSampler
from jaxseg.io import Volume, write_nifti
from tests.data_samples import config_for, msd_spleen, totalseg_ct


def _prepared(root, cache, num_classes, **overrides):
    config = config_for(root, cache, num_classes, **overrides)
    index = read_msd_index(root)
    return open_prepared(index.cases, prepare_dataset(config, None, index).folder)


@pytest.fixture(scope="module")
def phantoms(phantom_root, tmp_path_factory):
    """The 5 tiny phantoms (32 x 32 x 14..18 voxels, labels 0..4), prepared."""
    return _prepared(phantom_root, tmp_path_factory.mktemp("cache"), 5)


def _synthetic(root, labels: dict[str, np.ndarray], num_classes: int) -> Path:
    """A Decathlon-layout dataset whose images equal their label maps (1 mm voxels, RAS)."""
    for name, label in labels.items():
        write_nifti(Volume(label.astype(np.int16), np.eye(4)), root / "imagesTr" / f"{name}.nii.gz")
        write_nifti(Volume(label.astype(np.uint8), np.eye(4)), root / "labelsTr" / f"{name}.nii.gz")
    (root / "dataset.json").write_text(json.dumps({
        "modality": {"0": "MR"}, "labels": {str(i): f"c{i}" for i in range(num_classes)},
        "training": [{"image": f"./imagesTr/{n}.nii.gz", "label": f"./labelsTr/{n}.nii.gz"} for n in labels]}))
    return root


def test_slices_along_each_plane_are_padded_to_the_multiple(phantoms):
    depths = [c.shape[2] for c in phantoms]
    axial = SliceSampler(phantoms, "axial", 8)
    assert axial.sample_shapes == [(32, 32)] and len(axial.elements) == sum(depths)
    sample = axial.sample(axial.elements[0], np.random.default_rng(0))
    assert sample["image"].shape == (32, 32, 1) and sample["image"].dtype == np.float32
    assert sample["label"].shape == (32, 32) and sample["label"].dtype == np.int32
    sagittal = SliceSampler(phantoms, "sagittal", 8)
    assert sagittal.sample_shapes == [(32, -(-max(depths) // 8) * 8)]
    c, i = 0, 5
    sample = sagittal.sample(np.array([c, i]), np.random.default_rng(0))
    k = phantoms[c].shape[2]
    np.testing.assert_array_equal(sample["label"][:, :k], phantoms[c].label[i])
    assert (sample["label"][:, k:] == 0).all() and np.allclose(sample["image"][:, k:], phantoms[c].pad_value)


def test_bucketed_slices_keep_one_shape_per_batch(phantoms):
    sampler = SliceSampler(phantoms, "coronal", 4, shapes="bucket")
    shapes = {(32, -(-c.shape[2] // 4) * 4) for c in phantoms}
    assert set(sampler.sample_shapes) == shapes and len(shapes) > 1
    seen = set()
    batches = batch_iterator(sampler, 4, seed=0)
    for _ in range(30):
        batch = next(batches)
        seen.add(batch["image"].shape[1:3])
        assert batch["image"].shape[0] == 4
    assert seen == shapes


def test_skip_empty_slices(phantoms):
    sampler = SliceSampler(phantoms, "axial", 8, skip_empty=True)
    expected = sum(int((c.label.reshape(-1, c.shape[2]) > 0).any(axis=0).sum()) for c in phantoms)
    assert len(sampler.elements) == expected
    assert all(sampler.sample(e, np.random.default_rng(0))["label"].any() for e in sampler.elements)


def _block_rate(sampler, case_index, value, draws):
    rng = np.random.default_rng(123)
    hits = 0
    for _ in range(draws):
        label = sampler.sample(np.array([case_index, 0]), rng)["label"]
        hits += bool((label == value).any())
    return hits / draws


def test_foreground_oversampling_rate(tmp_path):
    label = np.zeros((40, 40, 40), np.uint8)
    label[30:32, 4:6, 20:22] = 1  # a 2-voxel cube; blocks of 8^3
    (case,) = _prepared(_synthetic(tmp_path / "d", {"cube": label}, 2), tmp_path / "cache", 2)
    sampler = BlockSampler([case], (8, 8, 8), 1, foreground_fraction=0.33)
    assert sampler.sample(np.array([0, 0]), np.random.default_rng(0))["image"].shape == (8, 8, 8, 1)
    # A uniform block (origin 0..32 per axis) holds the cube when it overlaps [30, 32) x [4, 6) x [20, 22).
    overlap = [len([o for o in range(33) if o < hi and o + 8 > lo]) / 33 for lo, hi in ((30, 32), (4, 6), (20, 22))]
    expected = 0.33 + 0.67 * np.prod(overlap)
    draws = 3000
    rate = _block_rate(sampler, 0, 1, draws)
    tolerance = 4 * np.sqrt(expected * (1 - expected) / draws)  # 4 binomial standard deviations
    assert abs(rate - expected) < tolerance, (rate, expected, tolerance)


def test_class_balanced_draws_rare_classes_as_often_as_common_ones(tmp_path):
    label = np.zeros((48, 16, 16), np.uint8)
    label[2:14, 2:14, 2:14] = 1  # 1728 voxels
    label[44:46, 7:9, 7:9] = 2  # 8 voxels, far from class 1
    (case,) = _prepared(_synthetic(tmp_path / "d", {"two": label}, 3), tmp_path / "cache", 3)
    by_volume = BlockSampler([case], (8, 8, 8), 1, foreground_fraction=1.0)
    balanced = BlockSampler([case], (8, 8, 8), 1, foreground_fraction=1.0, class_balanced=True)
    assert _block_rate(by_volume, 0, 2, 400) == pytest.approx(8 / 1736, abs=0.02)
    assert _block_rate(balanced, 0, 2, 400) == pytest.approx(0.5, abs=0.1)


def test_blocks_and_volumes_of_the_real_spleen(tmp_path):
    (case,) = _prepared(msd_spleen(tmp_path / "d"), tmp_path / "cache", 2)
    blocks = BlockSampler([case], (32, 32, 16), 50, foreground_fraction=1.0)
    assert len(blocks.elements) == 50  # seed 000: 50 blocks per scan per epoch
    for draw in range(5):
        sample = blocks.sample(blocks.elements[draw], np.random.default_rng(draw))
        assert sample["image"].shape == (32, 32, 16, 1) and sample["label"].any()
    volumes = VolumeSampler([case], 16)
    sample = volumes.sample(volumes.elements[0], np.random.default_rng(0))
    assert sample["image"].shape == (176, 176, 32, 1)
    np.testing.assert_array_equal(sample["label"][:164, :166, :26], case.label)
    assert (sample["label"][164:] == 0).all() and np.allclose(sample["image"][:, 166:], case.pad_value)


def test_block_larger_than_a_volume_is_a_config_error(tmp_path):
    root = msd_spleen(tmp_path / "d")
    config = config_for(root, tmp_path / "cache", **{"data.sampler": "blocks"})
    index = read_msd_index(root)
    with pytest.raises(ConfigError, match=r"'sampling.block_shape' = \(96, 96, 96\).*spleen_2_crop.*\(164, 166, 26\)"):
        training_data(config, None, index, index.cases, 8)
    config = config_for(root, tmp_path / "cache", **{"data.sampler": "blocks", "sampling.block_shape": (20, 20, 20)})
    with pytest.raises(ConfigError, match="'sampling.block_shape' = \\(20, 20, 20\\) must be multiples of 8"):
        training_data(config, None, index, index.cases, 8)


def test_propagated_pairs_of_the_real_spleen(tmp_path):
    (case,) = _prepared(msd_spleen(tmp_path / "d"), tmp_path / "cache", 2)
    sampler = PairSampler([case], "axial", 8, classes=[1], max_offset=2)
    holding = np.flatnonzero((case.label == 1).any(axis=(0, 1)))
    np.testing.assert_array_equal(sampler.elements[:, 2], holding)
    rng = np.random.default_rng(0)
    offsets = set()
    for element in sampler.elements:
        t = int(element[2])
        sample = sampler.sample(element, rng)
        assert sample["image"].shape == (168, 168, 2) and sample["label"].shape == (168, 168)
        np.testing.assert_array_equal(sample["label"][:164, :166], case.label[:, :, t] == 1)
        prior = sample["image"][:164, :166, 1]
        matches = [k for k in (-2, -1, 1, 2) if 0 <= t + k < 26 and np.array_equal(prior, case.label[:, :, t + k] == 1)]
        assert matches, f"prior of slice {t} is no neighbouring slice's label"
        offsets.update(matches)
    assert offsets == {-2, -1, 1, 2}


def test_pairs_need_known_classes(tmp_path):
    (case,) = _prepared(msd_spleen(tmp_path / "d"), tmp_path / "cache", 2)
    with pytest.raises(ValueError, match="label value 3 is not a class"):
        PairSampler([case], "axial", 8, classes=[3], max_offset=2)


def _take(iterator, n):
    return [next(iterator) for _ in range(n)]


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])


def _augmented(phantoms, **overrides):
    config = config_for("unused", "unused", 5, **{"augment.rotate_p": 0.5, "augment.flip_p": 0.5,
                                                 "augment.noise_p": 0.5, **overrides})
    return build_sampler(config, phantoms, 8)


def test_same_seed_same_batches_and_resume_from_state(phantoms):
    sampler = _augmented(phantoms)
    per_epoch = len(sampler.elements) // 4
    run = batch_iterator(sampler, 4, seed=5)
    _take(run, per_epoch - 1)
    state = run.get_state()
    after = _take(run, 4)  # crosses into the next epoch
    _assert_same(_take(batch_iterator(sampler, 4, seed=5), per_epoch + 3)[per_epoch - 1:], after)
    resumed = batch_iterator(sampler, 4, seed=5)
    resumed.set_state(state)
    _assert_same(_take(resumed, 4), after)
    other = _take(batch_iterator(sampler, 4, seed=6), 4)
    assert not all(np.array_equal(a["image"], b["image"]) for a, b in zip(after, other))


def test_each_epoch_visits_every_full_batch_of_samples_once(phantoms):
    sampler = SliceSampler(phantoms, "axial", 8)
    from jaxseg.data.schedule import GlobalBatches
    schedule = GlobalBatches(sampler.buckets, 4, seed=0)
    first, second = schedule.epoch(0), schedule.epoch(1)
    assert len(np.unique(first)) == first.size == len(sampler.elements) // 4 * 4
    assert not np.array_equal(first, second)


def test_hosts_share_one_global_batch(phantoms):
    sampler = _augmented(phantoms)
    whole = _take(batch_iterator(sampler, 4, seed=1), 3)
    parts = [_take(batch_iterator(sampler, 4, seed=1, shard_index=h, shard_count=2), 3) for h in range(2)]
    for step, batch in enumerate(whole):
        for key in batch:
            np.testing.assert_array_equal(np.concatenate([parts[0][step][key], parts[1][step][key]]), batch[key])


class _Failing(SliceSampler):
    """A sampler whose 6th element cannot be read (a damaged cache file)."""

    def sample(self, element, rng):
        if int(element[1]) == 5:
            raise OSError(f"damaged slice {int(element[1])} of case {int(element[0])}")
        return super().sample(element, rng)


def test_grain_workers_give_the_same_batches_and_report_errors(phantoms):
    sampler = _augmented(phantoms)
    serial = _take(batch_iterator(sampler, 4, seed=2), 4)
    workers = batch_iterator(sampler, 4, seed=2, workers=2)
    _assert_same(_take(workers, 4), serial)
    failing = batch_iterator(_Failing(phantoms, "axial", 8), 4, seed=2, workers=1)
    with pytest.raises(OSError, match="damaged slice 5"):
        _take(failing, 50)


def test_seed_004_pairs_on_the_real_multi_organ_ct(tmp_path):
    """Seed 004's training input: axial pairs of spleen, kidney, liver, pancreas; HU clipped to +-1024, /500."""
    root = totalseg_ct(tmp_path / "d")
    organs = (1, 3, 5, 7)  # spleen, left kidney, liver, pancreas
    config = config_for(root, tmp_path / "cache", 2, **{
        "task": "propagation", "data.sampler": "pairs", "model.in_channels": 2, "data.clip_hu": (-1024, 1024),
        "data.ct_divisor": 500,
        "sampling.pair_classes": organs, "augment.prior_rotate_deg": 1.0, "augment.prior_scale": 0.1,
        "augment.flip_p": 0.5, "augment.rotate_p": 1.0, "augment.scale_p": 1.0, "augment.scale_range": (0.8, 1.2),
        "data.batch_size": 4})
    index = read_msd_index(root)
    data = training_data(config, None, index, index.cases, 16)
    (case,) = data.cases
    present = {v: int((case.label == v).any(axis=(0, 1)).sum()) for v in organs}
    assert all(present.values()) and len(data.sampler.elements) == sum(present.values())
    assert data.sample_shape == (128, 112)
    batch = next(data.batches(4, seed=0))
    assert batch["image"].shape == (4, 128, 112, 2) and batch["label"].shape == (4, 128, 112)
    image, prior, target = batch["image"][..., 0], batch["image"][..., 1], batch["label"]
    assert image.min() >= -2.048 and image.max() <= 2.048
    assert set(np.unique(prior)) <= {0.0, 1.0} and set(np.unique(target)) <= {0, 1}
    overlap = [(p * t).sum() / max(p.sum(), t.sum()) for p, t in zip(prior, target) if t.any()]
    assert np.mean(overlap) > 0.5  # the prior is a nearby slice's mask of the same organ
