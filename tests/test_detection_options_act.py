"""Detection options act: a 2-step Faster R-CNN run on the synthetic RSNA radiographs that sets every
`detection.*` key it can away from configs/pneumonia_faster_rcnn.py gives recorded values (losses, and
the detections its weights then make on all 8 images), and the run changes when any one key is left at
the config's value (the slow ablation), so a detection key that stopped acting would fail a test.

Not here: detection.boxes_csv, image_dir and classes (the run reads its boxes through them;
tests/test_detection_train.py::test_rsna_index_keeps_negatives_and_pads_batches), max_boxes (padding
only: no value may change), backbone and backbone_weights (their own tests below), frozen_convs (the
backbone's gradients are about 1e-7 in 2 steps, below what the recorded values resolve;
tests/test_detection_train.py::test_train_step_compiles_once_for_batches_of_four holds conv1_2 and
trains conv2_1 at frozen_convs = 2), rpn_iou, rpn_positive_fraction and roi_positive_fraction (no
anchor of the 2 steps falls between the two IoUs tried, and positives stay under both caps:
test_sampler_settings_reach_the_training_loss below)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg.config import ConfigError, load_config
from jaxseg.core.mesh import make_mesh
from jaxseg.data.detection import read_detection_index, training_batches
from jaxseg.inference.detection import compile_detection_predict_step, detect_images
from jaxseg.models.detection import FasterRCNN
from jaxseg.train import detection_step
from jaxseg.train.detection_state import build_detection_state, build_detector
from jaxseg.train.loop import fit
from tests.test_detection_train import write_rsna_dataset


@pytest.fixture(scope="module")
def rsna_root(tmp_path_factory):
    """test_detection_train's 8 radiographs at 96 x 128 pixels (rows, columns): not square, so that
    detection.max_size, not min_size alone, sets the scale."""
    return write_rsna_dataset(tmp_path_factory.mktemp("rsna_wide"), (96, 128))


# The run's frame, not ablated: 6 training images, no validation (the detections below replace it).
FRAME = {"data.batch_size": 2, "data.workers": 0, "data.num_val": 0, "data.num_test": 2,
         "optimizer.warmup_steps": 0, "train.steps": 2, "train.log_every": 1, "train.val_every": 2,
         "train.checkpoint_every": 2, "inference.batch_size": 8}
SINK = {
    "detection.canvas": (64, 64),
    "detection.min_size": 48,  # 48 / 96 rows...
    "detection.max_size": 56,  # ...but 56 / 128 columns is smaller: 42 x 56 pixels
    "detection.flip_p": 1.0,
    "detection.width": 0.125,
    "detection.rpn_features": 8,
    "detection.fc_features": 16,
    "detection.anchor_scales": (16.0, 32.0, 64.0),
    "detection.anchor_ratios": (1.0, 2.0),
    "detection.rpn_pre_nms": (200, 100),
    "detection.rpn_post_nms": (50, 20),
    "detection.rpn_nms_iou": 0.6,
    "detection.rpn_samples": 16,
    "detection.roi_samples": 16,
    "detection.roi_foreground_iou": 0.4,
    "detection.roi_background_iou": (0.1, 0.4),
    "detection.roi_size": 5,
    "detection.sampling_ratio": 0,
    "detection.rpn_sigma": 2.0,
    "detection.roi_sigma": 2.0,
    "detection.score_threshold": 0.0,
    "detection.nms_iou": 0.3,
    "detection.max_detections": 5,
}
# The config's values of these would build the full-size detector, or act as the run's value does in this
# tiny run (sampling_ratio: adaptive and 2 give the same values; rpn_pre_nms: (150, 60) kept the
# same proposals): other values replace them.
ALTERNATIVE = {"detection.canvas": (80, 80), "detection.min_size": 40, "detection.max_size": 64,
               "detection.width": 0.25, "detection.rpn_features": 16, "detection.fc_features": 32,
               "detection.anchor_scales": (24.0, 48.0), "detection.rpn_pre_nms": (60, 30),
               "detection.rpn_post_nms": (40, 10), "detection.sampling_ratio": 3}
# [losses at steps 1-2, detections on the 8 images, their summed score] (recorded on a CPU).
GOLDEN = [2.4251745, 1.4586648, 40.0, 19.862555]


def _config(root, values: dict):
    overrides = [f"{k}={v}".replace(" ", "") for k, v in {"data.root": root, **values}.items()]
    return load_config("pneumonia_faster_rcnn", overrides)


def _run(root, workdir, left_out: str | None = None) -> list[float]:
    values = {**FRAME, **{k: v for k, v in SINK.items() if k != left_out}}
    if left_out in ALTERNATIVE:
        values[left_out] = ALTERNATIVE[left_out]
    config = _config(root, values)
    state = fit(config, workdir, progress=False)
    losses = [json.loads(line)["loss"] for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    mesh = make_mesh()
    found = detect_images(compile_detection_predict_step(config.detection, mesh), state,
                          read_detection_index(config), config, mesh)
    return [*losses, float(sum(len(scores) for _, scores, _ in found)),
            float(sum(scores.sum() for _, scores, _ in found))]


@pytest.mark.slow  # 20-50 s on 2 cores; the default suite keeps the detection end-to-end run
def test_a_detection_run_with_many_options_gives_its_recorded_values(rsna_root, tmp_path):
    got = _run(rsna_root, tmp_path)
    assert got == pytest.approx(GOLDEN, rel=1e-4), got


@pytest.mark.slow  # one tiny detector per key
@pytest.mark.parametrize("key", sorted(SINK))
def test_each_detection_option_changes_the_run(key, rsna_root, tmp_path):
    got = _run(rsna_root, tmp_path, left_out=key)
    # rel 1e-7: above the recorded values' rounding (1e-8), below sampling_ratio's effect (3e-7).
    assert got != pytest.approx(GOLDEN, rel=1e-7), f"{key} did not change the run: {got}"


def _backbone_shapes(config) -> dict:
    """{layer: {parameter: shape}} of the detector's backbone, without initialising it."""
    model = build_detector(config)
    images = jax.ShapeDtypeStruct((1, 64, 64, 1), jnp.float32)
    params = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, method=FasterRCNN.init_all), images)
    return jax.tree.map(lambda leaf: leaf.shape, params["params"]["extractor"])


