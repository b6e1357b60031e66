"""Training and inference pad slices with the same value: the normalised value of empty space per channel."""

import numpy as np

from jaxseg.data.datasets import load_cases, open_dataset, prepare_dataset
from jaxseg.data.prepare import open_prepared
from jaxseg.data.preprocess import model_grid_shape
from jaxseg.data.slices import SliceSampler
from jaxseg.inference.segment import volume_probabilities
from jaxseg.io import write_mask
from tests.data_samples import config_for


def _model_inputs(tmp_path, **overrides):
    """(training sample image, what inference sends the model) for one 2D case of 20 x 12 pixels."""
    root = tmp_path / "images"
    image = np.random.default_rng(0).integers(40, 200, size=(20, 12)).astype(np.uint8)  # no zeros
    write_mask(image, root / "images" / "a.png")
    write_mask((image > 120).astype(np.uint8), root / "labels" / "a.png")
    config = config_for(root, tmp_path / "cache", **{"data.source": "image_folders", "data.normalize": "zscore",
                                                     **overrides})
    index, _ = open_dataset(config, tmp_path)
    summary = prepare_dataset(config, tmp_path, index)
    [prepared] = open_prepared(index.cases, summary.folder)
    sample = SliceSampler([prepared], "axial", pad_multiple=8).sample(np.array([0, 0]), np.random.default_rng(0))
    [loaded] = load_cases(index.cases, config, index)
    sent = []

    def record(images):
        sent.append(images)
        return np.zeros((*images.shape[:3], 2), np.float32)

    model_shape = model_grid_shape(loaded.image.shape, loaded.image.spacing, 2, config.prepare)
    volume_probabilities(record, loaded.image.array, 2, config.inference, 1, 8, np.asarray(loaded.pad_value),
                         model_shape)
    return sample["image"], sent[0][0], prepared.pad_value, loaded.pad_value, image


def test_inference_sends_the_model_the_training_slice_and_padding(tmp_path):
    trained, inferred, prepared_pad, loaded_pad, image = _model_inputs(tmp_path)
    nonzero = image.astype(np.float64)
    expected_pad = -nonzero.mean() / nonzero.std()  # z-score: where a raw 0 lands
    np.testing.assert_allclose([prepared_pad[0], loaded_pad[0]], expected_pad, rtol=1e-5)
    assert trained.shape == inferred.shape == (16, 24, 1)  # (x, y) = 12 x 20 padded to multiples of 8
    np.testing.assert_allclose(inferred, trained, atol=1e-6)
    np.testing.assert_allclose(inferred[12:], expected_pad, rtol=1e-5)  # the padded columns
    assert expected_pad < inferred[:12, :20].min()  # not the -1 of a CT window


def test_resized_slices_match_too(tmp_path):
    trained, inferred, *_ = _model_inputs(tmp_path, **{"prepare.slice_size": (8, 10)})
    assert trained.shape == inferred.shape == (8, 16, 1)
    np.testing.assert_allclose(inferred, trained, atol=1e-6)  # both z-score, then resize the same way
    assert np.ptp(inferred[:, 10:]) == 0 and np.ptp(inferred[:, :10]) > 1


def test_inference_runs_on_the_training_grid_of_resampled_models():
    """A model trained at prepare.spacing_mm sees volumes at that spacing; probabilities come back on the
    file's grid."""
    import ml_collections

    prepare = ml_collections.ConfigDict({"slice_size": (), "spacing_mm": (2.0, 2.0, 4.0)})
    assert model_grid_shape((240, 240, 155), (1.0, 1.0, 1.0), 2, prepare) == (120, 120, 39)
    config = ml_collections.ConfigDict({"mode": "slices"})
    seen = []

    def model(images):  # probability of class 1 = the image itself, clipped
        seen.append(images.shape)
        p = np.clip(images[..., :1], 0, 1)
        return np.concatenate([1 - p, p], axis=-1)

    image = np.zeros((40, 40, 12), np.float32)
    image[10:30, 10:30, 3:9] = 1.0
    probabilities = volume_probabilities(model, image, 2, config, 8, 4, 0.0, (20, 20, 6))
    assert seen[0][1:3] == (20, 20) and sum(s[0] for s in seen) >= 6  # 20 x 20 slices, 6 of them (batched, padded)
    assert probabilities.shape == (40, 40, 12, 2)
    assert (probabilities.argmax(-1) == (image > 0.5)).mean() > 0.97  # back on the file's grid
