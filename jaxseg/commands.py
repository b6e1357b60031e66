"""What each `jaxseg` subcommand does with its parsed arguments: call the library and print the result.

Each returns the exit status. Heavy modules (JAX, the models) are imported inside each command, so
that `--help` and config errors answer at once. The command line itself is `jaxseg.cli`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jaxseg.config import ConfigError, load_config


def demo_command(args: argparse.Namespace, overrides: list[str]) -> int:
    from jaxseg.demo import run_demo

    run_demo(args.workdir, overrides)
    return 0


def train_command(args: argparse.Namespace, overrides: list[str]) -> int:
    config = load_config(args.config, overrides)
    from jaxseg.train.distributed import initialize_distributed

    initialize_distributed(args.coordinator, args.num_processes, args.process_id, args.coordinator_timeout)
    import jax

    from jaxseg.train.loop import fit

    fit(config, args.workdir, progress=jax.process_index() == 0,
        resume_with_changed_config=args.resume_with_changed_config)
    if jax.process_index() == 0:
        print(f"checkpoints and metrics.jsonl are in {args.workdir}")
    return 0


def prepare_command(args: argparse.Namespace, overrides: list[str]) -> int:
    config = load_config(args.config, overrides)
    from jaxseg.data.datasets import prepare_all

    summary = prepare_all(config, args.workdir, progress=True).to_json()
    status = 1 if summary["failed"] else 0  # Only a complete cache is a success.
    if args.json:
        print(json.dumps(summary, indent=2))
        return status
    print(f"{summary['folder']}: {summary['cases']} cases, {len(summary['prepared'])} prepared now, "
          f"{len(summary['reused'])} already complete, {len(summary['failed'])} failed ({summary['seconds']:.1f} s)")
    for case_id, error in summary["failed"].items():
        print(f"  failed {case_id}: {error}")
    if status:
        print(f"jaxseg: {len(summary['failed'])} of {summary['cases']} cases could not be prepared", file=sys.stderr)
    return status


def split_command(args: argparse.Namespace, overrides: list[str]) -> int:
    config = load_config(args.config, overrides)
    from jaxseg.split import format_split, split_listing

    listing = split_listing(config, args.workdir)
    print(json.dumps(listing, indent=2) if args.json else format_split(listing))
    return 0


def bench_data_command(args: argparse.Namespace, overrides: list[str]) -> int:
    import tempfile

    config = load_config(args.config, overrides)
    from jaxseg.bench import bench_data

    with tempfile.TemporaryDirectory(prefix="jaxseg-bench-") as scratch:
        result = bench_data(config, args.workdir or scratch, batches=args.batches, steps=args.steps)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['sampler']} samples {result['sample_shape']}, batch {result['batch_size']}, "
          f"{result['workers']} workers, {result['devices']}")
    print(f"  input pipeline  {result['data_samples_per_s']:10.1f} samples/s  {result['data_mb_per_s']:.1f} MB/s")
    print(f"  train step      {result['train_samples_per_s']:10.1f} samples/s")
    print(f"  ratio           {result['ratio']:10.2f}  (> 1: the pipeline keeps up)")
    return 0


def _fingerprint(dataset: str, workdir: str, overrides: list[str]):
    from jaxseg.config.loading import apply_override
    from jaxseg.data.datasets import read_index
    from jaxseg.planning.fingerprint import cached_fingerprint
    from jaxseg.planning.planner import data_config_from

    config = data_config_from(dataset)
    for override in overrides:
        apply_override(config, override)
    return config, *cached_fingerprint(config, workdir, read_index(config, workdir))


def fingerprint_command(args: argparse.Namespace, overrides: list[str]) -> int:
    _, fingerprint, path = _fingerprint(args.config, args.workdir, overrides)
    if args.json:
        print(json.dumps(fingerprint, indent=2))
        return 0
    print(f"{path}: {fingerprint['num_cases']} cases, channels {fingerprint['channels']}, "
          f"median cropped size {fingerprint['median_relative_size_after_crop']:.3f} of the image")
    for stats in fingerprint["foreground_intensity"]:
        print(f"  channel {stats['channel']} ({stats['modality']}): foreground mean {stats['mean']:.4g}, std "
              f"{stats['std']:.4g}, 0.5/99.5 percentiles {stats['percentile_00_5']:.4g}/{stats['percentile_99_5']:.4g}")
    print(f"  class fractions {[round(f, 5) for f in fingerprint['class_fraction']]}")
    return 0


def plan_dataset_command(args: argparse.Namespace, overrides: list[str]) -> int:
    from jaxseg.plan import parse_bytes
    from jaxseg.planning.planner import plan_from_fingerprint, plan_summary, write_plans

    budget = parse_bytes(args.budget)
    config, fingerprint, path = _fingerprint(args.dataset, args.workdir, overrides)
    out = args.out or f"{config.name}_auto"
    plans = plan_from_fingerprint(fingerprint, config, budget, Path(out).name)
    command = f"jaxseg plan --dataset {args.dataset} --budget {args.budget} --out {out}"
    written = write_plans(plans, out, budget, path, command)
    if args.json:
        print(json.dumps({stage: {**p.decisions, "config": str(written[stage])} for stage, p in plans.items()},
                         indent=2))
        return 0
    print(plan_summary(plans))
    for stage, file in written.items():
        print(f"wrote {file}")
    return 0


def plan_command(args: argparse.Namespace, overrides: list[str]) -> int:
    if args.dataset:
        return plan_dataset_command(args, overrides)
    config = load_config(args.config, overrides)
    from jaxseg.models.info import parse_input_shape
    from jaxseg.plan import format_plan, parse_bytes, plan

    shape = parse_input_shape(args.shape) if args.shape else None
    result = plan(config, parse_bytes(args.budget), shape, patch=args.patch, steps=args.steps,
                  confirm=False if args.no_confirm else None)
    print(json.dumps(result, indent=2) if args.json else format_plan(result))
    return 0


def checkpoint_info_command(args: argparse.Namespace, overrides: list[str]) -> int:
    from jaxseg.train.checkpoint_info import checkpoint_info

    info = checkpoint_info(args.path)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['path']}: step {info['step']} of config '{info['config_name']}'")
    print(f"  parameters  {info['params']:,}  sha256 {info['params_digest']}")
    print(f"  metrics     {info['metrics']}")
    return 0


def evaluate_command(args: argparse.Namespace, overrides: list[str]) -> int:
    from jaxseg.evaluate import evaluate_runs
    from jaxseg.tasks import get_task

    runs = args.workdir or [args.checkpoint]
    if args.checkpoint and args.workdir:
        raise ConfigError("give --workdir (one or more) or --checkpoint, not both")
    summary = evaluate_runs(runs, args.split, args.out, overrides=overrides, data=args.data,
                            prediction_format=args.format)
    print(get_task(summary["task"]).format_report(summary))
    print(f"report: {args.out or Path(runs[0]) / 'eval'}/summary.json")
    if summary.get("n_failed"):  # The means cover fewer cases than the split holds.
        print(f"jaxseg: {summary['n_failed']} of {summary['n_cases'] + summary['n_failed']} cases could not be "
              "evaluated (failed_cases in summary.json)", file=sys.stderr)
        return 1
    return 0


def predict_command(args: argparse.Namespace, overrides: list[str]) -> int:
    if args.model:
        if overrides:
            raise ConfigError("an exported model's settings are fixed: give --config overrides to `jaxseg export`")
        from jaxseg.export import predict_with_model

        print(f"wrote {predict_with_model(args.model, args.input, args.output, args.format)}")
        return 0
    from jaxseg.tasks import get_task
    from jaxseg.train.restore import restore

    run = restore(args.checkpoint, overrides=overrides)
    print(f"wrote {get_task(run.config.task).predict(run, Path(args.input), Path(args.output), args.format)}")
    return 0


def export_command(args: argparse.Namespace, overrides: list[str]) -> int:
    from jaxseg.export import export_model

    print(f"wrote {export_model(args.checkpoint, args.out, overrides)}")
    return 0


def propagate_command(args: argparse.Namespace, overrides: list[str]) -> int:
    from jaxseg.propagate import propagate_file

    path = propagate_file(args.checkpoint, args.input, args.start_slice, args.start_mask, args.output,
                          args.corrections, args.label, overrides)
    print(f"wrote {path}")
    return 0


def inspect_command(args: argparse.Namespace, overrides: list[str]) -> int:
    from jaxseg.io import describe, format_description

    info = describe(args.path)
    print(json.dumps(info, indent=2) if args.json else format_description(info))
    return 0


def model_info_command(args: argparse.Namespace, overrides: list[str]) -> int:
    from jaxseg.models.info import format_model_info, model_info, parse_input_shape

    if (args.preset is None) == (args.config is None) or (overrides and not args.config):
        raise ConfigError("model-info takes a PRESET or --config FILE (with its --config.KEY=VALUE overrides)")
    if args.config:
        from jaxseg.plan import trained_network_info

        info = trained_network_info(load_config(args.config, overrides),
                                    parse_input_shape(args.input_shape) if args.input_shape else None)
        print(json.dumps(info, indent=2) if args.json else format_model_info(info))
        return 0
    try:
        info = model_info(args.preset, parse_input_shape(args.input_shape) if args.input_shape else None)
    except ValueError as err:
        print(f"jaxseg: error: model-info {args.preset}: {err}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2) if args.json else format_model_info(info))
    return 0