def test_the_backbone_key_builds_that_backbone(rsna_root):
    """resnet_fpn replaces VGG16's 13 convolutions (the frozen ones among them) by ResNet-50 stages."""
    names = {b: sorted(_backbone_shapes(_config(rsna_root, {**FRAME, **SINK, "detection.backbone": b,
                                                             "detection.frozen_convs": 0})))
             for b in ("vgg16", "resnet_fpn")}
    assert names["vgg16"] == sorted(f"conv{b}_{i}" for b, n in enumerate((2, 2, 3, 3, 3), 1) for i in range(1, n + 1))
    assert names["resnet_fpn"] and not set(names["resnet_fpn"]) & set(names["vgg16"])


def test_frozen_convs_is_refused_for_a_backbone_without_vgg16_convolutions(rsna_root):
    with pytest.raises(ConfigError, match=r"^config key 'detection.frozen_convs' = 4 freezes VGG16 convolutions: set "
                                          r"it to 0 for 'detection.backbone' = 'resnet_fpn'$"):
        _config(rsna_root, {**FRAME, **SINK, "detection.backbone": "resnet_fpn", "detection.frozen_convs": 4})


def test_backbone_weights_replace_the_initial_backbone(rsna_root, tmp_path):
    shape = _backbone_shapes(_config(rsna_root, {**FRAME, **SINK}))["conv1_1"]["kernel"]
    stored = (np.arange(np.prod(shape)).reshape(shape) / np.prod(shape)).astype(np.float32)
    np.savez(tmp_path / "vgg.npz", **{"conv1_1/kernel": stored})
    config = _config(rsna_root, {**FRAME, **SINK, "detection.backbone_weights": tmp_path / "vgg.npz"})
    state = build_detection_state(config, make_mesh())
    np.testing.assert_array_equal(np.asarray(state.params["extractor"]["conv1_1"]["kernel"]), stored)


def test_max_boxes_pads_batches_and_refuses_more(rsna_root):
    """Boxes per image are padded to detection.max_boxes; an image with more is an error naming the key."""
    config = _config(rsna_root, {**FRAME, **SINK, "detection.max_boxes": 3})
    batch = next(training_batches(config, read_detection_index(config), 2))
    assert batch["boxes"].shape == (2, 3, 4) and batch["box_valid"].shape == (2, 3)
    with pytest.raises(ConfigError, match="detection.max_boxes"):
        read_detection_index(_config(rsna_root, {**FRAME, **SINK, "detection.max_boxes": 1}))  # p1 has 2 boxes


# Sampler settings whose 2-step effect the recorded run cannot show (no anchor or proposal falls between
# the two values): each must reach its sampler in the training loss, whose bands
# tests/test_detection_targets.py asserts. {argument position: value} of the sampler's call.
REACHES = {"rpn": ("anchor_targets", {"detection.rpn_positive_fraction": 0.3, "detection.rpn_iou": (0.25, 0.65)},
                   {5: 0.3, 6: 0.65, 7: 0.25}),
           "roi": ("roi_targets", {"detection.roi_positive_fraction": 0.3}, {7: 0.3})}


@pytest.mark.parametrize("sampler", sorted(REACHES))
def test_sampler_settings_reach_the_training_loss(sampler, rsna_root, monkeypatch):
    name, values, expected = REACHES[sampler]
    real, seen = getattr(detection_step, name), []

    def spy(*args):
        seen.append({i: args[i] for i in expected})
        return real(*args)

    monkeypatch.setattr(detection_step, name, spy)
    config = _config(rsna_root, {**FRAME, **SINK, **values})
    model = build_detector(config)
    images = jax.ShapeDtypeStruct((1, 64, 64, 1), jnp.float32)
    params = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, method=FasterRCNN.init_all), images)["params"]
    batch = next(training_batches(config, read_detection_index(config), 2))
    jax.eval_shape(lambda p: detection_step.detection_loss(p, model.apply, batch, jax.random.key(0),
                                                           config.detection), params)
    assert seen == [expected]
