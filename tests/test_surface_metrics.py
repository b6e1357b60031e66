"""Surface metrics: hand-computed distances, anisotropic spacing, empty masks, seed 003's pitfall."""

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import cdist

from jaxseg import metrics
from jaxseg.metrics.surfels import surfel_area_table


def _voxel(shape, *index):
    mask = np.zeros(shape, bool)
    mask[index] = True
    return mask


def test_single_voxels_with_isotropic_and_anisotropic_spacing():
    true, pred = _voxel((12, 12), 5, 5), _voxel((12, 12), 5, 8)
    assert metrics.hausdorff_distance(pred, true) == 3.0
    assert metrics.average_surface_distance(pred, true) == 3.0
    assert metrics.hausdorff_distance(pred, true, spacing=(1.0, 2.0)) == 6.0  # the offset is along axis 1
    assert metrics.hausdorff_distance(_voxel((12, 12), 8, 5), true, spacing=(1.0, 2.0)) == 3.0
    diagonal = _voxel((12, 12), 8, 9)
    assert metrics.hausdorff_distance(diagonal, true, spacing=(0.5, 2.0)) == pytest.approx(math.hypot(1.5, 8.0))


def test_an_outlier_sets_hd_but_not_hd95():
    true = np.zeros((10, 30), bool)
    true[2, :20] = True
    pred = true.copy()
    pred[9, 0] = True  # 7 voxels from the line
    assert metrics.hausdorff_distance(pred, true) == 7.0
    assert metrics.hausdorff_distance(pred, true, percentile=95) == 0.0  # 21 distances: twenty 0 and one 7
    assert metrics.average_surface_distance(pred, true) == pytest.approx(7 / 41)
    assert metrics.average_surface_distance(pred, true, symmetric=False) == pytest.approx(7 / 21)


def test_seed_003_pitfall_same_dice_different_distances():
    true = np.zeros((30, 30), bool)
    true[5:15, 5:15] = True
    shifted = np.roll(true, 1, axis=1)  # 90 voxels shared
    split = true.copy()
    split[5:15, 14] = False  # 90 voxels shared ...
    split[25:27, 20:25] = True  # ... and 10 voxels far away
    assert metrics.dice_score(shifted, true) == metrics.dice_score(split, true) == pytest.approx(0.9)
    assert metrics.hausdorff_distance(shifted, true) == 1.0
    # The farthest stray voxel (26, 24) is nearest to the reference corner (14, 14).
    assert metrics.hausdorff_distance(split, true) == pytest.approx(math.hypot(26 - 14, 24 - 14))
    assert metrics.average_surface_distance(split, true) > 3 * metrics.average_surface_distance(shifted, true)
    assert metrics.normalized_surface_dice(shifted, true, 1.0) == 1.0
    assert metrics.normalized_surface_dice(split, true, 1.0) < 0.9


def test_distances_equal_brute_force_on_surface_voxels():
    rng = np.random.default_rng(3)
    pred, true = (ndimage.gaussian_filter(rng.random((12, 14, 10)), 1.5) > 0.5 for _ in range(2))
    spacing = np.array([2.5, 0.7, 1.2])

    def surface(mask):  # voxels with a background face neighbour, outside counting as background
        return np.argwhere(mask & ~ndimage.binary_erosion(mask, border_value=0)) * spacing

    d = cdist(surface(pred), surface(true))
    forward, backward = d.min(axis=1), d.min(axis=0)
    assert metrics.hausdorff_distance(pred, true, spacing) == pytest.approx(max(forward.max(), backward.max()))
    assert metrics.hausdorff_distance(pred, true, spacing, percentile=95) == pytest.approx(
        max(np.percentile(forward, 95), np.percentile(backward, 95)))
    assert metrics.average_surface_distance(pred, true, spacing) == pytest.approx(
        np.concatenate([forward, backward]).mean())


