"""Device augmentation (augment.device): the same transforms and distribution as the CPU path."""

import json
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from jaxseg.bench import task_training, train_rate
from jaxseg.config import ConfigError, load_config
from jaxseg.core.mesh import global_batch, make_mesh
from jaxseg.data.augment import (
    AffineMap,
    SpatialAugmentation,
    _resample_label,
    _upsample,
    crop_padded,
    resample_at,
    rotation_matrix,
)
from jaxseg.data.datasets import open_dataset
from jaxseg.data.device_augment import (
    _DOMAIN,
    DeviceAugmentation,
    _flip_turn_matrix,
    block_margin,
    contrast,
    gamma,
    gaussian_blur,
    resample,
    sample_positions,
    smooth_field,
)
from jaxseg.data.intensity import IntensityAugmentation, _contrast, _gamma
from jaxseg.data.pipeline import training_data
from jaxseg.train.augment import compile_augmentation, with_augmentation
from jaxseg.train.loop import fit
from tests.conftest import tiny_overrides

OFF = IntensityAugmentation()


def _volume(shape, seed=0):
    """A smooth image (*shape, 2) and a 4-valued label map of blobs (*shape)."""
    rng = np.random.default_rng(seed)
    image = ndimage.gaussian_filter(rng.standard_normal((*shape, 2)), [3] * len(shape) + [0]).astype(np.float32)
    label = np.digitize(ndimage.gaussian_filter(rng.standard_normal(shape), 4), [-0.02, 0.0, 0.02]).astype(np.uint8)
    return image * 10, label


def _cpu_then_device(shape, out, angles, scale, flips, turn, k, onehot):
    """The CPU path's and the device path's samples for the same fixed transform."""
    image, label = _volume(shape)
    n = len(out)
    aug = SpatialAugmentation(rotate_p=1, rotate_deg=45, scale_p=1, scale_range=(0.9, 1.1), elastic_p=1,
                              elastic_alpha=1.5)
    origin = (np.asarray(shape) - out) // 2
    matrix = rotation_matrix(np.deg2rad(angles)) / scale
    half = (np.asarray(out) - 1) / 2
    mapping = AffineMap(matrix, origin + half - matrix @ half, out).dense()
    rng = np.random.default_rng(1)
    displacement = np.stack([ndimage.gaussian_filter(rng.standard_normal(out), 4) for _ in range(n)]) * 20
    mapping.coords += displacement
    fill = np.zeros(2, np.float32)
    cpu_image = resample_at(image, mapping, 1, fill)
    cpu_label = _resample_label(label, mapping, onehot)

    def flip_turn(array):  # as augment._flip_and_turn
        array = np.flip(array, flips) if flips else array
        return np.rot90(array, k, axes=turn) if turn else array

    cpu_image, cpu_label = flip_turn(cpu_image), flip_turn(cpu_label)
    margin = block_margin(out, aug)
    start, size = origin - margin, tuple(o + 2 * m for o, m in zip(out, margin))
    planes = [(a, b) for a in range(n) for b in range(a + 1, n) if out[a] == out[b]]
    q = _flip_turn_matrix(jnp.array([a in flips for a in range(n)]), jnp.array(bool(turn)),
                          jnp.int32(planes.index(turn) if turn else 0), jnp.int32(k), planes, n)
    moved = np.stack([flip_turn(d).copy() for d in displacement])
    positions = sample_positions(jnp.asarray(matrix, jnp.float32) @ q, jnp.asarray(moved), out, margin)
    dev_image, dev_label = resample(jnp.asarray(crop_padded(image, start, size, fill)),
                                    jnp.asarray(crop_padded(label, start, size, 0)), positions, 4 if onehot else 0)
    return cpu_image, cpu_label, np.asarray(dev_image), np.asarray(dev_label)


@pytest.mark.parametrize("shape, out, angles, scale, flips, turn, k, onehot", [
    ((80, 72), (32, 32), [33.0], 0.9, (0,), (0, 1), 1, False),
    ((80, 72), (32, 24), [-20.0], 1.1, (0, 1), None, 0, True),
    ((48, 48, 44), (16, 16, 12), [10.0, -30.0, 25.0], 0.95, (2,), (0, 1), 3, False),
    ((48, 48, 44), (16, 16, 16), [-40.0, 15.0, 5.0], 1.05, (), (1, 2), 2, True),
])
def test_fixed_transform_equals_the_scipy_path(shape, out, angles, scale, flips, turn, k, onehot):
    cpu_image, cpu_label, dev_image, dev_label = _cpu_then_device(shape, out, angles, scale, flips, turn, k, onehot)
    np.testing.assert_allclose(dev_image, cpu_image, rtol=1e-4, atol=1e-4 * np.abs(cpu_image).max())
    # Labels agree everywhere except, rarely, where float rounding tips a position across a boundary.
    assert np.mean(dev_label == cpu_label) >= 0.999
    interior = ndimage.minimum_filter(cpu_label, 3) == ndimage.maximum_filter(cpu_label, 3)
    np.testing.assert_array_equal(dev_label[interior], cpu_label[interior])


