"""Multi-process training against one process: the same global batches over 4 CPU devices, as
2 processes x 2 devices (launch/local_multiprocess.sh) and as 1 process x 4 devices, each from a
fresh workdir; the final parameters compared leaf by leaf (relative L2 difference ||a - b|| / ||b||)
and as a whole. Optionally also 1 process x 2 devices, and 1 process x 4 devices started by the
launcher (a one-process jax.distributed job: gloo collectives, as the 2-process run's).

Why they differ: `--part gradients`: the first step's gradient on one batch in float32 over 1, 2
and 4 devices against the same gradient in float64, per leaf; `--part sensitivity`: in one process
on 4 devices, the same steps on the same batches from the initial parameters and from those
parameters changed by one part in 10^7 (float32 rounding), and on 2 devices; relative parameter
differences after every step.

    python benchmarks/multiprocess_equivalence.py [--steps 12] [--also-1x2] [--also-1x4-gloo]
                                                  [--part runs,gradients,sensitivity]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np
from results_io import markdown, write_results  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
LAUNCHER = REPO / "launch" / "local_multiprocess.sh"


def _train(workdir: Path, processes: int, devices: int, config: str, steps: int, launcher: bool) -> None:
    """`jaxseg train` on a workdir that does not exist yet, as `processes` x `devices` CPU devices,
    started by launch/local_multiprocess.sh (a jax.distributed job) or as one plain process."""
    command = [sys.executable, "-m", "jaxseg", "train", "--config", config, f"--config.train.steps={steps}",
               "--workdir", str(workdir)]
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    if launcher:
        command = ["bash", str(LAUNCHER), str(processes), "--", *command]
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)


def _leaves(tree) -> dict[str, np.ndarray]:
    return {jax.tree_util.keystr(p): np.asarray(x, np.float64).ravel()
            for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


def relative_differences(a, b) -> tuple[dict[str, float], float]:
    """({leaf: ||a - b|| / ||b||}, the same over all leaves together) for two parameter trees."""
    la, lb = _leaves(a), _leaves(b)
    per_leaf = {k: float(np.linalg.norm(la[k] - lb[k]) / max(np.linalg.norm(lb[k]), 1e-30)) for k in lb}
    va, vb = np.concatenate(list(la.values())), np.concatenate(list(lb.values()))
    return per_leaf, float(np.linalg.norm(va - vb) / np.linalg.norm(vb))


def compare_runs(args) -> dict:
    from jaxseg.train.restore import restore

    layouts = [(2, 2, True), (1, 4, False)] + ([(1, 2, False)] if args.also_1x2 else []) + (
        [(1, 4, True)] if args.also_1x4_gloo else [])
    with tempfile.TemporaryDirectory() as tmp:
        params = {}
        for processes, devices, launcher in layouts:
            name = f"{processes}x{devices}" + (" gloo" if launcher and processes == 1 else "")
            _train(Path(tmp) / name.replace(" ", "_"), processes, devices, args.config, args.steps, launcher)
            params[name] = restore(Path(tmp) / name.replace(" ", "_"), "latest").state.params
    results = {}
    pairs = [(name, "1x4") for name in params if name != "1x4"] + (
        [("2x2", "1x4 gloo")] if "1x4 gloo" in params else [])
    for name, reference in pairs:
        per_leaf, overall = relative_differences(params[name], params[reference])
        results[f"{name} vs {reference}"] = {"overall": overall, "per_leaf": per_leaf}
        print(f"{name} vs {reference} after {args.steps} steps: overall {overall:.3g}; largest leaves:")
        for leaf, value in sorted(per_leaf.items(), key=lambda kv: -kv[1])[:10]:
            print(f"  {value:.3g}  {leaf}")
    return results


def on_four_devices(part: str, args) -> dict:
    """`part` ("gradients" or "sensitivity") run by this script in a child process with 4 forced CPU devices."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out = Path(tempfile.mkdtemp()) / f"{part}.npz"
    subprocess.run([sys.executable, __file__, "--part", f"{part}-here", "--config", args.config,
                    "--steps", str(args.steps), "--out", str(out)], env=env, check=True)
    return np.load(out, allow_pickle=True)["result"].item()


def _config_and_batches(args, count: int):
    """The config and its first `count` global training batches (phantoms generated in a temporary workdir)."""
    from jaxseg.config import load_config
    from jaxseg.data.datasets import open_dataset
    from jaxseg.data.pipeline import training_data
    from jaxseg.models import downsampling_factor

    config = load_config(args.config, [f"train.steps={args.steps}"])
    with tempfile.TemporaryDirectory() as workdir:
        index, splits = open_dataset(config, Path(workdir))
        data = training_data(config, Path(workdir), index, splits["train"], downsampling_factor(config.model))
        batches = data.batches(config.data.batch_size, seed=config.seed, workers=0, shard_index=0, shard_count=1)
        taken = [next(batches) for _ in range(count)]
        batches.close()
    return config, data, taken