@pytest.mark.parametrize("shape", [(6, 7), (4, 5, 6)])
def test_empty_masks_follow_the_convention(shape):
    empty, some = np.zeros(shape, bool), np.zeros(shape, bool)
    some[(1,) * len(shape)] = True
    assert metrics.hausdorff_distance(empty, empty) == 0.0
    assert metrics.average_surface_distance(empty, empty) == 0.0
    assert metrics.normalized_surface_dice(empty, empty, 1.0) == 1.0
    for pred, true in ((empty, some), (some, empty)):
        assert metrics.hausdorff_distance(pred, true, percentile=95) == math.inf
        assert metrics.average_surface_distance(pred, true) == math.inf
        assert metrics.normalized_surface_dice(pred, true, 1.0) == 0.0


def test_surface_dice_by_hand():
    true = np.zeros((20, 20), bool)
    true[5:15, 5:15] = True
    shifted = np.roll(true, 1, axis=1)  # every boundary point within 1 voxel of the other boundary
    assert metrics.normalized_surface_dice(true, true, 0.0) == 1.0
    assert metrics.normalized_surface_dice(shifted, true, 1.0) == 1.0
    assert metrics.normalized_surface_dice(shifted, true, 0.5) < 1.0
    # Along axis 1 the shift is 3 mm: beyond a 2 mm tolerance for the sides it moved.
    assert metrics.normalized_surface_dice(shifted, true, 2.0, spacing=(1.0, 3.0)) < 1.0
    far = np.roll(true, 10, axis=0)
    far[:5] = False
    assert metrics.normalized_surface_dice(far, true, 0.5) < metrics.normalized_surface_dice(shifted, true, 0.5)


def test_surfel_areas_by_hand():
    # An isolated voxel: 8 corner triangles of area sqrt(3)/8 each.
    assert 8 * surfel_area_table((1.0, 1.0, 1.0))[0b00000001] == pytest.approx(math.sqrt(3))
    # Four voxels with offset a = 0 (bits 7..4): a square across the cell, normal to axis 0.
    assert surfel_area_table((2.0, 3.0, 5.0))[0b11110000] == pytest.approx(3.0 * 5.0)
    lengths = surfel_area_table((2.0, 3.0))
    assert lengths[0b0011] == 3.0 and lengths[0b0101] == 2.0
    assert lengths[0b0001] == pytest.approx(0.5 * math.hypot(2.0, 3.0))
    assert lengths[0b0110] == pytest.approx(math.hypot(2.0, 3.0))


def test_scaling_the_spacing_scales_distances():
    rng = np.random.default_rng(4)
    pred, true = (ndimage.gaussian_filter(rng.random((10, 12, 9)), 1.5) > 0.5 for _ in range(2))
    spacing = np.array([1.0, 0.8, 2.0])
    assert metrics.hausdorff_distance(pred, true, 3 * spacing) == pytest.approx(
        3 * metrics.hausdorff_distance(pred, true, spacing))
    assert metrics.average_surface_distance(pred, true, 3 * spacing) == pytest.approx(
        3 * metrics.average_surface_distance(pred, true, spacing))
    assert metrics.normalized_surface_dice(pred, true, 3.0, 3 * spacing) == pytest.approx(
        metrics.normalized_surface_dice(pred, true, 1.0, spacing))


def test_bad_inputs_are_errors():
    mask = np.ones((3, 3), bool)
    with pytest.raises(ValueError, match="differs"):
        metrics.hausdorff_distance(mask, np.ones((3, 4), bool))
    with pytest.raises(ValueError, match="spacing"):
        metrics.average_surface_distance(mask, mask, spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match="percentile"):
        metrics.hausdorff_distance(mask, mask, percentile=101)
    with pytest.raises(ValueError, match="2D or 3D"):
        metrics.normalized_surface_dice(np.ones((2, 2, 2, 2), bool), np.ones((2, 2, 2, 2), bool), 1.0)