def test_margin_holds_the_largest_rotation_and_zoom():
    aug = SpatialAugmentation(rotate_p=1, rotate_deg=180, scale_p=1, scale_range=(0.8, 1.2))
    # Any rotation of a 32^2 patch (half-width 15.5) zoomed out by 1/0.8 reaches 15.5 sqrt(2) / 0.8 = 27.4
    # voxels from its centre: margin ceil(27.4 - 15.5 + 1) = 13, rounded to even (x2 a multiple of 4) or to 4.
    assert block_margin((32, 32), aug) == (13, 13)
    assert block_margin((32, 32), aug, multiple=4) == (14, 14)
    assert block_margin((32, 32), aug, multiple=8) == (16, 16)
    small = SpatialAugmentation(rotate_p=1, rotate_deg=10)
    # Row sums of the bound: 15.5 * (1 + sin 10 deg) = 18.19 -> ceil(18.19 - 15.5 + 1) = 4.
    assert block_margin((32, 32), small) == (4, 4)
    assert block_margin((32, 32, 32), SpatialAugmentation(flip_p=1, rot90_p=1)) == (0, 0, 0)
    rng = np.random.default_rng(0)
    bound = SpatialAugmentation(rotate_p=1, rotate_deg=30)
    margin = np.asarray(block_margin((40, 24, 16), bound))
    half = (np.array([40, 24, 16]) - 1) / 2
    corners = np.array(np.meshgrid(*[[-h, h] for h in half], indexing="ij")).reshape(3, -1)
    for _ in range(200):
        reach = np.abs(rotation_matrix(np.deg2rad(rng.uniform(-30, 30, 3))) @ corners).max(axis=1)
        assert np.all(reach + 1 <= half + margin)


def test_elastic_field_blur_and_intensity_equal_scipy():
    noise = np.random.default_rng(0).standard_normal((2, 7, 9)).astype(np.float32)
    cpu = [_upsample(ndimage.gaussian_filter(c, 1.0, mode="nearest"), (24, 40)) for c in noise]
    cpu = np.stack([2.0 * f / f.std() for f in cpu])
    np.testing.assert_allclose(np.asarray(smooth_field(jnp.asarray(noise), (24, 40), 2.0)), cpu, rtol=1e-4, atol=1e-4)
    image = np.random.default_rng(1).standard_normal((12, 10, 8, 2)).astype(np.float32)
    for sigma in (0.5, 0.62, 0.87, 1.0):  # scipy's kernel half-width steps from 2 to 3 to 4 taps
        expected = ndimage.gaussian_filter(image, [sigma] * 3 + [0], mode="nearest")
        np.testing.assert_allclose(np.asarray(gaussian_blur(jnp.asarray(image), jnp.float32(sigma), 4, (0, 1, 2))),
                                   expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(contrast(jnp.asarray(image), 1.2)), _contrast(image, 1.2), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(gamma(jnp.asarray(image), 0.8)), _gamma(image, 0.8), rtol=1e-4, atol=1e-5)


def _draws(aug: SpatialAugmentation, count: int, shape=(8, 8)):
    device = DeviceAugmentation(aug, OFF, (0, 0))
    keys = jax.random.split(jax.random.key(0), count)
    return np.asarray(jax.vmap(lambda k: device.spatial_draw(k, shape)[0])(keys))


def test_drawn_transforms_follow_the_configured_probabilities():
    count = 4000
    matrices = _draws(SpatialAugmentation(flip_p=0.3, rotate_p=0.5, rotate_deg=40), count)
    # M Q with Q = diag(+-1): det -1 exactly when one of the two axes is flipped.
    flipped = np.linalg.det(matrices) < 0
    # P(exactly one of two axes flipped) = 2 p (1 - p) = 0.42; binomial sd sqrt(0.42 * 0.58 / 4000) = 0.0078.
    assert abs(flipped.mean() - 0.42) < 4 * 0.0078
    angles = np.degrees(np.arctan2(np.abs(matrices[:, 1, 0]), np.abs(matrices[:, 0, 0])))
    rotated = angles > 1e-3
    # rotate_p 0.5: sd sqrt(0.25 / 4000) = 0.0079. |angle| of a rotated sample: uniform on [0, 40], mean 20,
    # sd 40 / sqrt(12) = 11.5, so the mean of ~2000 has sd 0.26 degrees.
    assert abs(rotated.mean() - 0.5) < 4 * 0.0079
    assert abs(angles[rotated].mean() - 20.0) < 4 * 11.5 / np.sqrt(rotated.sum())
    assert angles.max() <= 40.0 + 1e-3
    turns = _draws(SpatialAugmentation(rot90_p=0.6), count)
    # A turn of k = 1, 2, 3 quarters has trace 0, -2, 0; no turn: trace 2. P(turn) 0.6, sd 0.0077.
    trace = np.trace(turns, axis1=1, axis2=2)
    assert abs((trace < 1.5).mean() - 0.6) < 4 * 0.0077
    assert abs((trace < -1.5).mean() - 0.2) < 4 * np.sqrt(0.2 * 0.8 / count)


