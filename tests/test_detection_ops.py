"""Faster R-CNN building blocks: anchors, the box coder, NMS and RoIAlign (against torchvision and by hand)."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg.models.detection import (
    FasterRCNN,
    anchor_grid,
    base_anchors,
    batched_nms,
    box_iou,
    decode,
    encode,
    feature_size,
    nms,
    roi_align,
)

GOLDEN = Path(__file__).parent / "data" / "torchvision_ops.npz"
SCALES, RATIOS = (128, 256, 512), (0.5, 1.0, 2.0)


def test_600_pixel_image_gives_37x37_map_and_12321_anchors():
    assert feature_size(600, 16) == 37
    anchors = anchor_grid((37, 37), 16, SCALES, RATIOS)
    assert anchors.shape == (12321, 4) and anchors.dtype == np.float32
    # The seed also says a 50 x 60 map gives 18,000 anchors; 9 per position make it 27,000.
    assert anchor_grid((50, 60), 16, SCALES, RATIOS).shape == (27000, 4)


def test_base_anchors_have_the_scale_area_and_ratio():
    base = base_anchors(SCALES, RATIOS)
    w, h = base[:, 2] - base[:, 0], base[:, 3] - base[:, 1]
    np.testing.assert_allclose(w * h, np.tile(np.square(SCALES), 3), rtol=1e-9)
    np.testing.assert_allclose(h / w, np.repeat(RATIOS, 3), rtol=1e-9)
    np.testing.assert_allclose(base[:, :2] + base[:, 2:], 0.0, atol=1e-9)  # centred on (0, 0)


def test_anchor_order_is_row_column_anchor():
    anchors = anchor_grid((2, 3), 16, (32,), (1.0,))
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    np.testing.assert_allclose(centres, [[8, 8], [24, 8], [40, 8], [8, 24], [24, 24], [40, 24]])
    np.testing.assert_allclose(anchors[0], [-8, -8, 24, 24])


def test_vgg16_rpn_outputs_18_scores_and_36_deltas_per_position():
    model = FasterRCNN(num_classes=21, width=0.125, rpn_features=8, fc_features=8)
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 600, 600, 1)),
                                                  method=FasterRCNN.init_all))
    params = variables["params"]
    assert params["rpn"]["scores"]["kernel"].shape[-1] == 18
    assert params["rpn"]["deltas"]["kernel"].shape[-1] == 36
    assert params["classifier"]["kernel"].shape[-1] == 21 and params["regressor"]["kernel"].shape[-1] == 84
    features, logits, deltas = jax.eval_shape(lambda v: model.apply(v, jnp.zeros((2, 600, 600, 1))), variables)
    assert features.shape[:3] == (2, 37, 37) and logits.shape == (2, 12321, 2) and deltas.shape == (2, 12321, 4)


def test_coder_round_trip_and_hand_values():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 500, (50, 2))
    anchors = np.concatenate([xy, xy + rng.uniform(5, 300, (50, 2))], 1).astype(np.float32)
    xy = rng.uniform(0, 500, (50, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 300, (50, 2))], 1).astype(np.float32)
    for weights in [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)]:
        deltas = encode(jnp.asarray(boxes), jnp.asarray(anchors), weights)
        np.testing.assert_allclose(decode(deltas, jnp.asarray(anchors), weights), boxes, rtol=1e-5, atol=1e-3)
    anchor = jnp.array([[0.0, 0.0, 10.0, 20.0]])
    np.testing.assert_allclose(encode(anchor, anchor), [[0, 0, 0, 0]], atol=1e-7)
    moved = jnp.array([[5.0, -10.0, 15.0, 10.0]])  # shifted by half its width and height
    np.testing.assert_allclose(encode(moved, anchor, (10.0, 10.0, 5.0, 5.0)), [[5.0, -5.0, 0.0, 0.0]], atol=1e-6)
    doubled = jnp.array([[-5.0, -10.0, 15.0, 30.0]])
    np.testing.assert_allclose(encode(doubled, anchor), [[0, 0, np.log(2), np.log(2)]], atol=1e-6)


def test_nms_hand_cases():
    boxes = jnp.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]], jnp.float32)
    scores = jnp.array([0.9, 0.8, 0.7, -jnp.inf])  # the last one is padding
    # IoU(A, B) = 81 / 119 = 0.68
    assert float(box_iou(boxes[:1], boxes[1:2])[0, 0]) == pytest.approx(81 / 119)
    kept, valid = nms(boxes, scores, 0.5, 4)
    assert kept.tolist()[:2] == [0, 2] and valid.tolist() == [True, True, False, False]
    kept, valid = nms(boxes, scores, 0.7, 4)
    assert kept.tolist()[:3] == [0, 1, 2] and valid.tolist() == [True, True, True, False]
    kept, valid = nms(boxes, scores, 0.7, 2)
    assert kept.tolist() == [0, 1] and valid.tolist() == [True, True]
    # per class: B is class 2, so A does not suppress it
    kept, valid = batched_nms(boxes, scores, jnp.array([1, 2, 1, 1]), 0.5, 4)
    assert kept.tolist()[:3] == [0, 1, 2] and int(valid.sum()) == 3


def test_nms_vmaps_over_a_batch():
    boxes = jnp.array([[[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]]] * 2, jnp.float32)
    scores = jnp.array([[0.9, 0.8, 0.7], [0.5, 0.8, 0.7]])
    kept, valid = jax.jit(jax.vmap(lambda b, s: nms(b, s, 0.5, 3)))(boxes, scores)
    assert kept.tolist() == [[0, 2, 0], [1, 2, 0]] and valid.tolist() == [[True, True, False]] * 2


def _golden(prefix):
    data = np.load(GOLDEN)
    names = sorted({k.split("/")[1] for k in data.files if k.startswith(prefix + "/")})
    return [(name, {k.split("/")[2]: data[k] for k in data.files if k.startswith(f"{prefix}/{name}/")})
            for name in names]


@pytest.mark.parametrize("name,case", _golden("nms"))
def test_nms_equals_torchvision(name, case):
    kept, valid = nms(jnp.asarray(case["boxes"]), jnp.asarray(case["scores"]), float(case["threshold"]),
                      len(case["boxes"]))
    np.testing.assert_array_equal(np.asarray(kept)[np.asarray(valid)], case["kept"])


def _roi_align(case):
    out_h, out_w, scale, ratio, aligned = case["options"]
    return roi_align(jnp.asarray(case["features"]), jnp.asarray(case["boxes"]), (int(out_h), int(out_w)),
                     float(scale), int(ratio), bool(aligned))


@pytest.mark.parametrize("name,case", _golden("roi"))
def test_roi_align_equals_torchvision(name, case):
    np.testing.assert_allclose(_roi_align(case), case["output"], atol=1e-4)


@pytest.mark.parametrize("sampling_ratio", [2, 0])
def test_roi_align_of_a_linear_map_is_its_value_at_bin_centres(sampling_ratio):
    # Bilinear interpolation reproduces a linear function, so each bin's mean is its value at the bin centre.
    h, w = 20, 24
    y, x = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    features = np.stack([2.0 * y + 0.5 * x + 3.0, -y + 0.25 * x], -1)[None].astype(np.float32)
    box = np.array([[[8.0, 4.0, 40.0, 28.0]]], np.float32)  # image pixels, spatial scale 1/2
    out = roi_align(jnp.asarray(features), jnp.asarray(box), (4, 2), 0.5, sampling_ratio, aligned=True)
    yc = 2.0 - 0.5 + (np.arange(4) + 0.5) * 12.0 / 4
    xc = 4.0 - 0.5 + (np.arange(2) + 0.5) * 16.0 / 2
    yy, xx = np.meshgrid(yc, xc, indexing="ij")
    np.testing.assert_allclose(out[0, 0, ..., 0], 2 * yy + 0.5 * xx + 3, rtol=1e-5)
    np.testing.assert_allclose(out[0, 0, ..., 1], -yy + 0.25 * xx, rtol=1e-5, atol=1e-5)
    far = roi_align(jnp.asarray(features), jnp.array([[[200.0, 200.0, 260.0, 260.0]]]), 2, 0.5, sampling_ratio)
    np.testing.assert_array_equal(far, 0.0)  # samples beyond the map read nothing


def test_live_torchvision_nms_and_roi_align():
    torch = pytest.importorskip("torch", reason="torch is not installed (dev extra)")
    ops = pytest.importorskip("torchvision.ops", reason="torchvision is not installed (dev extra)")
    rng = np.random.default_rng(11)
    xy = rng.uniform(0, 60, (120, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(2, 30, (120, 2))], 1).astype(np.float32)
    scores = rng.permutation(120).astype(np.float32)
    kept, valid = nms(jnp.asarray(boxes), jnp.asarray(scores), 0.4, 120)
    expected = ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.4).numpy()
    np.testing.assert_array_equal(np.asarray(kept)[np.asarray(valid)], expected)
    features = rng.normal(size=(1, 12, 12, 3)).astype(np.float32)
    rois = torch.cat([torch.zeros(120, 1), torch.from_numpy(boxes)], 1)
    for ratio, aligned in [(2, True), (0, False)]:
        ref = ops.roi_align(torch.from_numpy(np.moveaxis(features, -1, 1).copy()), rois, 3, 1 / 8, ratio, aligned)
        got = roi_align(jnp.asarray(features), jnp.asarray(boxes[None]), 3, 1 / 8, ratio, aligned)
        np.testing.assert_allclose(got[0], np.moveaxis(ref.numpy(), 1, -1), atol=1e-4)
