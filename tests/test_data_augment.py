"""Augmentation: image, label and prior stay aligned; exact flips and turns; intensity ranges; seeding."""

import numpy as np
import pytest
from scipy import ndimage

from jaxseg.data.augment import SpatialAugmentation, rotation_matrix, turn_about_centre, warp
from jaxseg.data.intensity import IntensityAugmentation
from jaxseg.data.pairs import PairSampler
from tests.test_data_samplers import _prepared, _synthetic

EVERYTHING = SpatialAugmentation(flip_p=0.5, rot90_p=0.5, rotate_p=1.0, rotate_deg=180, scale_p=1.0,
                                 scale_range=(0.7, 1.4), elastic_p=1.0, elastic_sigma=8.0, elastic_alpha=2.0)
AFFINE = SpatialAugmentation(flip_p=0.5, rot90_p=0.5, rotate_p=1.0, rotate_deg=180, scale_p=1.0, scale_range=(0.7, 1.4))


def _blobs(shape, seed=0):
    """A label map of three separate balls (values 1..3, a gap of >= 4 voxels between them) on 0.

    No part is thinner than the interpolation stencil, so nearest neighbour and linear
    interpolation agree wherever the label is uniform around a voxel.
    """
    centres = np.array([[0.25, 0.25, 0.5], [0.25, 0.75, 0.5], [0.72, 0.5, 0.5]])[:, : len(shape)]
    centres = centres + np.random.default_rng(seed).uniform(-0.02, 0.02, centres.shape)
    grid = np.indices(shape, dtype=float)
    label = np.zeros(shape, np.uint8)
    for value, centre in enumerate(centres * np.array(shape), start=1):
        distance = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre)))
        label[distance <= min(shape) / 5] = value
    return label


def _misaligned(image, label):
    """Share of voxels away from label edges where the image (a copy of the label map, linearly
    interpolated) differs from the label (nearest neighbour).

    Away from edges: no other label within 2 output voxels (nor the array's border). Under rotation
    and scaling (up to 1.43 source voxels per output voxel) that covers the interpolation stencil,
    so the share must be 0; elastic deformation stretches some places further.
    """
    edges = ndimage.maximum_filter(label, 5, mode="constant", cval=255) != ndimage.minimum_filter(label, 5)
    assert (~edges).mean() > 0.2  # enough voxels left to catch a shift
    return float(np.mean(np.abs(image[~edges] - label[~edges]) > 1e-4))


@pytest.mark.parametrize("shape", [(48, 40), (28, 28, 24)])
def test_one_transform_moves_image_and_label_together(shape):
    label = _blobs(shape)
    image = label.astype(np.float32)[..., None]
    for seed in range(6):
        for aug, tolerance in ((AFFINE, 0.0), (EVERYTHING, 0.01)):
            out_image, (out_label,) = warp(image, [label], np.zeros(len(shape), int), shape, aug,
                                           np.random.default_rng(seed), np.zeros(1, np.float32))
            assert out_image.shape == (*shape, 1) and out_label.shape == shape
            assert not np.array_equal(out_label, label)
            assert _misaligned(out_image[..., 0], out_label) <= tolerance


def test_onehot_label_interpolation_is_aligned_too():
    label = _blobs((40, 40), seed=3)
    onehot = SpatialAugmentation(rotate_p=1.0, scale_p=1.0, label_interpolation="onehot")
    image, (out,) = warp(label.astype(np.float32)[..., None], [label], np.zeros(2, int), (40, 40), onehot,
                         np.random.default_rng(0), np.zeros(1, np.float32))
    assert _misaligned(image[..., 0], out) == 0
    assert set(np.unique(out)) <= set(np.unique(label))


def test_crop_without_augmentation_is_exact_and_pads_outside():
    source = np.arange(6 * 7 * 5, dtype=np.float32).reshape(6, 7, 5, 1)
    out, (lab,) = warp(source, [source[..., 0].astype(np.int32)], np.array([2, -1, 3]), (4, 4, 4),
                       SpatialAugmentation(), np.random.default_rng(0), np.array([-9.0], np.float32))
    np.testing.assert_array_equal(out[:, 1:, :2], source[2:6, 0:3, 3:5])
    assert (out[:, 0] == -9).all() and (out[:, :, 2:] == -9).all() and (lab[:, 0] == 0).all()