def _sensitivity_here(args) -> dict:
    from jaxseg.core.mesh import global_batch, make_mesh
    from jaxseg.train.build import build_state
    from jaxseg.train.objective import make_objective
    from jaxseg.train.step import compile_train_step

    config, data, batches = _config_and_batches(args, args.steps)
    loss_fn, _ = make_objective(config)
    trajectories = {}
    for name, devices, nudge in (("4 devices", 4, 0.0), ("4 devices, initial parameters x (1 + 1e-7 N(0,1))", 4, 1e-7),
                                 ("2 devices", 2, 0.0)):
        mesh = make_mesh(devices, 1)
        state = build_state(config, mesh, data.sample_shape)
        if nudge:
            rng = np.random.default_rng(0)
            params = jax.tree.map(lambda p: p * (1 + nudge * rng.standard_normal(p.shape)).astype(np.float32),
                                  jax.device_get(state.params))
            state = state.replace(params=jax.device_put(params, jax.tree.map(lambda a: a.sharding, state.params)))
        step = compile_train_step(loss_fn, mesh)
        trajectories[name] = []
        for batch in batches:
            state, _ = step(state, global_batch(batch, mesh))
            trajectories[name].append(jax.device_get(state.params))
    reference = trajectories.pop("4 devices")
    return {name: [relative_differences(p, r)[1] for p, r in zip(t, reference)] for name, t in trajectories.items()}


def _gradient_errors_here(args) -> dict:
    import jax.numpy as jnp

    from jaxseg.core.mesh import batch_sharding, make_mesh, replicated
    from jaxseg.models import build_model
    from jaxseg.train.objective import make_objective

    config, _, (batch,) = _config_and_batches(args, 1)
    loss_fn, _ = make_objective(config)
    model = build_model(config.model)
    variables = model.init(jax.random.key(config.seed), batch["image"][:1], train=False)

    def gradient(module):
        def fn(params, stats, image, label):
            def loss(p):
                logits, _ = module.apply({"params": p, "batch_stats": stats}, image, train=True,
                                         mutable=["batch_stats"])
                return loss_fn(logits, label)
            return jax.grad(loss)(params)
        return fn

    grads = {}
    for devices in (1, 2, 4):
        mesh = make_mesh(devices, 1)
        step = jax.jit(gradient(model), in_shardings=(replicated(mesh), replicated(mesh), batch_sharding(mesh),
                                                      batch_sharding(mesh)), out_shardings=replicated(mesh))
        grads[str(devices)] = jax.device_get(step(variables["params"], variables["batch_stats"], batch["image"],
                                                  batch["label"]))
    jax.config.update("jax_enable_x64", True)
    exact = jax.device_get(jax.jit(gradient(model.clone(dtype=jnp.float64, param_dtype=jnp.float64)))(
        *(jax.tree.map(lambda a: np.asarray(a, np.float64), v)
          for v in (variables["params"], variables["batch_stats"])),
        batch["image"].astype(np.float64), batch["label"]))
    errors = {}
    for devices, g in grads.items():
        per_leaf, overall = relative_differences(g, exact)
        errors[devices] = {"overall": overall, "per_leaf": per_leaf}
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "configs" / "demo.py"))
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--also-1x2", action="store_true", help="also 1 process x 2 devices against 1 x 4")
    parser.add_argument("--also-1x4-gloo", action="store_true",
                        help="also 1 process x 4 devices started by the launcher (gloo collectives) against 1 x 4")
    parser.add_argument("--part", default="runs,gradients,sensitivity")
    parser.add_argument("--out", help=argparse.SUPPRESS)  # where a child process (part NAME-here) writes
    args = parser.parse_args()
    if args.part.endswith("-here"):
        run = _gradient_errors_here if args.part == "gradients-here" else _sensitivity_here
        np.savez(args.out, result=np.array(run(args), dtype=object))
        return
    payload, rows = {"config": args.config, "steps": args.steps}, []
    if "runs" in args.part:
        payload["runs"] = compare_runs(args)
        rows += [[f"parameters after {args.steps} steps, {pair}", r["overall"],
                  max(r["per_leaf"], key=r["per_leaf"].get), max(r["per_leaf"].values())]
                 for pair, r in payload["runs"].items()]
    if "gradients" in args.part:
        payload["gradients"] = on_four_devices("gradients", args)
        for devices, r in payload["gradients"].items():
            print(f"first-step float32 gradient on {devices} device(s) vs float64: overall {r['overall']:.3g}")
            rows.append([f"step-1 gradient, float32 on {devices} device(s) vs float64", r["overall"],
                         max(r["per_leaf"], key=r["per_leaf"].get), max(r["per_leaf"].values())])
    if "sensitivity" in args.part:
        payload["sensitivity"] = on_four_devices("sensitivity", args)
        for name, per_step in payload["sensitivity"].items():
            print(f"{name} vs 4 devices, parameters after each step: {' '.join(f'{v:.2g}' for v in per_step)}")
            rows.append([f"parameters after {args.steps} steps, 1 process: {name} vs 4 devices", per_step[-1], "",
                         None])
    write_results("multiprocess_equivalence", payload,
                  markdown(["comparison", "relative difference (all leaves)", "largest leaf", "its difference"], rows))


if __name__ == "__main__":
    main()
