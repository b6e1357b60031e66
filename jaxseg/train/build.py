"""Train states built from a config: initialised for training, or abstract for restoring."""

from __future__ import annotations

from pathlib import Path

import jax
import ml_collections
from jax.sharding import Mesh

from jaxseg.models import build_model, downsampling_factor, overlap_tile
from jaxseg.models.adversarial import AdversarialSegmenter, MaskDiscriminator
from jaxseg.train.checkpoint import Checkpoints, best_metric_key
from jaxseg.train.mesh import make_mesh, replicated
from jaxseg.train.optim import alternating, make_optimizer
from jaxseg.train.state import TrainState, create_train_state


def build_state(config: ml_collections.ConfigDict, mesh: Mesh, spatial_shape: tuple[int, ...] | None = None) -> TrainState:
    """A freshly initialised state from `config.seed`, replicated over the mesh.

    spatial_shape: the input's spatial size; parameters of these convolutional networks do not
    depend on it, so the smallest valid size is the default.
    """
    if config.task == "detection":
        from jaxseg.train.detection_state import build_detection_state  # detection imports stay out of segmentation runs

        return build_detection_state(config, mesh)
    model, tx = build_model(config.model), make_optimizer(config.optimizer, config.train.steps)
    if config.adversarial.enabled:
        model = AdversarialSegmenter(model, MaskDiscriminator(tuple(config.adversarial.features)))
        tx = alternating({"discriminator": make_optimizer(config.optimizer, config.train.steps), "segmenter": tx},
                         config.adversarial.alternate_every)
    if spatial_shape is None:
        tile = overlap_tile(config.model, config.sampling.tile_size)
        spatial_shape = (tile[0] if tile else downsampling_factor(config.model),) * 2
    input_shape = (1, *spatial_shape, config.model.in_channels)
    state = create_train_state(model, tx, jax.random.key(config.seed), input_shape)
    return jax.device_put(state, replicated(mesh))


def restore_trained(workdir, which: str = "best") -> tuple[ml_collections.ConfigDict, TrainState, int, Mesh]:
    """Config, state, step and mesh of a run's best (or latest) checkpoint in WORKDIR/checkpoints.

    Falls back to the latest step when no checkpoint carries validation metrics.
    """
    return restore_checkpoint(Path(workdir) / "checkpoints", which)


def restore_checkpoint(directory: str | Path, which: str | int = "latest") -> tuple[ml_collections.ConfigDict, TrainState, int, Mesh]:
    """Config, state, step and mesh of checkpoint `which` ("best" by the run's best metric, "latest"
    or a step) in `directory`, verified (`Checkpoints.restore`).

    A damaged checkpoint is set aside and the next is used: for "best" the next best, then the
    newest; for "latest" the one before. The state is restored onto a mesh like the one it was
    trained on (all devices when fewer are here).
    """
    checkpoints = Checkpoints(directory)
    steps = sorted(checkpoints.all_steps(), reverse=True)
    if isinstance(which, int):
        if which not in steps:
            checkpoints.close()
            aside = [n for n in checkpoints.damaged() if n.split(".")[0] == str(which)]
            raise FileNotFoundError(f"{directory} holds no checkpoint {which}"
                                    + (f" (set aside as damaged: {', '.join(aside)})" if aside else ""))
        steps = [which]
    elif steps and which == "best":
        newest = checkpoints.newest_config()
        metric = best_metric_key(newest[1]) if newest else checkpoints.best_metric
        scores = {s: m[metric] for s in steps if (m := checkpoints.metrics(s)) and metric in m}
        steps = sorted(scores, key=scores.get, reverse=True) + [s for s in steps if s not in scores]

    def like_for(config: ml_collections.ConfigDict) -> TrainState:
        mesh = _mesh_for(config)
        like = jax.eval_shape(lambda: build_state(config, mesh))
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated(mesh)), like)

    try:
        restored = checkpoints.restore_first_intact(steps, like_for, data_iterator=False)
    finally:  # Also after an error: see `Checkpoints.close`.
        checkpoints.close()
    if restored is None:
        raise FileNotFoundError(f"{directory} holds no checkpoint")
    return restored.config, restored.state, restored.step, _mesh_for(restored.config)


def _mesh_for(config: ml_collections.ConfigDict) -> Mesh:
    return make_mesh(config.mesh.data if config.mesh.data <= jax.device_count() else -1)
