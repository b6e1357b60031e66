"""Config `loss` section -> loss function."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxseg import losses
from jaxseg.config import ConfigError, load_config
from jaxseg.core.state import TrainState
from jaxseg.models import build_model
from jaxseg.train.objective import LOSSES, make_loss_fn, make_objective
from jaxseg.train.step import train_step
from tests.model_helpers import random_variables

RNG = np.random.default_rng(0)
LOGITS = jnp.asarray(RNG.normal(size=(2, 4, 4, 5)), jnp.float32)  # the demo config has 5 classes
LABELS = jnp.asarray(RNG.integers(0, 5, size=(2, 4, 4)))
WEIGHTS = (0.5, 1.0, 2.0, 1.0, 3.0)


@pytest.mark.parametrize("overrides, expected", [
    (["loss.name=dice_ce"], losses.dice_ce_loss(LOGITS, LABELS)),
    (["loss.name=cross_entropy", f"loss.class_weights={WEIGHTS}"],
     losses.cross_entropy(LOGITS, LABELS, class_weights=jnp.asarray(WEIGHTS))),
    (["loss.name=dice", "loss.include_background=true"], losses.dice_loss(LOGITS, LABELS, include_background=True)),
    (["loss.name=jaccard"], losses.jaccard_loss(LOGITS, LABELS, include_background=False)),
    (["loss.name=focal", "loss.focal_gamma=1.5", f"loss.class_weights={WEIGHTS}"],
     losses.focal_loss(LOGITS, LABELS, gamma=1.5, alpha=jnp.asarray(WEIGHTS), activation="softmax")),
])
def test_config_names_the_loss_and_its_options(overrides, expected):
    loss_fn = make_loss_fn(load_config("demo", overrides).loss)
    assert float(loss_fn(LOGITS, LABELS)) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize("override, message", [
    ("loss.class_weights=(1.0,2.0)", "'loss.class_weights' has 2 weights but 'model.num_classes' = 5"),
    ("loss.class_weights=(1.0,2.0,0.0,1.0,1.0)", "'loss.class_weights' = (1.0, 2.0, 0.0, 1.0, 1.0) is invalid"),
    ("loss.name=tanimoto", "'loss.name' = 'tanimoto' is invalid"),
    ("loss.gamma=2", "unknown config key 'loss.gamma'"),
])
def test_bad_loss_settings_are_errors(override, message):
    with pytest.raises(ConfigError) as err:
        load_config("demo", [override])
    assert message in str(err.value)


# One value per loss key that differs from its default: a key the table passes on must change the loss.
PERTURBED = {"dice_weight": 2.0, "ce_weight": 3.0, "include_background": True, "class_weights": WEIGHTS,
             "pos_weight": 3.0, "neg_weight": 0.5, "bce_weights": "inverse_frequency", "smooth_nr": 1.0,
             "smooth_dr": 2.0, "batch_dice": False, "squared_pred": True, "gdl_weight_type": "simple",
             "tversky_alpha": 0.2, "tversky_beta": 0.8, "focal_gamma": 1.0, "focal_alpha": 0.25}
SIGMOID_LOGITS = LOGITS[..., :4]  # 5 classes under a sigmoid head: one output per foreground class
READS = [(name, activation, key) for name, entry in LOSSES.items() for activation, keys in entry.keys.items()
         for key in keys]


def _loss(overrides: list[str], activation: str, class_voxels=()) -> float:
    config = load_config("demo", overrides + ([] if activation == "softmax" else ["model.head=sigmoid"]))
    loss_fn = make_objective(config, class_voxels)[0]
    return float(loss_fn(LOGITS if activation == "softmax" else SIGMOID_LOGITS, LABELS))


def test_every_key_a_loss_reads_changes_its_value():
    assert set(PERTURBED) == {k for _, _, k in READS}
    voxels = [np.array([70, 10, 10, 5, 5])]  # f = 0.3
    for name, activation, key in READS:
        base = _loss([f"loss.name={name}"], activation, voxels)
        changed = _loss([f"loss.name={name}", f"loss.{key}={PERTURBED[key]!r}".replace("'", "")], activation, voxels)
        assert np.isfinite(base) and changed != pytest.approx(base, rel=1e-6), (name, activation, key)


def test_inverse_frequency_bce_uses_the_prepared_class_counts():
    voxels = [np.array([60, 20, 5, 5, 0]), np.array([6, 4, 0, 0, 0])]  # f = 34 / 100 over both cases
    got = _loss(["loss.name=bce", "loss.bce_weights=inverse_frequency"], "sigmoid", voxels)
    targets = np.eye(5, dtype=np.float32)[np.asarray(LABELS)][..., 1:]
    expected = losses.binary_cross_entropy(SIGMOID_LOGITS, targets, pos_weight=1 / 0.34, neg_weight=1 / 0.66)
    assert got == pytest.approx(float(expected), rel=1e-6)
    assert losses.inverse_frequency_weights(0.289) == pytest.approx((1.406, 3.460), abs=5e-4)


def test_a_sigmoid_head_reads_one_output_per_foreground_class():
    got = _loss(["loss.name=dice"], "sigmoid")
    targets = jnp.asarray(np.eye(5, dtype=np.float32)[np.asarray(LABELS)][..., 1:])
    assert got == pytest.approx(float(losses.dice_loss(SIGMOID_LOGITS, targets, include_background=True,
                                                       activation="sigmoid")), rel=1e-6)


@pytest.mark.parametrize("overrides, message", [
    (["loss.name=dice", "loss.tversky_alpha=0.3"], "'loss.tversky_alpha' = 0.3 has no effect: loss.name = 'dice'"),
    (["loss.name=cross_entropy", "loss.pos_weight=2.0"], "'loss.pos_weight' = 2.0 has no effect"),
    (["loss.name=bce"], "reads a sigmoid head, but the model's head is softmax (use loss.name = 'cross_entropy'"),
    (["loss.name=cross_entropy", "model.head=sigmoid"], "(use loss.name = 'bce'"),
    (["loss.name=dice", "model.head=sigmoid", "loss.include_background=true"],
     "'loss.include_background' = True has no effect"),
    (["inference.threshold=0.3"], "'inference.threshold' = 0.3 has no effect"),
])
def test_loss_keys_that_would_not_act_are_errors(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_config("demo", overrides)
    assert message in str(err.value)


def test_every_public_loss_is_reachable_from_a_config():
    """Each name in jaxseg.losses is a `loss.name`, or is reached through the config key listed here."""
    through_other_keys = {
        "deep_supervision_loss": "model.deep_supervision", "deep_supervision_weights": "model.deep_supervision",
        "downsample_labels": "model.deep_supervision", "adversarial_loss": "adversarial.enabled",
        "inverse_frequency_weights": "loss.bce_weights", "sampled_cross_entropy": "task=detection",
        "smooth_l1": "task=detection"}
    by_name = {entry.function.__name__ for entry in LOSSES.values()}
    assert set(losses.__all__) == by_name | set(through_other_keys)
    assert {a for entry in LOSSES.values() for a in entry.keys} == {"softmax", "sigmoid"}


@pytest.mark.parametrize("name, activation", [(name, activation) for name, entry in LOSSES.items()
                                              for activation in entry.keys])
def test_every_loss_name_trains_one_step(name, activation):
    """One SGD step of a tiny U-Net under each loss and head: the step's loss is the table's loss of the
    model's logits, and the parameters move."""
    config = load_config("demo", [f"loss.name={name}", f"model.head={activation}", "model.features=(4,8)",
                                  "optimizer.name=sgd", "optimizer.warmup_steps=0"])
    model = build_model(config.model)
    variables = random_variables(model, (2, 8, 8, 1))
    state = TrainState.create(apply_fn=model.apply, params=variables["params"], batch_stats=variables["batch_stats"],
                              tx=optax.sgd(0.1), rng=jax.random.key_data(jax.random.key(0)))
    batch = {"image": RNG.normal(size=(2, 8, 8, 1)).astype(np.float32), "label": np.tile(np.asarray(LABELS), (1, 2, 2))}
    loss_fn = make_objective(config)[0]
    new_state, metrics = jax.jit(lambda s, b: train_step(s, b, loss_fn))(state, batch)
    logits = model.apply(variables, batch["image"], train=True, mutable=["batch_stats"])[0]
    assert float(metrics["loss"]) == pytest.approx(float(loss_fn(logits, batch["label"])), rel=1e-5)
    moved = jax.tree.map(lambda a, b: float(np.abs(np.asarray(a) - np.asarray(b)).max()), new_state.params,
                         state.params)
    assert max(jax.tree.leaves(moved)) > 0
