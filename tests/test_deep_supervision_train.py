"""nnU-Net's deep supervision acts in the train step: decoder heads train, the loss is the weighted sum."""

import jax
import numpy as np
import pytest

from jaxseg import losses
from jaxseg.config import load_config
from jaxseg.core.mesh import global_batch, make_mesh
from jaxseg.core.state import model_variables
from jaxseg.models import build_model, deep_supervision_outputs
from jaxseg.train.build import build_state
from jaxseg.train.objective import make_loss_fn, make_objective
from jaxseg.train.step import compile_train_step

RNG = np.random.default_rng(0)
BATCH = {"image": RNG.normal(size=(2, 16, 16, 1)).astype(np.float32),
         "label": RNG.integers(0, 5, size=(2, 16, 16)).astype(np.int32)}


def _config(*extra: str):
    return load_config("demo", ["model.features=(4,8,8,8)", "optimizer.name=sgd", "optimizer.momentum=0.0",
                                "optimizer.warmup_steps=0", "optimizer.learning_rate=0.1", *extra])


def _one_step(config):
    mesh = make_mesh()
    state = build_state(config, mesh, (16, 16))
    loss_fn, _ = make_objective(config)
    step = compile_train_step(loss_fn, mesh, config.train.grad_accum_steps)
    before = jax.device_get(state.params)
    variables = jax.device_get(model_variables(state))
    new_state, metrics = step(state, global_batch(BATCH, mesh))
    return before, variables, jax.device_get(new_state.params), float(metrics["loss"])


# CI time: one head by default
@pytest.mark.parametrize("head", ["softmax", pytest.param("sigmoid", marks=pytest.mark.slow)])
def test_deep_supervision_trains_the_decoder_heads_on_the_weighted_loss(head):
    config = _config("model.deep_supervision=true", f"model.head={head}")
    before, variables, after, loss = _one_step(config)
    model = build_model(config.model)
    logits, updates = model.apply(variables, BATCH["image"], train=True, mutable=["batch_stats", "intermediates"])
    half, quarter = deep_supervision_outputs(updates)
    plain = make_loss_fn(config.loss, head)
    expected = (plain(logits, BATCH["label"]) + 0.5 * plain(half, BATCH["label"][:, 1::2, 1::2])) / 1.5
    assert loss == pytest.approx(float(expected), rel=1e-5)
    assert quarter.shape[1:3] == (4, 4)  # the lowest resolution: weight 0, so its head does not train
    for name, trains in (("head_0", True), ("head_1", True), ("head_2", False)):
        moved = np.abs(after[name]["kernel"] - before[name]["kernel"]).max()
        assert (moved > 0) == trains, name


def test_without_deep_supervision_the_loss_is_the_plain_one():
    config = _config()
    _, variables, _, loss = _one_step(config)
    logits = build_model(config.model).apply(variables, BATCH["image"], train=True, mutable=["batch_stats"])[0]
    assert loss == pytest.approx(float(losses.dice_ce_loss(logits, BATCH["label"])), rel=1e-6)


def test_deep_supervision_labels_are_downsampled_like_nnunet():
    # PyTorch's interpolate(mode="nearest-exact") (nnU-Net's DownsampleSegForDSTransform): source index
    # floor((i + 0.5) * in / out).
    labels = np.arange(2 * 9 * 6).reshape(2, 9, 6)
    got = np.asarray(losses.downsample_labels(labels, (5, 3)))
    rows, cols = np.floor((np.arange(5) + 0.5) * 9 / 5).astype(int), np.floor((np.arange(3) + 0.5) * 2).astype(int)
    np.testing.assert_array_equal(got, labels[:, rows][:, :, cols])


@pytest.mark.slow  # the bf16 + remat + accumulation step compiles in about 40 s on 2 cores
def test_deep_supervision_trains_under_accumulation_bf16_and_remat():
    config = _config("model.deep_supervision=true", "model.dtype=bfloat16", "model.remat=true",
                     "train.grad_accum_steps=2", "data.batch_size=2")
    before, _, after, loss = _one_step(config)
    assert np.isfinite(loss)
    moved = {name: float(np.abs(after[name]["kernel"] - before[name]["kernel"]).max()) for name in ("head_1", "head_2")}
    assert moved["head_1"] > 0 and moved["head_2"] == 0, moved


def test_deep_supervision_that_could_not_act_is_an_error():
    from jaxseg.config import ConfigError

    with pytest.raises(ConfigError, match="needs a depth >= 3 \\(here 2\\)"):
        load_config("demo", ["model.features=(4,8,8)", "model.deep_supervision=true"])
