"""The Predictor splits a sliding window's batch of windows over the devices of the data axis:
on 4 (forced CPU) devices each compiled program holds 1/4 of the windows, and the probabilities
equal one device's."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SCRIPT = """
import json
import jax
import numpy as np
from jax.sharding import Mesh
from jaxseg.config import load_config
from jaxseg.core.mesh import local_mesh
from jaxseg.inference.predictor import Predictor
from jaxseg.io import Volume
from jaxseg.train.build import build_state

config = load_config("demo", ["model.features=(4,8)", "inference.mode=sliding_window", "inference.roi_size=(16,16,16)",
                              "inference.batch_size=8", "data.sampler=volumes"])
four = local_mesh()
one = Mesh(np.asarray(jax.devices()[:1]).reshape(1, 1), ("data", "space"))
state = build_state(config, four, (16, 16, 16))
image = Volume(np.random.default_rng(0).normal(size=(40, 36, 20)).astype(np.float32), np.eye(4))
predictors = {n: Predictor.create(config, state, mesh) for n, mesh in (("four", four), ("one", one))}
probabilities = {n: p.segment(image, (0.0,))[1] for n, p in predictors.items()}
windows = np.zeros((8, 16, 16, 16, 1), np.float32)
compiled = {n: p.compiled.lower(p.state, windows).compile() for n, p in predictors.items()}
print(json.dumps({
    "devices": len(four.devices.flat),
    "max_difference": float(np.abs(probabilities["four"] - probabilities["one"]).max()),
    "window_shard": list(compiled["four"].input_shardings[0][1].shard_shape(windows.shape)),
    "flops_ratio": compiled["four"].cost_analysis()["flops"] / compiled["one"].cost_analysis()["flops"],
}))
"""


def test_four_devices_share_the_windows_and_agree_with_one():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["devices"] == 4
    assert found["max_difference"] <= 1e-6
    assert found["window_shard"] == [2, 16, 16, 16, 1]  # 8 windows per call, 2 on each device
    assert abs(found["flops_ratio"] - 0.25) < 0.01
