"""The segmentation task: a network per voxel class (the U-Nets, FPN, baselines of seeds 000-003),
trained on slices, blocks or volumes, validated and evaluated on whole cases."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jaxseg.config import ConfigError
from jaxseg.config.checks import check_segmentation_model
from jaxseg.core.mesh import local_batch_size, local_mesh
from jaxseg.core.state import TrainState
from jaxseg.data.cases import LoadedCase
from jaxseg.data.datasets import load_cases, open_dataset
from jaxseg.data.folders import class_labels
from jaxseg.data.pipeline import TrainingData, training_data
from jaxseg.evaluate import evaluate_label_maps
from jaxseg.inference import average_probabilities
from jaxseg.inference.predictor import Predictor
from jaxseg.inference.segment import label_map
from jaxseg.metrics import dice_score, iou_score, markdown_table
from jaxseg.models.facts import NetworkFacts
from jaxseg.predict import predict_file
from jaxseg.tasks.base import Restored, Training
from jaxseg.tasks.registry import register_task
from jaxseg.train.augment import compile_augmentation, with_augmentation
from jaxseg.train.build import build_segmentation_state
from jaxseg.train.distributed import per_case_over_processes, process_zero_first
from jaxseg.train.objective import make_objective
from jaxseg.train.step import compile_train_step

log = logging.getLogger(__name__)


class SegmentationTask:
    """Voxel classification. Validation: mean foreground Dice and IoU over whole held-out cases."""

    inference_keys = ("inference.", "evaluate.")
    # Whether the model predicts the dataset's classes (propagation: one object at a time).
    same_classes = True

    def check_config(self, config: ml_collections.ConfigDict) -> None:
        if config.data.sampler == "pairs":
            raise ConfigError("config key 'data.sampler' = 'pairs' trains slice propagation: set task = 'propagation'")
        check_segmentation_model(config)

    def best_metric(self, config: ml_collections.ConfigDict) -> str:
        return f"val_{config.train.best_metric}"

    def splits(self, config: ml_collections.ConfigDict, workdir: Path) -> tuple[Path, dict]:
        index, splits = open_dataset(config, workdir, self.same_classes)
        return index.root, splits

    def build_state(self, config: ml_collections.ConfigDict, mesh: Mesh,
                    sample_shape: tuple[int, ...] | None = None) -> TrainState:
        return build_segmentation_state(config, mesh, sample_shape)

    def compile_step(self, config: ml_collections.ConfigDict, mesh: Mesh, class_voxels: Sequence[np.ndarray],
                     data: TrainingData | None = None):
        """The compiled train step with the configured loss (class weights from `class_voxels`, one
        count per class of each training case) and, with augment.device, the device augmentation."""
        loss_fn, forward_with_labels = make_objective(config, class_voxels)
        step = compile_train_step(loss_fn, mesh, config.train.grad_accum_steps, forward_with_labels,
                                  config.train.exact_reductions)
        if data is not None and data.device_augmentation is not None:
            step = with_augmentation(step, compile_augmentation(data.device_augmentation, mesh))
        return step

    def training(self, config: ml_collections.ConfigDict, workdir: Path, mesh: Mesh, say: Callable[[str], None],
                 validation: bool = True) -> Training:
        tic = time.perf_counter()
        with process_zero_first("jaxseg-prepare-dataset"):  # one process writes the phantoms and the cache
            index, splits = open_dataset(config, workdir, self.same_classes)
            say(f"preparing {len(splits['train'])} training cases of {index.root}")
            data = training_data(config, workdir, index, splits["train"], NetworkFacts.of(config).pad_multiple)
        done = data.prepared
        say(f"{len(data.cases)} training cases ready in {time.perf_counter() - tic:.1f} s ({len(done.prepared)} "
            f"prepared now, {len(done.reused)} reused, {len(done.failed)} failed; cache {done.folder})")
        validate = None
        if validation:
            tic = time.perf_counter()
            val_cases = load_cases(splits["val"], config, index, name="validation cases")
            say(f"{len(val_cases)} validation cases read in {time.perf_counter() - tic:.1f} s")
            validate = self.validator(config, val_cases) if val_cases else None
            log.info("%s; %d validation cases", data.description, len(val_cases))
        local_batch = local_batch_size(config, mesh, data.sample_shape)
        batches = data.batches(local_batch, seed=config.seed, workers=config.data.workers,
                               shard_index=jax.process_index(), shard_count=jax.process_count())
        step = self.compile_step(config, mesh, [case.class_voxels for case in data.cases], data)
        return Training(self.build_state(config, mesh, data.sample_shape), batches, step, validate, len(data.cases),
                        mesh)

    def validator(self, config: ml_collections.ConfigDict,
                  cases: list[LoadedCase]) -> Callable[[TrainState], dict[str, float]]:
        """state -> {"val_dice", "val_iou"}: means over cases and foreground classes of whole-case
        predictions; each process predicts its share of the cases on its own devices."""
        holder: dict[str, Predictor] = {}
        classes = config.model.num_classes - 1

        def validate(state: TrainState) -> dict[str, float]:
            predictor = holder.get("predictor")
            predictor = (predictor.with_state(state) if predictor else Predictor.create(config, state, local_mesh()))
            holder["predictor"] = predictor  # one compilation for every validation of the run

            def scores(i: int) -> np.ndarray:
                labels, _ = predictor.segment(cases[i].image, cases[i].pad_value)
                truth = cases[i].label.array
                return np.array([f(labels == c, truth == c) for f in (dice_score, iou_score)
                                 for c in range(1, classes + 1)])

            table = per_case_over_processes(len(cases), scores, 2 * classes)
            return {"val_dice": float(np.mean(table[:, :classes])), "val_iou": float(np.mean(table[:, classes:]))}

        return validate

    def evaluate(self, runs: Sequence[Restored], workdir: Path, split: str, out: Path, data: str | Path | None,
                 progress: bool, prediction_format: str = "label-map") -> dict:
        """`evaluate_label_maps` of each case's label map; several runs (2D models trained on the
        axial, coronal and sagittal planes, seed 000) are fused by averaging their class probabilities
        before the arg-max."""
        predictors = [Predictor.create(r.config, r.state, local_mesh()) for r in runs]

        def fused(case: LoadedCase) -> np.ndarray:
            probabilities = [p.segment(case.image, case.pad_value)[1] for p in predictors]
            return label_map(average_probabilities(probabilities), runs[0].config.inference, predictors[0].facts.head)

        return evaluate_label_maps(runs, workdir, split, out, data, progress, fused,
                                   prediction_format=prediction_format)

    def format_report(self, summary: dict) -> str:
        return markdown_table(summary)

    def predict(self, run: Restored, input_path: Path, output_path: Path, output_format: str | None = None) -> Path:
        return predict_file(Predictor.create(run.config, run.state, local_mesh()), input_path, output_path,
                            class_labels(tuple(run.config.layout.class_names), run.config.model.num_classes),
                            output_format, run.step)


register_task("segmentation", SegmentationTask())
