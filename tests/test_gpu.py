"""On a GPU: training there equals training on the CPU, a bfloat16 step is finite, and the device
reports its memory. Skipped without a GPU; `benchmarks/gpu_check.sh` runs them (`pytest -m gpu`)."""

import jax
import numpy as np
import pytest
from jax.sharding import Mesh

from jaxseg.config import base_config, set_value, validate
from jaxseg.core.mesh import DATA_AXIS, SPACE_AXIS
from jaxseg.perf.step_cost import lower_train_step, random_batch, time_steps
from jaxseg.train.build import build_state

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(jax.default_backend() != "gpu",
                                                  reason=f"no GPU: jax's default backend is {jax.default_backend()}")]

SPATIAL = (16, 16, 16)


def _config(dtype: str):
    """Seed 001's small 3D U-Net (410k parameters), batch 2: 3D exercises the CPU's depth-tap
    convolution (jaxseg.models.cpu_conv) against the GPU's native one."""
    config = base_config()
    for key, value in {"model.name": "kayalibay_concat", "model.in_channels": 1, "model.num_classes": 2,
                       "model.dtype": dtype, "data.batch_size": 2, "optimizer.name": "adam",
                       "loss.name": "dice_ce"}.items():
        set_value(config, key, value)
    validate(config)
    return config


def _train(platform: str, dtype: str, steps: int = 3):
    """(losses of `steps` train steps on the first device of `platform`, final state)."""
    config = _config(dtype)
    mesh = Mesh(np.asarray(jax.devices(platform)[:1]).reshape(1, 1), (DATA_AXIS, SPACE_AXIS))
    state = build_state(config, mesh, SPATIAL)
    compiled = lower_train_step(config, 2, SPATIAL, mesh, state).compile()
    _, losses, state = time_steps(compiled, state, random_batch(config, 2, SPATIAL, mesh), steps, warmup=0)
    return losses, state


def test_gpu_training_equals_cpu_training():
    # TF32 off: XLA's default float32 convolutions on Ampere and later round inputs to 10 mantissa bits.
    with jax.default_matmul_precision("highest"):
        gpu_losses, gpu_state = _train("gpu", "float32")
        cpu_losses, cpu_state = _train("cpu", "float32")
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4)
    for gpu, cpu in zip(jax.tree.leaves(gpu_state.params), jax.tree.leaves(cpu_state.params)):
        np.testing.assert_allclose(np.asarray(gpu), np.asarray(cpu), rtol=1e-3, atol=1e-5)


def test_bfloat16_step_is_finite():
    losses, state = _train("gpu", "bfloat16", steps=2)
    assert np.isfinite(losses).all() and losses[0] > 0
    assert all(np.isfinite(np.asarray(p)).all() for p in jax.tree.leaves(state.params))


def test_memory_stats_report_the_live_state():
    losses, state = _train("gpu", "float32", steps=1)
    stats = jax.devices("gpu")[0].memory_stats()
    state_bytes = sum(x.nbytes for x in jax.tree.leaves(state))
    assert stats["bytes_in_use"] >= state_bytes
    assert stats["peak_bytes_in_use"] >= stats["bytes_in_use"]
    assert stats["bytes_limit"] > stats["peak_bytes_in_use"]
