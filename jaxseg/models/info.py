"""What `jaxseg model-info` reports about a preset: sizes, output shapes, forward FLOPs, receptive field.

Nothing is materialised: parameters and outputs are abstract (jax.eval_shape), and the FLOPs come
from XLA's cost analysis of the lowered, jit-compiled forward pass (a multiply-add counts 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxseg.models.build import build_preset
from jaxseg.models.presets import PRESETS
from jaxseg.models.receptive_field import receptive_field
from jaxseg.models.unet import deep_supervision_outputs


def _count(tree: Any) -> int:
    return sum(int(x.size) for x in jax.tree.leaves(tree))


def model_info(name: str, input_shape: Sequence[int] | None = None) -> dict[str, Any]:
    """Facts about preset `name` for one input of `input_shape` (*spatial, channels), default the preset's.

    Returns {"model", "input_shape", "head", "params", "batch_stats", "output_shape",
    "aux_output_shapes" (deep supervision, 1/2 resolution first; [] without), "flops_per_sample",
    "receptive_field" (None where not derived)}. Shapes leave out the batch axis.
    Raises ValueError for an unknown preset or an input the network cannot take.
    """
    model = build_preset(name)
    shape = tuple(input_shape) if input_shape else PRESETS[name].input_shape
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
        "model": name,
        "input_shape": list(shape),
        "head": model.head,
        "params": _count(variables["params"]),
        "batch_stats": _count(variables.get("batch_stats", {})),
        "output_shape": list(logits.shape[1:]),
        "aux_output_shapes": [list(a.shape[1:]) for a in aux],
        "flops_per_sample": int(flops),
        "receptive_field": receptive_field(model),
    }


def parse_input_shape(text: str) -> tuple[int, ...]:
    """"96,96,96,1" -> (96, 96, 96, 1); ValueError for anything else."""
    try:
        return tuple(int(d) for d in text.split(","))
    except ValueError:
        raise ValueError(f"input shape {text!r}: expected integers such as 96,96,96,1") from None


def format_model_info(info: dict[str, Any]) -> str:
    """`model_info()`'s facts as the lines `jaxseg model-info` prints."""
    field = info["receptive_field"]
    lines = [f"{info['model']} ({info['head']} head), input {tuple(info['input_shape'])}",
             f"  parameters        {info['params']:,}",
             f"  batch-norm stats  {info['batch_stats']:,}",
             f"  output            {tuple(info['output_shape'])}"]
    lines += [f"  auxiliary output  {tuple(shape)}" for shape in info["aux_output_shapes"]]
    lines += [f"  forward FLOPs     {info['flops_per_sample']:,} per sample",
              f"  receptive field   {field if field is not None else 'not derived'}"]
    return "\n".join(lines)