def test_flips_and_turns_are_exact():
    label = _blobs((16, 16, 8))
    image = label.astype(np.float32)[..., None]
    flip = SpatialAugmentation(flip_p=1.0)
    out, (lab,) = warp(image, [label], np.zeros(3, int), label.shape, flip, np.random.default_rng(0), np.zeros(1))
    np.testing.assert_array_equal(lab, label[::-1, ::-1, ::-1])
    turn = SpatialAugmentation(rot90_p=1.0)
    rng = np.random.default_rng(0)
    out, (lab,) = warp(image, [label], np.zeros(3, int), label.shape, turn, rng, np.zeros(1))
    assert lab.shape == label.shape  # only the 16 x 16 plane can turn
    assert any(np.array_equal(lab, np.rot90(label, k, axes=(0, 1))) for k in (1, 2, 3))
    np.testing.assert_array_equal(out[..., 0], lab)


def test_same_generator_same_sample():
    label = _blobs((32, 32))
    image = label.astype(np.float32)[..., None]
    runs = [warp(image, [label], np.zeros(2, int), (32, 32), EVERYTHING, np.random.default_rng(9), np.zeros(1))
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1][0], runs[1][1][0])


def test_rotation_matrix_and_prior_turn():
    np.testing.assert_allclose(rotation_matrix(np.array([np.pi / 2])), [[0, -1], [1, 0]], atol=1e-12)
    r = rotation_matrix(np.array([0.3, -0.2, 1.1]))
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    mask = (_blobs((21, 21)) > 0).astype(np.uint8)
    np.testing.assert_array_equal(turn_about_centre(mask, 0.0, 1.0), mask)
    assert any(np.array_equal(turn_about_centre(mask, 90.0, 1.0), np.rot90(mask, k)) for k in (1, 3))
    grown = turn_about_centre(mask, 0.0, 1.2)
    assert grown.sum() > mask.sum()


def test_pairs_share_the_transform_and_only_the_prior_moves_on_its_own(tmp_path):
    label = np.zeros((32, 32, 12), np.uint8)
    label[8:20, 10:26, 2:10] = 1  # a box: every slice of it has the same mask, so prior == target
    (case,) = _prepared(_synthetic(tmp_path / "d", {"box": label}, 2), tmp_path / "cache", 2,
                        **{"data.normalize": "none"})
    shared = PairSampler([case], "axial", 8, [1], 2, spatial=EVERYTHING)
    for element in shared.elements:
        sample = shared.sample(element, np.random.default_rng(int(element[2])))
        image, prior, target = sample["image"][..., 0], sample["image"][..., 1], sample["label"]
        np.testing.assert_array_equal(prior, target)
        assert _misaligned(image, target) <= 0.01
    moved = PairSampler([case], "axial", 8, [1], 2, prior_rotate_deg=10.0, prior_scale=0.2)
    differs = [not np.array_equal(s["image"][..., 1], s["label"])
               for s in (moved.sample(e, np.random.default_rng(i)) for i, e in enumerate(moved.elements))]
    assert np.mean(differs) > 0.8  # a small draw can leave a nearest-neighbour mask as it was
    sample = moved.sample(moved.elements[0], np.random.default_rng(0))
    np.testing.assert_array_equal(sample["label"][:32, :32], label[:, :, moved.elements[0][2]])  # target untouched


def test_intensity_augmentations_keep_their_promises():
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 2, (20, 20, 2)).astype(np.float32)
    same = IntensityAugmentation()(image, np.random.default_rng(0))
    np.testing.assert_array_equal(same, image)
    brighter = IntensityAugmentation(brightness_p=1.0, brightness_range=(1.5, 1.5))(image, rng)
    np.testing.assert_allclose(brighter, image * 1.5, rtol=1e-6)
    for aug in (IntensityAugmentation(contrast_p=1.0, contrast_range=(1.5, 1.5)),
                IntensityAugmentation(gamma_p=1.0, gamma_range=(1.4, 1.4))):
        out = aug(image, rng)
        assert out.dtype == np.float32 and not np.allclose(out, image)
        np.testing.assert_allclose(out.min(axis=(0, 1)), image.min(axis=(0, 1)), atol=1e-5)
        np.testing.assert_allclose(out.max(axis=(0, 1)), image.max(axis=(0, 1)), atol=1e-5)
    blurred = IntensityAugmentation(blur_p=1.0)(image, rng)
    assert blurred.std() < image.std()
    np.testing.assert_allclose(blurred.mean(axis=(0, 1)), image.mean(axis=(0, 1)), atol=0.02)
    noisy = IntensityAugmentation(noise_p=1.0, noise_std=0.5)(image, rng)
    assert 0 < float(np.std(noisy - image)) <= 0.5
