"""The propagation task (seed 004): a 2-class network on [image slice, prior mask of a
neighbouring slice] pairs, validated and evaluated by propagating each organ from one annotated
slice through whole volumes (`jaxseg.inference.propagation`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import ml_collections
import numpy as np

from jaxseg.config import ConfigError
from jaxseg.config.checks import check_segmentation_model
from jaxseg.core.state import TrainState
from jaxseg.data.cases import LoadedCase
from jaxseg.data.datasets import read_index
from jaxseg.evaluate import evaluate_label_maps
from jaxseg.evaluate_propagation import PropagationEvaluation
from jaxseg.inference.propagation_model import model_mask_step, one_shot_dice, organ_slices, propagation_classes
from jaxseg.models.facts import NetworkFacts
from jaxseg.tasks.base import Restored
from jaxseg.tasks.registry import register_task
from jaxseg.tasks.segmentation import SegmentationTask
from jaxseg.train.distributed import per_case_over_processes


class PropagationTask(SegmentationTask):
    """Segmentation's data pipeline (the pairs sampler), state and train step; its own validation
    (mean one-shot Dice), evaluation (simulated-correction curves) and prediction (`jaxseg propagate`)."""

    inference_keys = ("inference.", "evaluate.", "propagation.")
    same_classes = False  # One object at a time: the model has 2 classes whatever the dataset's.

    def check_config(self, config: ml_collections.ConfigDict) -> None:
        if config.data.sampler != "pairs":
            raise ConfigError(f"config key 'data.sampler' = {config.data.sampler!r} must be 'pairs' for task = "
                              "'propagation': the model learns from [slice, neighbouring mask] pairs")
        if config.model.num_classes != 2:
            raise ConfigError(f"config key 'model.num_classes' = {config.model.num_classes} must be 2 for task = "
                              "'propagation': each sample segments one object")
        if config.train.best_metric != "dice":
            raise ConfigError(f"config key 'train.best_metric' = {config.train.best_metric!r} must be 'dice' for "
                              "task = 'propagation': propagation is validated by one-shot Dice")
        if config.prepare.spacing_mm or config.prepare.slice_size or config.prepare.crop != "none":
            # Validation, evaluation and `jaxseg propagate` propagate on each file's own grid
            # (organ_slices), so a model trained on resampled, resized or cropped slices would meet
            # another scale (or field of view) at inference.
            raise ConfigError("config keys 'prepare.spacing_mm', 'prepare.slice_size' and 'prepare.crop' must keep "
                              "their defaults for task = 'propagation': propagation predicts on each file's own grid")
        if config.augment.device:
            raise ConfigError("config key 'augment.device' = True applies to the slices, blocks and volumes samplers "
                              "of segmentation, not to task = 'propagation': set it to False")
        check_segmentation_model(config, thresholds_foreground=True)

    def validator(self, config: ml_collections.ConfigDict,
                  cases: list[LoadedCase]) -> Callable[[TrainState], dict[str, float]]:
        """state -> {"val_dice"}: the mean one-shot Dice over the (case, organ) pairs of the cases
        (`propagation_classes`); each process propagates its share of the cases."""
        organs = sorted({v for case in cases for v in propagation_classes(config, np.unique(case.label.array))})
        if not organs:
            raise ValueError(f"no validation case holds any organ to propagate (config keys 'propagation.classes' = "
                             f"{tuple(config.propagation.classes)}, 'sampling.pair_classes' = "
                             f"{tuple(config.sampling.pair_classes)}; cases {[c.case_id for c in cases]})")
        column = {value: i for i, value in enumerate(organs)}
        facts = NetworkFacts.of(config)

        def validate(state: TrainState) -> dict[str, float]:
            def scores(i: int) -> np.ndarray:  # NaN: the organ is not in this case
                case, row = cases[i], np.full(len(organs), np.nan)
                step_fn = model_mask_step(state, facts.pad_multiple, case.pad_value[0], facts.head)
                for value in propagation_classes(config, np.unique(case.label.array)):
                    images, truth = organ_slices(case, config.data.plane, value)
                    row[column[value]] = one_shot_dice(step_fn, images, truth, config.propagation.stop_after_empty,
                                                       config.inference.threshold)
                return row

            table = per_case_over_processes(len(cases), scores, len(organs))
            return {"val_dice": float(np.mean(table[~np.isnan(table)]))}

        return validate

    def evaluate(self, runs: Sequence[Restored], workdir: Path, split: str, out: Path, data: str | Path | None,
                 progress: bool, prediction_format: str = "label-map") -> dict:
        """`evaluate_label_maps` of the one-shot masks of the evaluated organs, with summary.json's
        "propagation" section (simulated-correction curves per case and organ, mean curves), also
        written as propagation.csv and propagation.png (`PropagationEvaluation`)."""
        if len(runs) > 1:
            raise ValueError("slice-propagation runs are evaluated one at a time: give a single run")
        propagation = PropagationEvaluation(runs[0].config, runs[0].state, read_index(runs[0].config, workdir).labels)
        return evaluate_label_maps(runs, workdir, split, out, data, progress, propagation.predict,
                                   propagation.labels, same_classes=False,
                                   extra=lambda folder: {"propagation": propagation.report(folder)},
                                   prediction_format=prediction_format)

    def predict(self, run: Restored, input_path: Path, output_path: Path, output_format: str | None = None) -> Path:
        raise ValueError(f"{run.checkpoint} holds a slice-propagation model: it needs an annotated slice, use "
                         "`jaxseg propagate`")


register_task("propagation", PropagationTask())
