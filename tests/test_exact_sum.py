"""Exact cross-device sums (jaxseg.core.exact_sum) and the train step that uses them (train.exact_reductions).

The layout independence itself (2 processes x 2 devices against 1 process x 4, bitwise) is held by
tests/test_multihost.py; here: the sums' own properties on 4 CPU devices, and what the option changes
in the compiled step.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jaxseg.config import ConfigError, load_config
from jaxseg.config.loading import config_from_json

REPO = Path(__file__).resolve().parent.parent

SUMS = """
import json
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, PartitionSpec as P
from jaxseg.core.exact_sum import exact_psum, exact_pmean, gather_batch

mesh = Mesh(np.asarray(jax.devices()), ("d",))
def on_devices(f, out=P()):
    return jax.jit(jax.shard_map(f, mesh=mesh, in_specs=P("d"), out_specs=out, check_vma=False))

rng = np.random.default_rng(0)
# 4 devices x 1000 values over 50 binary orders of magnitude, both signs.
x = (rng.standard_normal((4, 1000)) * np.exp(rng.uniform(-30, 5, (4, 1000)))).astype(np.float32)
exact = on_devices(lambda a: exact_psum(a[0], "d"))
float_sum = on_devices(lambda a: jax.lax.psum(a[0], "d"))
orders = [[0, 1, 2, 3], [2, 0, 3, 1], [3, 2, 1, 0]]
reference = x.astype(np.float64).sum(0)
large = np.abs(reference) > 2.0 ** -32 * np.abs(x).max()
result = np.asarray(exact(x))
out = {
    "exact_same_for_every_order": all(np.array_equal(np.asarray(exact(x[o])), result) for o in orders),
    "float_same_for_every_order": all(np.array_equal(np.asarray(float_sum(x[o])), np.asarray(float_sum(x)))
                                      for o in orders),
    "exact_error": float(np.max(np.abs(result - reference)[large] / np.abs(reference)[large])),
    "float32_ulp": float(np.finfo(np.float32).eps),
}
y = np.zeros((4, 3), np.float32)
y[2, 1] = np.inf
out["with_inf"] = np.asarray(exact(y)).tolist()
out["zeros"] = np.asarray(exact(np.zeros((4, 3), np.float32))).tolist()
out["tree"] = jax.tree.map(lambda v: np.asarray(v).tolist(), on_devices(
    lambda a: exact_psum({"a": a[0], "b": (a[0, :2] * 2,)}, "d"))(np.arange(12, dtype=np.float32).reshape(4, 3)))

# Gradients through exact_pmean (batch statistics) and gather_batch (the whole batch's loss) equal the
# gradient of the same function on the undivided batch.
def split_loss(rows):
    mean = exact_pmean(rows.mean(0), "d")
    return (gather_batch(rows * mean, "d") ** 2).sum()
def whole_loss(rows):
    return ((rows * rows.mean(0)) ** 2).sum()
z = rng.standard_normal((8, 5)).astype(np.float32)
grad = on_devices(jax.grad(split_loss), out=P("d"))(z)
out["grad_error"] = float(np.max(np.abs(np.asarray(grad) - np.asarray(jax.grad(whole_loss)(z)))))
print(json.dumps(out))
"""

STEP = r"""
import json, re
import jax, numpy as np
from jaxseg.config import load_config
from jaxseg.core.mesh import make_mesh
from jaxseg.tasks.segmentation import SegmentationTask
from jaxseg.train.build import build_state
from tests.conftest import tiny_overrides

def summing_all_reduces(hlo):
    # {element type: count} of the compiled step's all-reduces that add (pmax's maxima are exact anyway).
    adds, name = set(), None
    for line in hlo.splitlines():
        if line.endswith("{") and not line.startswith(" "):
            name = line.split()[0].lstrip("%")
        elif " add(" in line and name:
            adds.add(name)
    counts = {}
    for line in hlo.splitlines():
        found = re.search(r"= \(?(\w+)\[.* all-reduce\(.*to_apply=%([\w.]+)", line)
        if found and found[2] in adds:
            counts[found[1]] = counts.get(found[1], 0) + 1
    return counts

mesh = make_mesh()
rng = np.random.default_rng(0)
batches = [{"image": rng.standard_normal((8, 16, 16, 1)).astype(np.float32),
            "label": rng.integers(0, 5, (8, 16, 16)).astype(np.int32)} for _ in range(3)]
out = {}
for exact in (True, False):
    config = load_config("demo", tiny_overrides("unused", **{"train.exact_reductions": exact, "loss.name": "dice_ce",
                                                             "train.grad_accum_steps": 2}))
    step = SegmentationTask().compile_step(config, mesh, [np.ones(5, np.int64)])
    state = build_state(config, mesh, (16, 16))
    run = {"all_reduces": summing_all_reduces(step.lower(state, batches[0]).compile().as_text()), "losses": []}
    for batch in batches:
        state, metrics = step(state, batch)
        run["losses"].append(float(metrics["loss"]))
    run["params"] = [np.asarray(v).ravel().tolist() for v in jax.tree.leaves(state.params)]
    out[str(exact)] = run
print(json.dumps(out))
"""


def _on_four_devices(script: str) -> dict:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_exact_psum_is_independent_of_the_order_and_as_accurate_as_float32():
    out = _on_four_devices(SUMS)
    assert out["exact_same_for_every_order"]
    assert not out["float_same_for_every_order"]  # the data does tell orders apart
    assert out["exact_error"] <= 2 * out["float32_ulp"]  # against float64, elements above 2^-32 of the largest
    assert all(math.isnan(v) for v in out["with_inf"])  # an inf on one device: NaN, not a wrong finite sum
    assert out["zeros"] == [0.0, 0.0, 0.0]
    assert out["tree"] == {"a": [18.0, 22.0, 26.0], "b": [[36.0, 44.0]]}
    assert out["grad_error"] <= 1e-5


def test_exact_reductions_replace_float_all_reduces():
    """train.exact_reductions = True compiles a step without float32 all-reduces (integer ones sum the
    gradients and batch-norm statistics); False keeps GSPMD's float32 ones. Both train the same (with 2
    microbatches per step): batch norm over each microbatch of all devices and the loss (batch Dice) of
    the whole microbatch, to float tolerance."""
    out = _on_four_devices(STEP)
    exact, plain = out["True"], out["False"]
    assert set(exact["all_reduces"]) == {"s32"} and set(plain["all_reduces"]) == {"f32"}
    assert exact["losses"] == pytest.approx(plain["losses"], rel=1e-5)
    for a, b in zip(exact["params"], plain["params"]):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-6)


def test_exact_reductions_are_refused_where_they_cannot_act_and_off_for_older_runs():
    with pytest.raises(ConfigError, match=r"'train.exact_reductions' = True needs 'mesh.spatial' = 1 \(here 2\)"):
        load_config("demo", ["data.root=unused", "mesh.spatial=2"])
    assert load_config("demo", ["data.root=unused", "mesh.spatial=2", "train.exact_reductions=False"]).mesh.spatial == 2
    with pytest.raises(ConfigError, match="not to task = 'detection'"):
        load_config("cxr_lung_boxes", ["data.root=unused", "train.exact_reductions=True"])
    saved = load_config("demo", ["data.root=unused"]).to_dict()
    del saved["train"]["exact_reductions"]  # a run saved before the key existed summed in float32
    assert config_from_json(json.dumps(saved)).train.exact_reductions is False
