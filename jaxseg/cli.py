"""The `jaxseg` command line: its subcommands and options, and `main`, which parses them and runs the
command (`jaxseg.commands`) with the errors users meet turned into a message and an exit status."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from jaxseg import commands
from jaxseg.config import ConfigError

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxseg", description="Medical image segmentation in JAX.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="generate CT phantoms, train a 2D U-Net, evaluate it, write a report",
                          description="Generate CT phantoms (or reuse them), train a 2D U-Net on axial slices, "
                          "evaluate the held-out cases and write WORKDIR/eval/{summary.json,summary.md,overlays.png}. "
                          "Config keys of configs/demo.py can be overridden with --config.SECTION.KEY=VALUE.")
    demo.add_argument("--workdir", default="jaxseg-demo", help="output folder (default: ./jaxseg-demo)")
    demo.set_defaults(run=commands.demo_command)

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
    train.set_defaults(run=commands.train_command)

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
    evaluate.set_defaults(run=commands.evaluate_command)

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
    predict.set_defaults(run=commands.predict_command)

    export = sub.add_parser("export", help="write a checkpoint's model as one self-contained inference file",
                            description="Write MODEL.jaxseg: the predict function serialised with jax.export "
                            "(StableHLO for CPU and CUDA, any batch size), its parameters and the preprocessing "
                            "metadata (spacing, normalisation, classes), for `jaxseg predict --model`. "
                            "--config.inference.KEY=VALUE overrides are fixed into it.")
    export.add_argument("--checkpoint", required=True, help="run folder (its best checkpoint) or a step folder")
    export.add_argument("--out", required=True, help="model file to write, e.g. model.jaxseg")
    export.set_defaults(run=commands.export_command)

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
    propagate.set_defaults(run=commands.propagate_command)

    prepare = sub.add_parser("prepare", help="read, preprocess and cache every case of a config's dataset",
                             description="Read every case of the config's dataset once, crop, resample and normalise "
                             "it (config sections data and prepare) and write memory-mappable arrays to the prepared "
                             "cache (data.cache_dir, else WORKDIR/prepared). Idempotent and safe to interrupt; cases "
                             "that cannot be read are skipped and listed (or stop it: prepare.on_error=fail).")
    prepare.add_argument("--config", required=True, help=CONFIG_HELP)
    prepare.add_argument("--workdir", help="run folder whose prepared/ holds the cache when data.cache_dir is empty")
    prepare.add_argument("--json", action="store_true",
                         help="print JSON (keys folder, cases, prepared, reused, failed)")
    prepare.set_defaults(run=commands.prepare_command)

    split = sub.add_parser("split", help="the train, val and test cases of a config's dataset",
                           description="List the case ids of the train, validation and test splits that training "
                           "and evaluation use: drawn by data.split_seed (data.num_val, data.num_test, data.folds) "
                           "or pinned by data.test_cases / data.val_cases (case names, or a text file of them).")
    split.add_argument("--config", required=True, help=CONFIG_HELP)
    split.add_argument("--workdir", default=".", help="run folder (a phantom dataset is generated in its phantom/)")
    split.add_argument("--json", action="store_true", help="print JSON (keys dataset, train, val, test)")
    split.set_defaults(run=commands.split_command)

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
    bench_data.set_defaults(run=commands.bench_data_command)

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
    planner.set_defaults(run=commands.plan_command)

    finger = sub.add_parser("fingerprint", help="per-case shapes, spacings and foreground intensities of a dataset",
                            description="Read every case of a dataset (a data config, or a Decathlon / nnU-Net raw "
                            "folder) and write fingerprint.json beside its prepared cache: per case shape, spacing, "
                            "orientation, size after cropping to the non-zero box, class voxels; per channel the "
                            "foreground intensity mean, std, median and 0.5/99.5 percentiles (nnU-Net's fingerprint).")
    finger.add_argument("--config", required=True, help="data config (configs/NAME.py or a name) or dataset folder")
    finger.add_argument("--workdir", default=".", help="where the fingerprint is cached (its prepared/ when "
                        "data.cache_dir is empty) and a phantom dataset generated")
    finger.add_argument("--json", action="store_true", help="print the fingerprint as JSON")
    finger.set_defaults(run=commands.fingerprint_command)

    info = sub.add_parser("checkpoint-info", help="step, metrics and parameter digest of a checkpoint",
                          description="Report a checkpoint's step, config name, validation metrics, parameter "
                          "count and params_digest (sha256 over every parameter array in tree order). PATH is a "
                          "run folder (its latest checkpoint), a checkpoints folder or one step's folder.")
    info.add_argument("path", help="WORKDIR, WORKDIR/checkpoints or WORKDIR/checkpoints/STEP")
    info.add_argument("--json", action="store_true", help="print JSON (keys step, params, params_digest, metrics, ...)")
    info.set_defaults(run=commands.checkpoint_info_command)

    inspect = sub.add_parser("inspect", help="geometry and intensities of an image file or DICOM folder",
                             description="Shape, dtype, spacing, affine (array index -> RAS+ mm), orientation "
                             "and intensity range of a NIfTI or NRRD file, a DICOM series folder, a DICOM SEG or "
                             "other DICOM file, or a 2D PNG/JPEG/TIFF image; DICOM adds modality, series UID and "
                             "file count.")
    inspect.add_argument("path", help="a .nii/.nii.gz/.nrrd file, a DICOM file or folder, or a .png/.jpg/.tif image")
    inspect.add_argument("--json", action="store_true", help="print JSON (keys shape, dtype, spacing, affine, "
                         "orientation, intensity_range; DICOM: modality, series_uid, num_files)")
    inspect.set_defaults(run=commands.inspect_command)

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
    info.set_defaults(run=commands.model_info_command)
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
