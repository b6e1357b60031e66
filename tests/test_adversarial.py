"""Seed 002's U-Net + GAN: gradient routing, alternating turns, and training through the ordinary loop."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxseg.config import ConfigError, load_config
from jaxseg.losses import adversarial_loss, cross_entropy
from jaxseg.models import UNet
from jaxseg.models.adversarial import AdversarialSegmenter, MaskDiscriminator, binarised_foreground
from jaxseg.train.loop import fit
from jaxseg.train.optim import alternating
from jaxseg.train.restore import restore
from tests.conftest import tiny_overrides


def _model_and_batch():
    model = AdversarialSegmenter(UNet(features=(4, 8), num_classes=3, norm="none"), MaskDiscriminator((4, 8)))
    rng = np.random.default_rng(0)
    image = jnp.asarray(rng.normal(size=(2, 16, 16, 1)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 3, size=(2, 16, 16)), jnp.int32)
    params = model.init(jax.random.key(0), image)["params"]
    assert set(params) == {"segmenter", "discriminator"}
    return model, params, image, labels


def _grads(model, params, image, labels, terms):
    def loss(p):
        out = model.apply({"params": p}, image, labels, method="training_outputs")
        return sum(term(out) for term in terms)
    return jax.grad(loss)(params)


def _all_zero(tree) -> bool:
    return all(not np.any(np.asarray(x)) for x in jax.tree.leaves(tree))


@pytest.mark.slow  # 19 s on 2 cores; the ordinary-loop test below trains both networks by default
def test_each_objective_reaches_only_its_own_network():
    model, params, image, labels = _model_and_batch()
    generator = lambda o: jax.nn.softplus(-o["fake_for_segmenter"]).mean()  # noqa: E731
    discriminator = lambda o: jax.nn.softplus(-o["real"]).mean() + jax.nn.softplus(o["fake"]).mean()  # noqa: E731
    g = _grads(model, params, image, labels, [generator])
    assert _all_zero(g["discriminator"]) and not _all_zero(g["segmenter"])  # straight-through reaches the U-Net
    d = _grads(model, params, image, labels, [discriminator])
    assert _all_zero(d["segmenter"]) and not _all_zero(d["discriminator"])

    # The summed loss's gradient is each network's own objective's gradient.
    total = jax.grad(lambda p: adversarial_loss(model.apply({"params": p}, image, labels, method="training_outputs"),
                                                labels, cross_entropy, 0.5))(params)
    seg = _grads(model, params, image, labels,
                 [lambda o: cross_entropy(o["logits"], labels), lambda o: 0.5 * generator(o)])
    for a, b in zip(jax.tree.leaves(total["segmenter"]), jax.tree.leaves(seg["segmenter"])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    for a, b in zip(jax.tree.leaves(total["discriminator"]), jax.tree.leaves(d["discriminator"])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_binarised_masks_are_one_hot_foreground():
    logits = jnp.asarray([[[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 1.0, 5.0]]])
    np.testing.assert_allclose(binarised_foreground(logits), [[[0, 0], [1, 0], [0, 1]]], atol=1e-6)


def test_groups_take_turns():
    params = {"discriminator": jnp.ones(3), "segmenter": jnp.ones(2)}
    tx = alternating({"discriminator": optax.sgd(0.1), "segmenter": optax.sgd(0.1)}, period=2)
    state, moved = tx.init(params), []
    for _ in range(6):
        updates, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
        moved.append(tuple(k for k in ("discriminator", "segmenter") if np.any(np.asarray(updates[k]))))
    assert moved == [("discriminator",), ("discriminator",), ("segmenter",), ("segmenter",),
                     ("discriminator",), ("discriminator",)]


def test_adversarial_config_trains_in_the_ordinary_loop(phantom_root, tmp_path):
    overrides = tiny_overrides(phantom_root, **{"adversarial.enabled": True, "adversarial.features": (4, 8),
                                                "adversarial.alternate_every": 2, "train.steps": 4,
                                                "train.log_every": 2, "train.val_every": 4,
                                                "train.checkpoint_every": 4})
    state = fit(load_config("demo", overrides), tmp_path, progress=False)
    assert set(state.params) == {"segmenter", "discriminator"}
    restored_run = restore(tmp_path / "checkpoints", "latest")
    restored, step = restored_run.state, restored_run.step
    assert step == 4
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(restored.params)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="deep_supervision"):
        load_config("demo", tiny_overrides(phantom_root, **{"adversarial.enabled": True,
                                                            "model.deep_supervision": True}))
