"""Anchor and RoI sampling of Faster R-CNN's training targets: counts, fractions, IoU bands."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxseg.models.detection import anchor_grid, anchor_targets, box_iou, roi_targets


def _jitter(rng, box, count, spread):
    """`count` boxes around `box`, corners moved by up to `spread` pixels."""
    return (np.asarray(box, np.float32) + rng.uniform(-spread, spread, (count, 4))).astype(np.float32)


GT = np.array([[20, 20, 60, 80], [100, 100, 140, 130], [0, 0, 0, 0]], np.float32)  # the last is padding
GT_VALID = np.array([True, True, False])


def test_rpn_sampling_on_an_anchor_grid():
    anchors = jnp.asarray(anchor_grid((10, 10), 16, (32, 64), (0.5, 1.0, 2.0)))  # 600 anchors
    targets = jax.jit(anchor_targets)(anchors, jnp.asarray(GT), jnp.asarray(GT_VALID), jax.random.key(0))
    labels = np.asarray(targets.labels)
    iou = np.asarray(box_iou(anchors, jnp.asarray(GT[:2])))
    positive, negative = labels == 1, labels == 0
    assert (labels >= 0).sum() == 256 and 0 < positive.sum() <= 128
    # each box has a positive anchor: its best one (IoU < 0.7 is allowed for that one)
    assert all(positive[iou[:, g] == iou[:, g].max()].any() for g in range(2))
    closest = (iou == iou.max(0, keepdims=True)).any(1)  # ties included
    assert ((iou[positive].max(1) >= 0.7) | closest[positive]).all()
    assert (iou[negative].max(1) < 0.3).all()
    deltas = np.asarray(targets.deltas)
    assert np.isfinite(deltas).all() and (deltas[~positive] == 0).all() and (deltas[positive] != 0).any()


def test_rpn_positives_are_capped_at_half_and_drawn_at_random():
    rng = np.random.default_rng(0)
    near = _jitter(rng, GT[0], 500, 2.0)  # IoU > 0.8 with box 0
    far = _jitter(rng, [300, 300, 340, 360], 500, 2.0)
    anchors = jnp.asarray(np.concatenate([near, far]))
    sample = jax.jit(anchor_targets)
    picks = []
    for seed in range(20):
        labels = np.asarray(sample(anchors, jnp.asarray(GT), jnp.asarray(GT_VALID), jax.random.key(seed)).labels)
        assert (labels[:500] == 1).sum() == 128 and (labels[500:] == 0).sum() == 128 and (labels >= 0).sum() == 256
        picks.append(labels[:500] == 1)
    # each positive anchor is drawn with probability 128 / 500
    assert abs(np.mean(picks) - 128 / 500) < 1e-9
    frequency = np.mean(picks, axis=0)
    assert abs(frequency[:250].mean() - frequency[250:].mean()) < 0.03  # no preference by position (std 0.006)
    assert not np.array_equal(picks[0], picks[1])


def test_rpn_image_without_boxes_samples_only_negatives():
    anchors = jnp.asarray(anchor_grid((8, 8), 16, (32,), (1.0,)))
    targets = jax.jit(anchor_targets)(anchors, jnp.zeros((3, 4)), jnp.zeros(3, bool), jax.random.key(1))
    labels = np.asarray(targets.labels)
    assert (labels == 1).sum() == 0 and (labels == 0).sum() == 64  # all 64 anchors, fewer than 256


def test_roi_sampling_bands_counts_and_labels():
    rng = np.random.default_rng(1)
    fg = _jitter(rng, GT[1], 300, 3.0)  # IoU >= 0.5 with box 1
    mid = np.concatenate([_jitter(rng, [20, 50, 60, 110], 200, 1.0),  # IoU with box 0 in [0.1, 0.5)
                          _jitter(rng, [110, 100, 150, 130], 200, 1.0)])
    low = _jitter(rng, [300, 300, 340, 340], 300, 2.0)  # IoU 0
    proposals = np.concatenate([fg, mid, low])
    labels_in = jnp.array([1, 2, 0])
    targets = jax.jit(roi_targets)(jnp.asarray(proposals), jnp.ones(len(proposals), bool), jnp.asarray(GT),
                                   labels_in, jnp.asarray(GT_VALID), jax.random.key(0))
    rois, labels, valid = np.asarray(targets.rois), np.asarray(targets.labels), np.asarray(targets.valid)
    iou = np.asarray(box_iou(jnp.asarray(rois), jnp.asarray(GT[:2]))).max(1)
    assert rois.shape == (128, 4) and valid.all()
    assert (labels > 0).sum() == 32  # 25 % of 128
    assert set(labels[labels > 0]) == {2} and (iou[labels > 0] >= 0.5).all()
    background = labels == 0
    assert background.sum() == 96 and ((iou[background] >= 0.1) & (iou[background] < 0.5)).all()
    assert (np.asarray(targets.deltas)[background] == 0).all()


def test_roi_sampling_pads_when_few_rois_qualify():
    proposals = jnp.asarray(_jitter(np.random.default_rng(2), GT[0], 10, 2.0))
    targets = jax.jit(roi_targets)(proposals, jnp.ones(10, bool), jnp.asarray(GT), jnp.array([1, 2, 0]),
                          jnp.asarray(GT_VALID), jax.random.key(0))
    valid, labels = np.asarray(targets.valid), np.asarray(targets.labels)
    # The 10 proposals and box 0 are class-1 foreground, box 1 (appended to the proposals) class 2;
    # no RoI has an IoU in [0.1, 0.5): 12 sampled, the other 116 of the 128 rows are padding.
    assert valid.shape == (128,) and valid.sum() == 12 and valid[:12].all()
    assert (labels[valid] == 1).sum() == 11 and (labels[valid] == 2).sum() == 1 and (labels[~valid] == 0).all()