def test_batch_flips_per_sample_by_global_index_and_is_repeatable():
    aug = DeviceAugmentation(SpatialAugmentation(flip_p=0.5), OFF, (0, 0))
    ramp = jnp.broadcast_to(jnp.arange(6.0)[:, None, None], (6, 4, 1))
    count = 2000
    batch = {"image": jnp.broadcast_to(ramp, (count, 6, 4, 1)), "label": jnp.zeros((count, 6, 4), jnp.int32)}
    key, step = jax.random.key_data(jax.random.key(3)), jnp.int32(7)
    augment = jax.jit(aug)
    out = augment(key, step, batch)
    flipped = np.asarray(out["image"][:, 0, 0, 0] == 5.0)
    assert np.all(flipped | np.asarray(out["image"][:, 0, 0, 0] == 0.0))
    assert abs(flipped.mean() - 0.5) < 4 * np.sqrt(0.25 / count)  # sd 0.011
    again = augment(key, step, batch)
    np.testing.assert_array_equal(np.asarray(again["image"]), np.asarray(out["image"]))
    # Sample i depends only on the key, the step and i: not on the batch it travels in.
    root = jax.random.fold_in(jax.random.fold_in(jax.random.wrap_key_data(key), _DOMAIN), step)
    alone, _ = aug.sample(jax.random.fold_in(root, 123), ramp, jnp.zeros((6, 4), jnp.int32))
    np.testing.assert_array_equal(np.asarray(alone), np.asarray(out["image"][123]))
    later = augment(key, jnp.int32(8), batch)
    assert not np.array_equal(np.asarray(later["image"]), np.asarray(out["image"]))


@pytest.mark.parametrize("name", ["slice_propagation", "cxr_lung_boxes"])
def test_pairs_and_detection_refuse_device_augmentation(name):
    with pytest.raises(ConfigError, match="'augment.device' = True applies to the slices, blocks and volumes"):
        load_config(name, ["augment.device=True"])


AUGMENT = {"augment.flip_p": 0.5, "augment.rotate_p": 0.5, "augment.rotate_deg": 20.0, "augment.noise_p": 0.5,
           "augment.device": True, "optimizer.schedule": "constant"}


def test_workers_ship_margin_blocks_that_the_step_receives_augmented(phantom_root, tmp_path):
    config = load_config("demo", tiny_overrides(phantom_root, **AUGMENT))
    index, splits = open_dataset(config, tmp_path)
    data = training_data(config, tmp_path, index, splits["train"], 2)
    m = data.device_augmentation.margin
    assert m == block_margin((32, 32), SpatialAugmentation(rotate_p=0.5, rotate_deg=20.0)) == (7, 7)
    shipped = next(data.batches(4, seed=0))
    assert shipped["image"].shape == (4, 32 + 14, 32 + 14, 1) and shipped["label"].shape == (4, 46, 46)
    plain_config = load_config("demo", tiny_overrides(phantom_root))
    plain = next(training_data(plain_config, tmp_path, index, splits["train"], 2).batches(4, seed=0))
    # The same slices, padded by the same rule; the margin holds the neighbouring (or padding) voxels.
    np.testing.assert_array_equal(shipped["image"][:, 7:-7, 7:-7], plain["image"])
    np.testing.assert_array_equal(shipped["label"][:, 7:-7, 7:-7], plain["label"])
    mesh = make_mesh()
    state = types.SimpleNamespace(rng=jax.random.key_data(jax.random.key(0)), step=jnp.int32(0))
    seen = with_augmentation(lambda s, batch: batch, compile_augmentation(data.device_augmentation, mesh))(
        state, global_batch(shipped, mesh))
    assert seen["image"].shape == (4, 32, 32, 1) and seen["label"].dtype == jnp.int32
    assert not np.array_equal(np.asarray(seen["image"]), plain["image"])
    # `jaxseg bench data` times the train step on the shipped blocks with their augmentation.
    training = task_training(config, tmp_path)
    training.batches.close()
    assert train_rate(config, training, shipped, steps=1) > 0


@pytest.mark.slow  # four tiny fits, ~55 s on 2 cores
def test_device_augmented_run_resumes_bitwise_and_differs_from_no_augmentation(phantom_root, tmp_path):
    overrides = tiny_overrides(phantom_root, **AUGMENT)
    whole = fit(load_config("demo", overrides), tmp_path / "whole", progress=False)
    fit(load_config("demo", overrides + ["train.steps=4"]), tmp_path / "split", progress=False)
    resumed = fit(load_config("demo", overrides), tmp_path / "split", progress=False)
    for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(resumed.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    plain = fit(load_config("demo", tiny_overrides(phantom_root, **{"optimizer.schedule": "constant"})),
                tmp_path / "plain", progress=False)
    assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(plain.params)))
    lines = [json.loads(x) for x in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [2, 4, 6]

