"""The `jaxseg` command. Parses the command line and calls the library; no logic of its own.

Heavy modules (JAX, the models) are imported inside each subcommand, so that `--help` and
config errors answer at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from jaxseg.config import ConfigError, load_config

CONFIG_HELP = (
    "config file (configs/NAME.py, or a name in configs/); override any key with "
    "--config.SECTION.KEY=VALUE, for example --config.train.steps=200"
)


def _split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate `--config.a.b=value` (or `--config.a.b value`) overrides from the other arguments."""
    rest, overrides = [], []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg.startswith("--config."):
            key = arg[len("--config."):]
            if "=" not in key:
                if not args:
                    raise ConfigError(f"override '{arg}' has no value")
                key = f"{key}={args.pop(0)}"
            overrides.append(key)
        else:
            rest.append(arg)
    return rest, overrides


def _cmd_demo(args: argparse.Namespace, overrides: list[str]) -> int:
    from jaxseg.demo import run_demo

    run_demo(args.workdir, overrides)
    return 0


def _cmd_train(args: argparse.Namespace, overrides: list[str]) -> int:
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


def _cmd_prepare(args: argparse.Namespace, overrides: list[str]) -> int:
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


def _cmd_split(args: argparse.Namespace, overrides: list[str]) -> int:
    config = load_config(args.config, overrides)
    from jaxseg.split import format_split, split_listing

    listing = split_listing(config, args.workdir)
    print(json.dumps(listing, indent=2) if args.json else format_split(listing))
    return 0


def _cmd_bench_data(args: argparse.Namespace, overrides: list[str]) -> int:
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


def _cmd_fingerprint(args: argparse.Namespace, overrides: list[str]) -> int:
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


def _cmd_plan_dataset(args: argparse.Namespace, overrides: list[str]) -> int:
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


def _cmd_plan(args: argparse.Namespace, overrides: list[str]) -> int:
    if args.dataset:
        return _cmd_plan_dataset(args, overrides)
    config = load_config(args.config, overrides)
    from jaxseg.models.info import parse_input_shape
    from jaxseg.plan import format_plan, parse_bytes, plan

    shape = parse_input_shape(args.shape) if args.shape else None
    result = plan(config, parse_bytes(args.budget), shape, patch=args.patch, steps=args.steps,
                  confirm=False if args.no_confirm else None)
    print(json.dumps(result, indent=2) if args.json else format_plan(result))
    return 0


def _cmd_checkpoint_info(args: argparse.Namespace, overrides: list[str]) -> int:
    from jaxseg.train.checkpoint_info import checkpoint_info

    info = checkpoint_info(args.path)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['path']}: step {info['step']} of config '{info['config_name']}'")
    print(f"  parameters  {info['params']:,}  sha256 {info['params_digest']}")
    print(f"  metrics     {info['metrics']}")
    return 0


def _cmd_evaluate(args: argparse.Namespace, overrides: list[str]) -> int:
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


def _cmd_predict(args: argparse.Namespace, overrides: list[str]) -> int:
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


def _cmd_export(args: argparse.Namespace, overrides: list[str]) -> int:
    from jaxseg.export import export_model

    print(f"wrote {export_model(args.checkpoint, args.out, overrides)}")
    return 0


def _cmd_propagate(args: argparse.Namespace, overrides: list[str]) -> int:
    from jaxseg.propagate import propagate_file

    path = propagate_file(args.checkpoint, args.input, args.start_slice, args.start_mask, args.output,
                          args.corrections, args.label, overrides)
    print(f"wrote {path}")
    return 0


def _cmd_inspect(args: argparse.Namespace, overrides: list[str]) -> int:
    from jaxseg.io import describe, format_description

    info = describe(args.path)
    print(json.dumps(info, indent=2) if args.json else format_description(info))
    return 0


