"""Faster R-CNN models and train states from a config's `detection` section."""

from __future__ import annotations

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import traverse_util
from jax.sharding import Mesh

from jaxseg.core.mesh import replicated
from jaxseg.core.state import TrainState
from jaxseg.io import ReadError
from jaxseg.models.detection import FasterRCNN
from jaxseg.train.optim import make_optimizer

# Smallest canvas the parameters are initialised on: their shapes do not depend on the image size.
_INIT_SIZE = 64
# XLA's RngBitGenerator: threefry's unrolled rounds made initialisation and the train step (which
# samples anchors and RoIs) compile several times slower on CPU; streams stay deterministic.
RNG_IMPL = "rbg"


def build_detector(config: ml_collections.ConfigDict) -> FasterRCNN:
    d = config.detection
    return FasterRCNN(num_classes=config.model.num_classes, backbone=d.backbone, width=d.width,
                      frozen_convs=d.frozen_convs,
                      num_anchors=len(d.anchor_scales) * len(d.anchor_ratios), rpn_features=d.rpn_features,
                      fc_features=d.fc_features, roi_size=d.roi_size, sampling_ratio=d.sampling_ratio)


def frozen_labels(params, frozen_convs: int):
    """"frozen" for the parameters of VGG16's first `frozen_convs` convolutions, else "trained"."""
    def label(path: tuple[str, ...]) -> str:
        match = re.fullmatch(r"conv(\d)_(\d)", path[1]) if len(path) > 2 and path[0] == "extractor" else None
        if match:
            block, index = int(match[1]), int(match[2])
            if sum((2, 2, 3, 3, 3)[: block - 1]) + index <= frozen_convs:
                return "frozen"
        return "trained"

    return traverse_util.path_aware_map(lambda path, _: label(path), params)


def load_backbone_weights(params, path: str | Path):
    """params with the backbone's arrays replaced by those of an .npz file ("conv1_1/kernel", ...)."""
    path = Path(path)
    if not path.is_file():
        raise ReadError(path, "no such file (config key 'detection.backbone_weights')")
    flat = traverse_util.flatten_dict(params["extractor"], sep="/")
    with np.load(path) as stored:
        unknown = sorted(set(stored.files) - flat.keys())
        if unknown:
            raise ReadError(path, f"arrays {unknown[:5]} are not backbone parameters (expected names like "
                                  f"{sorted(flat)[:3]})")
        for name in stored.files:
            if stored[name].shape != flat[name].shape:
                raise ReadError(path, f"{name} has shape {stored[name].shape}, the backbone needs {flat[name].shape}")
            flat[name] = jnp.asarray(stored[name], flat[name].dtype)
    return {**params, "extractor": traverse_util.unflatten_dict(flat, sep="/")}


def build_detection_state(config: ml_collections.ConfigDict, mesh: Mesh) -> TrainState:
    """A freshly initialised Faster R-CNN state from `config.seed`, replicated over the mesh.

    Frozen VGG16 convolutions get no update at all (not even weight decay): the optimiser gives
    them zero, and the model stops their gradient (which also saves computing it).
    """
    model = build_detector(config)
    init_rng, step_rng = jax.random.split(jax.random.key(config.seed, impl=RNG_IMPL))
    images = jnp.zeros((1, _INIT_SIZE, _INIT_SIZE, config.model.in_channels), jnp.float32)
    params = jax.jit(lambda rng: model.init(rng, images, method=FasterRCNN.init_all)["params"])(init_rng)
    if config.detection.backbone_weights:
        params = load_backbone_weights(params, config.detection.backbone_weights)
    tx = make_optimizer(config.optimizer, config.train.steps)
    if model.frozen_convs:
        tx = optax.multi_transform({"trained": tx, "frozen": optax.set_to_zero()},
                                   lambda p: frozen_labels(p, model.frozen_convs))
    create = lambda p, rng: TrainState.create(apply_fn=model.apply, params=p, batch_stats={}, tx=tx, rng=rng,  # noqa: E731
                                              metric_ema=jnp.full((), -jnp.inf, jnp.float32))
    return jax.jit(create, out_shardings=replicated(mesh))(params, jax.random.key_data(step_rng))
