"""What `jaxseg model-info` reports about a preset: sizes, output shapes, forward FLOPs, receptive field.

Nothing is materialised: parameters and outputs are abstract (jax.eval_shape), and the FLOPs come
from XLA's cost analysis of the lowered, jit-compiled forward pass (a multiply-add counts 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from jaxseg.models.build import build_model, build_preset
from jaxseg.models.presets import PRESETS
from jaxseg.models.receptive_field import receptive_field
from jaxseg.models.unet import deep_supervision_outputs


def _count(tree: Any) -> int:
    return sum(int(x.size) for x in jax.tree.leaves(tree))


def network_info(model, shape: Sequence[int]) -> dict[str, Any]:
    """Facts about a built network for one input of `shape` (*spatial, channels).

    Returns {"input_shape", "head", "params", "batch_stats", "output_shape", "aux_output_shapes"
    (deep supervision, 1/2 resolution first; [] without), "flops_per_sample", "receptive_field"
    (None where not derived)}. Shapes leave out the batch axis.
    Raises ValueError for an input the network cannot take.
    """
    shape = tuple(shape)
    if len(shape) not in (3, 4) or min(shape) < 1:
        raise ValueError(f"input shape {shape}: expected H,W,C or D,H,W,C, all positive")
    x = jax.ShapeDtypeStruct((1, *shape), jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), x)
    variables = {k: v for k, v in variables.items() if k in ("params", "batch_stats")}  # Not what init sowed.
    forward = jax.jit(lambda v, x: model.apply(v, x, train=False, mutable=["intermediates"]))
    logits, updates = jax.eval_shape(forward, variables, x)
    aux = deep_supervision_outputs(updates) if getattr(model, "deep_supervision", False) else []
    flops = forward.lower(variables, x).cost_analysis()["flops"]
    return {
        "input_shape": list(shape),
        "head": model.head,
        "params": _count(variables["params"]),
        "batch_stats": _count(variables.get("batch_stats", {})),
        "output_shape": list(logits.shape[1:]),
        "aux_output_shapes": [list(a.shape[1:]) for a in aux],
        "flops_per_sample": int(flops),
        "receptive_field": receptive_field(model),
    }


def model_info(name: str, input_shape: Sequence[int] | None = None) -> dict[str, Any]:
    """`network_info` of preset `name` (as "model") for one input of `input_shape`, default the preset's.

    Raises ValueError for an unknown preset or an input the network cannot take.
    """
    model = build_preset(name)
    return {"model": name, **network_info(model, input_shape or PRESETS[name].input_shape)}


def config_model_info(model_config: ml_collections.ConfigDict, spatial_shape: Sequence[int] | None) -> dict[str, Any]:
    """`network_info` of the network a config's `model` section builds (what `jaxseg train` trains:
    its preset with the section's options, classes and head), for one input of `spatial_shape`
    (None: the preset's reference size) with `model.in_channels` channels.

    Adds "model" (the preset), "classes" (model.num_classes) and "in_channels".
    """
    spatial = tuple(spatial_shape) if spatial_shape else PRESETS[model_config.name].input_shape[:-1]
    info = network_info(build_model(model_config), (*spatial, model_config.in_channels))
    return {"model": model_config.name, "classes": model_config.num_classes,
            "in_channels": model_config.in_channels, **info}


def parse_input_shape(text: str) -> tuple[int, ...]:
    """"96,96,96,1" -> (96, 96, 96, 1); ValueError for anything else."""
    try:
        return tuple(int(d) for d in text.split(","))
    except ValueError:
        raise ValueError(f"input shape {text!r}: expected integers such as 96,96,96,1") from None


def format_model_info(info: dict[str, Any]) -> str:
    """`model_info()`'s facts as the lines `jaxseg model-info` prints."""
    field = info["receptive_field"]
    trained = f"config '{info['config']}': " if "config" in info else ""
    classes = f", {info['classes']} classes, {info['in_channels']} input channel(s)" if "classes" in info else ""
    lines = [f"{trained}{info['model']} ({info['head']} head{classes}), input {tuple(info['input_shape'])}",
             f"  parameters        {info['params']:,}",
             f"  batch-norm stats  {info['batch_stats']:,}",
             f"  output            {tuple(info['output_shape'])}"]
    lines += [f"  auxiliary output  {tuple(shape)}" for shape in info["aux_output_shapes"]]
    lines += [f"  forward FLOPs     {info['flops_per_sample']:,} per sample",
              f"  receptive field   {field if field is not None else 'not derived'}"]
    return "\n".join(lines)