def _cmd_model_info(args: argparse.Namespace, overrides: list[str]) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxseg", description="Medical image segmentation in JAX.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="generate CT phantoms, train a 2D U-Net, evaluate it, write a report",
                          description="Generate CT phantoms (or reuse them), train a 2D U-Net on axial slices, "
                          "evaluate the held-out cases and write WORKDIR/eval/{summary.json,summary.md,overlays.png}. "
                          "Config keys of configs/demo.py can be overridden with --config.SECTION.KEY=VALUE.")
    demo.add_argument("--workdir", default="jaxseg-demo", help="output folder (default: ./jaxseg-demo)")
    demo.set_defaults(run=_cmd_demo)

    train = sub.add_parser("train", help="train a model from a config",
                           description="Train from a config; resumes from WORKDIR/checkpoints when present.")
    train.add_argument("--config", required=True, help=CONFIG_HELP)
    train.add_argument("--workdir", required=True, help="run folder: checkpoints/, metrics.jsonl")
    train.add_argument("--resume-with-changed-config", action="store_true",
                       help="continue the run in WORKDIR although the config differs from its checkpoints' in keys "
                       "safe to change on resume (intervals, learning rate, data.workers); train.steps never needs it")
    multi = train.add_argument_group("multi-process jobs (detected automatically under SLURM)")
    multi.add_argument("--coordinator", help="HOST:PORT of process 0's coordinator")
    multi.add_argument("--num-processes", type=int, help="number of processes in the job")
    multi.add_argument("--process-id", type=int, help="this process's index in [0, num-processes)")
    multi.add_argument("--coordinator-timeout", type=int, default=300, help="seconds to wait for all processes")
    train.set_defaults(run=_cmd_train)

    evaluate = sub.add_parser("evaluate", help="evaluate a run's checkpoint on held-out cases",
                              description="Restore a run's best checkpoint and its config, segment every case of "
                              "the split as a whole volume and write summary.json, summary.md, overlays.png and "
                              "predictions/CASE.nii.gz. With several --workdir, their probabilities are averaged "
                              "(multi-plane fusion). A slice-propagation run is scored by seed 004's simulated "
                              "corrections: each organ propagated from its middle slice, then with reference slices "
                              "every p of its extent (propagation.correction_fractions): summary.json's propagation "
                              "section, propagation.csv and propagation.png; its predictions are the one-shot masks.")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--workdir", action="append", help="run folder written by `jaxseg train` (repeatable)")
    source.add_argument("--checkpoint", help="a checkpoints folder or one step's folder")
    evaluate.add_argument("--split", default="test", choices=("train", "val", "test"), help="default: test")
    evaluate.add_argument("--data", metavar="DATASET", help="score every labelled case of this dataset folder instead "
                          "(the run's preprocessing; its layout: the run's data.source and layout.*, which "
                          "--config.data.source=... and --config.layout.KEY=... change)")
    evaluate.add_argument("--out", help="report folder (default: WORKDIR/eval)")
    evaluate.add_argument("--format", choices=("label-map", "dicom-seg"), default="label-map",
                          help="predictions/CASE.nii.gz (default), or predictions/CASE.dcm: a DICOM SEG referencing "
                          "the case's series (a dicom_folders dataset)")
    evaluate.set_defaults(run=_cmd_evaluate)

    predict = sub.add_parser("predict", help="segment one image file with a checkpoint",
                             description="Segment a NIfTI volume or a DICOM series folder and write the label map "
                             "as NIfTI in the input's geometry, so it overlays the input in 3D Slicer or ITK-SNAP; or "
                             "segment a 2D image (PNG, JPEG, TIFF, a DICOM radiograph) into a PNG label map of its "
                             "size. "
                             "A DICOM series with a .dcm output gives a DICOM SEG that references the series.")
    model = predict.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", help="run folder (its best checkpoint) or a step folder")
    model.add_argument("--model", help="a MODEL.jaxseg file written by `jaxseg export` (no config, no training code)")
    predict.add_argument("input", help="a .nii or .nii.gz volume, a DICOM series folder, or a 2D image "
                                       "(.png, .jpg, .tif, .dcm)")
    predict.add_argument("output", help="label map to write (.nii.gz for volumes, .png for 2D images; .dcm: a "
                                        "DICOM SEG of a DICOM series)")
    predict.add_argument("--format", choices=("label-map", "dicom-seg", "dicom-seg-fractional"),
                         help="default: dicom-seg (BINARY) for a DICOM series and a .dcm output, else label-map; "
                         "dicom-seg-fractional: class probabilities (FRACTIONAL)")
    predict.set_defaults(run=_cmd_predict)

    export = sub.add_parser("export", help="write a checkpoint's model as one self-contained inference file",
                            description="Write MODEL.jaxseg: the predict function serialised with jax.export "
                            "(StableHLO for CPU and CUDA, any batch size), its parameters and the preprocessing "
                            "metadata (spacing, normalisation, classes), for `jaxseg predict --model`. "
                            "--config.inference.KEY=VALUE overrides are fixed into it.")
    export.add_argument("--checkpoint", required=True, help="run folder (its best checkpoint) or a step folder")
    export.add_argument("--out", required=True, help="model file to write, e.g. model.jaxseg")
    export.set_defaults(run=_cmd_export)

    propagate = sub.add_parser("propagate", help="segment one object through a volume from one annotated slice",
                               description="Seed 004's slice propagation: a slice-propagation checkpoint (trained "
                               "with data.sampler = pairs) segments the object marked on one slice, then each next "
                               "slice outwards from the previous one's mask, in both directions. Slices are those "
                               "of the model's data.plane, numbered from the patient's inferior (axial), posterior "
                               "(coronal) or left (sagittal) side. Writes the object's mask as NIfTI in INPUT's "
                               "geometry. Overrides: --config.propagation.stop_after_empty=N stops a direction after "
                               "N empty slices; --config.inference.threshold=P keeps pixels whose foreground "
                               "probability reaches P "
                               "(default 0.5).")
    propagate.add_argument("--checkpoint", required=True, help="run folder (its best checkpoint) or a step folder")
    propagate.add_argument("input", help="a .nii or .nii.gz volume, or a DICOM series folder")
    propagate.add_argument("--start-slice", type=int, required=True, metavar="N", help="index of the annotated slice")
    propagate.add_argument("--start-mask", required=True, metavar="MASK",
                           help="the object on slice N: a label file on INPUT's grid (NIfTI, NRRD, DICOM SEG; slice "
                           "N of it is read) or a 2D PNG/TIFF mask of slice N as displayed (axial: anterior up, the "
                           "patient's right on the left)")
    propagate.add_argument("--label", type=int, help="label value of the object in the masks (default: any non-zero "
                           "value); also the value written (default 1)")
    propagate.add_argument("--corrections", metavar="DIR", help="folder of corrected slices named by index (17.png, "
                           "17.nii.gz), masks like MASK; each is kept and propagation restarts outward from it")
    propagate.add_argument("output", help="mask to write (.nii.gz)")
    propagate.set_defaults(run=_cmd_propagate)

    prepare = sub.add_parser("prepare", help="read, preprocess and cache every case of a config's dataset",
                             description="Read every case of the config's dataset once, crop, resample and normalise "
                             "it (config sections data and prepare) and write memory-mappable arrays to the prepared "
                             "cache (data.cache_dir, else WORKDIR/prepared). Idempotent and safe to interrupt; cases "
                             "that cannot be read are skipped and listed (or stop it: prepare.on_error=fail).")
    prepare.add_argument("--config", required=True, help=CONFIG_HELP)
    prepare.add_argument("--workdir", help="run folder whose prepared/ holds the cache when data.cache_dir is empty")
    prepare.add_argument("--json", action="store_true",
                         help="print JSON (keys folder, cases, prepared, reused, failed)")
    prepare.set_defaults(run=_cmd_prepare)

    split = sub.add_parser("split", help="the train, val and test cases of a config's dataset",
                           description="List the case ids of the train, validation and test splits that training "
                           "and evaluation use: drawn by data.split_seed (data.num_val, data.num_test, data.folds) "
                           "or pinned by data.test_cases / data.val_cases (case names, or a text file of them).")
    split.add_argument("--config", required=True, help=CONFIG_HELP)
    split.add_argument("--workdir", default=".", help="run folder (a phantom dataset is generated in its phantom/)")
    split.add_argument("--json", action="store_true", help="print JSON (keys dataset, train, val, test)")
    split.set_defaults(run=_cmd_split)

    bench = sub.add_parser("bench", help="throughput measurements").add_subparsers(dest="what", required=True,
                                                                                  metavar="WHAT")
    bench_data = bench.add_parser("data", help="input pipeline samples/s next to the model's train step",
                                  description="Samples/s and MB/s of the configured sampler with data.workers grain "
                                  "workers, next to the samples/s of the configured model's train step on this "
                                  "machine, and their ratio (> 1: the pipeline keeps the devices fed).")
    bench_data.add_argument("--config", required=True, help=CONFIG_HELP)
    bench_data.add_argument("--workdir", help="where the dataset cache goes (default: a temporary folder)")
    bench_data.add_argument("--batches", type=int, default=20, help="pipeline batches timed (default 20)")
    bench_data.add_argument("--steps", type=int, default=10, help="train steps timed (default 10)")
    bench_data.add_argument("--json", action="store_true", help="print JSON (keys data_samples_per_s, "
                            "data_mb_per_s, train_samples_per_s, ratio, ...)")
    bench_data.set_defaults(run=_cmd_bench_data)

    planner = sub.add_parser("plan", help="largest batch (or patch) whose train step fits a memory budget",
                             description="Search the largest global batch (with --patch: the largest cubic or square "
                             "input at data.batch_size) whose train step fits BUDGET per device, by XLA's compiled "
                             "memory analysis on this backend (a CPU plan is only indicative of a GPU's), then time "
                             "a few steps at that size. On a GPU the answer is confirmed by running it in a "
                             "subprocess with JAX's memory pool capped to the budget.")
    source = planner.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help=CONFIG_HELP)
    source.add_argument("--dataset", help="plan from a dataset instead: a data config (configs/NAME.py) or a "
                        "Decathlon / nnU-Net raw folder; fingerprints it (cached) and writes OUT_2d.py and OUT_3d.py, "
                        "nnU-Net's rules with patch and batch from XLA's memory analysis")
    planner.add_argument("--out", help="with --dataset: path and name prefix of the configs (default NAME_auto)")
    planner.add_argument("--workdir", default=".", help="with --dataset: where the fingerprint is cached (its "
                         "prepared/ when data.cache_dir is empty) and a phantom dataset generated")
    planner.add_argument("--budget", required=True, help="memory per device, such as 8GiB, 8GB or 512MiB")
    planner.add_argument("--shape", help="spatial input size, such as 512,512 or 96,96,96 (default: "
                         "sampling.block_shape for blocks, the phantom's slice size for phantom slices)")
    planner.add_argument("--patch", action="store_true", help="search the patch size at data.batch_size instead")
    planner.add_argument("--steps", type=int, default=3, help="train steps timed at the answer (default 3; 0: none)")
    planner.add_argument("--no-confirm", action="store_true", help="on a GPU, skip the capped confirmation run")
    planner.add_argument("--json", action="store_true", help="print JSON (keys budget_bytes, max_batch, peak_bytes, "
                         "fits, spatial_shape, samples_per_s, confirmed, ...)")
    planner.set_defaults(run=_cmd_plan)

    finger = sub.add_parser("fingerprint", help="per-case shapes, spacings and foreground intensities of a dataset",
                            description="Read every case of a dataset (a data config, or a Decathlon / nnU-Net raw "
                            "folder) and write fingerprint.json beside its prepared cache: per case shape, spacing, "
                            "orientation, size after cropping to the non-zero box, class voxels; per channel the "
                            "foreground intensity mean, std, median and 0.5/99.5 percentiles (nnU-Net's fingerprint).")
    finger.add_argument("--config", required=True, help="data config (configs/NAME.py or a name) or dataset folder")
    finger.add_argument("--workdir", default=".", help="where the fingerprint is cached (its prepared/ when "
                        "data.cache_dir is empty) and a phantom dataset generated")
    finger.add_argument("--json", action="store_true", help="print the fingerprint as JSON")
    finger.set_defaults(run=_cmd_fingerprint)

    info = sub.add_parser("checkpoint-info", help="step, metrics and parameter digest of a checkpoint",
                          description="Report a checkpoint's step, config name, validation metrics, parameter "
                          "count and params_digest (sha256 over every parameter array in tree order). PATH is a "
                          "run folder (its latest checkpoint), a checkpoints folder or one step's folder.")
    info.add_argument("path", help="WORKDIR, WORKDIR/checkpoints or WORKDIR/checkpoints/STEP")
    info.add_argument("--json", action="store_true", help="print JSON (keys step, params, params_digest, metrics, ...)")
    info.set_defaults(run=_cmd_checkpoint_info)

    inspect = sub.add_parser("inspect", help="geometry and intensities of an image file or DICOM folder",
                             description="Shape, dtype, spacing, affine (array index -> RAS+ mm), orientation "
                             "and intensity range of a NIfTI or NRRD file, a DICOM series folder, a DICOM SEG or "
                             "other DICOM file, or a 2D PNG/JPEG/TIFF image; DICOM adds modality, series UID and "
                             "file count.")
    inspect.add_argument("path", help="a .nii/.nii.gz/.nrrd file, a DICOM file or folder, or a .png/.jpg/.tif image")
    inspect.add_argument("--json", action="store_true", help="print JSON (keys shape, dtype, spacing, affine, "
                         "orientation, intensity_range; DICOM: modality, series_uid, num_files)")
    inspect.set_defaults(run=_cmd_inspect)

    info = sub.add_parser("model-info", help="parameters, output shape, FLOPs and receptive field of a model preset "
                          "or of the network a config trains",
                          description="Parameter and batch-norm statistics counts, output shape(s), forward FLOPs "
                          "per sample (XLA cost analysis) and receptive field of a preset, or with --config of the "
                          "network that config trains (its preset with the config's model options, head, classes "
                          "and channels), for one input.")
    info.add_argument("preset", metavar="PRESET", nargs="?", help="a preset of jaxseg.models.PRESETS, such as "
                      "pig_ct_2d (an unknown name lists them)")
    info.add_argument("--config", help=CONFIG_HELP + " (instead of PRESET)")
    info.add_argument("--input-shape", help="D,H,W,C or H,W,C (default: the config's training input, else the "
                      "preset's reference input)")
    info.add_argument("--json", action="store_true",
                      help="print JSON (keys params, batch_stats, output_shape, flops_per_sample, receptive_field, "
                      "...)")
    info.set_defaults(run=_cmd_model_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        rest, overrides = _split_overrides(argv)
    except ConfigError as err:
        print(f"jaxseg: error: {err}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(rest)
    if overrides and args.command not in ("train", "demo", "evaluate", "predict", "export", "propagate", "prepare",
                                          "bench", "plan", "split", "model-info", "fingerprint"):
        parser.error(f"{args.command} takes no --config overrides")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("absl").setLevel(logging.INFO if args.verbose else logging.WARNING)
    from jaxseg.io import ReadError
    from jaxseg.train.signals import TrainingInterrupted

    try:
        return args.run(args, overrides)
    except TrainingInterrupted as stop:
        print(f"jaxseg: {stop}", file=sys.stderr)
        return 128 + stop.signum
    except (ConfigError, ReadError, OSError, RuntimeError, ValueError,  # OSError: a full disk, a lost mount
            FloatingPointError) as err:
        if args.verbose:
            raise
        print(f"jaxseg: error: {err}", file=sys.stderr)
        return 2
