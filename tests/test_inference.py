"""Inference drivers: sliding window (against MONAI), mirroring, planes, fusion, post-processing, propagation."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg.inference import (
    average_probabilities,
    fill_holes,
    keep_largest_component,
    mirror_averaged,
    predict_by_slices,
    propagate,
    simulated_correction_curve,
    sliding_window_predict,
)
from jaxseg.inference.propagation import correction_slices
from jaxseg.inference.sliding_window import importance_map, window_starts
from tests.reference.make_sliding_window_golden import CASES, window_fn

GOLDEN = Path(__file__).resolve().parent / "data" / "sliding_window_monai.npz"


@pytest.mark.parametrize("name, shape, roi, overlap, mode", CASES)
def test_sliding_window_equals_recorded_monai_output(name, shape, roi, overlap, mode):
    golden = np.load(GOLDEN)
    ours = sliding_window_predict(window_fn, golden[f"{name}/image"], roi, overlap, mode, batch_size=3)
    np.testing.assert_allclose(ours, golden[f"{name}/output"], atol=1e-5)


def test_sliding_window_equals_live_monai():
    torch = pytest.importorskip("torch", reason="the dev extra (torch, monai) is not installed")
    inferers = pytest.importorskip("monai.inferers", reason="the dev extra (torch, monai) is not installed")
    image = np.random.default_rng(1).normal(size=(19, 26, 11, 1)).astype(np.float32)

    def torch_fn(x):
        return torch.from_numpy(np.ascontiguousarray(np.moveaxis(window_fn(np.moveaxis(x.numpy(), 1, -1)), -1, 1)))

    reference = inferers.sliding_window_inference(torch.from_numpy(np.moveaxis(image, -1, 0)[None].copy()),
                                                  (8, 16, 8), 2, torch_fn, overlap=0.5, mode="gaussian")
    ours = sliding_window_predict(window_fn, image, (8, 16, 8), 0.5, "gaussian", batch_size=2)
    np.testing.assert_allclose(ours, np.moveaxis(reference.numpy()[0], 0, -1), atol=1e-5)


def test_sliding_window_hand_case():
    # 6 voxels, window 4, overlap 0.5: windows start at 0 and 2; Gaussian weights with sigma 0.5
    # at offsets -1.5, -0.5, 0.5, 1.5 from the window centre: exp(-4.5), exp(-0.5), ...
    assert window_starts((6,), (4,), 0.5) == [(0,), (2,)]
    edge, inner = np.exp(-4.5), np.exp(-0.5)
    np.testing.assert_allclose(importance_map((4,), "gaussian"), [edge, inner, inner, edge], rtol=1e-6)
    add_position = lambda w: w + np.arange(4, dtype=np.float32)[None, :, None]  # noqa: E731
    image = np.zeros((6, 1), np.float32)
    out = sliding_window_predict(add_position, image, (4,), overlap=0.5, batch_size=1)[:, 0]
    expected = [0, 1, 2 * inner / (inner + edge), (3 * edge + inner) / (edge + inner), 2, 3]
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_non_overlapping_tiling_is_the_model_on_each_tile():
    image = np.arange(10 * 8, dtype=np.float32).reshape(10, 8, 1)
    tile_max = lambda w: np.broadcast_to(w.max(axis=(1, 2), keepdims=True), w.shape)  # noqa: E731
    out = sliding_window_predict(tile_max, image, (5, 4), overlap=0.0, mode="constant", batch_size=2)[..., 0]
    assert window_starts((10, 8), (5, 4), 0.0) == [(0, 0), (0, 4), (5, 0), (5, 4)]
    np.testing.assert_array_equal(out[:5, :4], image[4, 3, 0])
    np.testing.assert_array_equal(out[5:, 4:], image[9, 7, 0])


def test_mirroring_averages_every_flip():
    weight = jnp.array([1.0, 0.0, 0.0])[None, :, None]
    averaged = mirror_averaged(lambda x: x * weight, axes=(0,))
    out = averaged(jnp.array([1.0, 2.0, 3.0])[None, :, None])
    np.testing.assert_allclose(np.asarray(out)[0, :, 0], [0.5, 0.0, 1.5])
    calls = []
    mirror_averaged(lambda x: calls.append(1) or x, axes=(0, 1, 2))(jnp.zeros((1, 2, 2, 2, 1)))
    assert len(calls) == 8


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_per_plane_reassembly_is_exact_for_an_identity_model(axis):
    volume = np.random.default_rng(0).normal(size=(9, 13, 6)).astype(np.float32)
    out = predict_by_slices(lambda images: images, volume, axis, batch_size=4, pad_multiple=8, pad_value=-1.0)
    np.testing.assert_array_equal(out[..., 0], volume)


def test_fusion_averages_probabilities():
    a, b = np.full((2, 2, 2), 0.2, np.float32), np.full((2, 2, 2), 0.8, np.float32)
    np.testing.assert_allclose(average_probabilities([a, b, b]), 0.6, rtol=1e-6)
    with pytest.raises(ValueError, match="different shapes"):
        average_probabilities([a, np.zeros((2, 2))])


def test_largest_component_and_hole_filling():
    labels = np.zeros((7, 7), np.uint8)
    labels[1:4, 1:4] = 1  # 9 voxels
    labels[5, 5] = 1  # a stray voxel
    labels[2, 2] = 0  # a hole
    labels[0, 6] = 2
    kept = keep_largest_component(labels, [1, 2])
    assert kept[5, 5] == 0 and kept[1, 1] == 1 and kept[0, 6] == 2
    filled = fill_holes(kept, [1])
    assert filled[2, 2] == 1 and filled.sum() == kept.sum() + 1


def _organ(slices=12, size=10):
    """A binary organ on slices 3..8 whose square grows then shrinks."""
    truth = np.zeros((slices, size, size), np.uint8)
    for s, half in zip(range(3, 9), (1, 2, 3, 3, 2, 1)):
        truth[s, 5 - half : 5 + half, 5 - half : 5 + half] = 1
    return truth


def copy_prior(x):
    return x[..., 1]


def test_propagation_with_a_prior_copying_model_carries_the_start_mask():
    truth = _organ()
    images = np.random.default_rng(0).normal(size=truth.shape).astype(np.float32)
    masks = propagate(copy_prior, images, 5, {5: truth[5]})
    for s in range(truth.shape[0]):
        np.testing.assert_array_equal(masks[s], truth[5])


def test_propagation_keeps_what_reaches_the_threshold():
    truth = _organ()
    images = np.zeros(truth.shape, np.float32)
    hesitant = lambda x: 0.6 * x[..., 1]  # noqa: E731  P(foreground) 0.6 under the prior, 0 elsewhere
    carried = propagate(hesitant, images, 5, {5: truth[5]}, threshold=0.6)
    assert [int(m.sum()) for m in carried] == [int(truth[5].sum())] * truth.shape[0]
    only_start = propagate(hesitant, images, 5, {5: truth[5]}, threshold=0.61)
    assert only_start.sum() == truth[5].sum() and only_start[5].sum() == truth[5].sum()


def test_stop_rule_and_corrections_overwrite_outwards():
    truth = _organ()
    images = np.zeros(truth.shape, np.float32)
    nothing = lambda x: jnp.zeros(x.shape[:2])  # noqa: E731
    masks = propagate(nothing, images, 5, {5: truth[5]}, stop_after_empty=1)
    assert masks[5].sum() == truth[5].sum() and masks.sum() == truth[5].sum()
    corrected = propagate(copy_prior, images, 5, {5: truth[5], 7: truth[7], 3: truth[3]})
    np.testing.assert_array_equal(corrected[6], truth[5])
    np.testing.assert_array_equal(corrected[8], truth[7])
    np.testing.assert_array_equal(corrected[11], truth[7])
    np.testing.assert_array_equal(corrected[4], truth[5])
    np.testing.assert_array_equal(corrected[0], truth[3])


def test_simulated_corrections_raise_dice_to_one():
    truth = _organ()
    assert correction_slices(truth, None) == (5, [5])
    assert correction_slices(truth, 0.5) == (5, [5, 8])  # step 3 within the extent 3..8
    assert correction_slices(truth, 0.2) == (5, [3, 4, 5, 6, 7, 8])
    images = np.zeros(truth.shape, np.float32)
    curve = simulated_correction_curve(copy_prior, images, truth, (None, 0.5, 0.01), stop_after_empty=0)
    assert [p.name for p in curve] == ["one-shot", "0.5", "0.01"]
    assert [p.corrected_slices for p in curve] == [0, 1, 5]
    # Every slice of the organ corrected: exact inside, and the copying model carries the end
    # slices (4 voxels each) over the 3 empty slices on each side: 2 * 112 / (112 + 112 + 24).
    assert curve[0].dice < curve[1].dice < curve[2].dice == pytest.approx(224 / 248)
    np.testing.assert_array_equal(curve[0].masks[0], truth[5])  # one-shot: the middle slice everywhere
