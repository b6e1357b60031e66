"""Train states built from a config: initialised for training, or traced (eval_shape) for restoring."""

from __future__ import annotations

import jax
import ml_collections
from jax.sharding import Mesh

from jaxseg.core.mesh import replicated
from jaxseg.core.state import TrainState, create_train_state
from jaxseg.data.pipeline import VOLUME_SAMPLERS
from jaxseg.models import build_model
from jaxseg.models.adversarial import AdversarialSegmenter, MaskDiscriminator
from jaxseg.models.facts import NetworkFacts
from jaxseg.tasks import get_task
from jaxseg.train.optim import alternating, make_optimizer


def build_state(config: ml_collections.ConfigDict, mesh: Mesh,
                spatial_shape: tuple[int, ...] | None = None) -> TrainState:
    """A freshly initialised state of the config's task from `config.seed`, replicated over the mesh
    (`Task.build_state`): the one entry point for training, restoring and benchmarks."""
    return get_task(config.task).build_state(config, mesh, spatial_shape)


def build_segmentation_state(config: ml_collections.ConfigDict, mesh: Mesh,
                             spatial_shape: tuple[int, ...] | None = None) -> TrainState:
    """A freshly initialised segmentation model's state from `config.seed`, replicated over the mesh.

    spatial_shape: the input's spatial size; parameters of these convolutional networks do not
    depend on it, so the smallest valid size is the default.
    """
    model, tx = build_model(config.model), make_optimizer(config.optimizer, config.train.steps)
    if config.adversarial.enabled:
        model = AdversarialSegmenter(model, MaskDiscriminator(tuple(config.adversarial.features)))
        tx = alternating({"discriminator": make_optimizer(config.optimizer, config.train.steps), "segmenter": tx},
                         config.adversarial.alternate_every)
    if spatial_shape is None:  # 3D samplers train 3D convolutions, whose kernels have one more axis
        facts = NetworkFacts.of(config)
        spatial_shape = (facts.tile[0] if facts.tile else facts.pad_multiple,) * (
            3 if config.data.sampler in VOLUME_SAMPLERS else 2)
    input_shape = (1, *spatial_shape, config.model.in_channels)
    state = create_train_state(model, tx, jax.random.key(config.seed), input_shape)
    return jax.device_put(state, replicated(mesh))
