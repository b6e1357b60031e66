"""Config `loss` section -> loss function."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg import losses
from jaxseg.config import ConfigError, load_config
from jaxseg.train.objective import make_loss_fn

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
