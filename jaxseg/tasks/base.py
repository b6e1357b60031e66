"""The Task protocol: everything the train loop, `evaluate` and `predict` need from a kind of run.

A task is any object with these methods (no base class): the train loop (`jaxseg.train.loop.fit`)
asks it for a `Training` (state, batches, compiled step, validation) and runs the steps,
checkpoints and logs the same way for every task; `jaxseg evaluate` and `jaxseg predict` restore a
checkpoint (`jaxseg.train.restore.restore`) and hand it to the task of the config saved with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import ml_collections
from jax.sharding import Mesh

from jaxseg.core.state import TrainState

# (state, global batch) -> (new state, {"loss": scalar, ...}); jit-compiled over the mesh.
StepFn = Callable[[TrainState, dict], tuple[TrainState, dict]]


class Batches(Protocol):
    """Endless host-local batches {name: (local batch, ...) array}, resumable (grain's DatasetIterator)."""

    def __next__(self) -> dict: ...
    def get_state(self) -> dict: ...
    def set_state(self, state: dict) -> None: ...
    def close(self) -> None: ...


@dataclasses.dataclass
class Training:
    """What a task hands the train loop for one run.

    state: freshly initialised, replicated over the mesh (the loop resumes over it when a checkpoint exists).
    batches: this process's share of each global batch (`data.batch_size` / process count samples).
    step: the compiled train step (`jaxseg.train.step.compile_step`).
    validate: state -> {metric: value} on the validation split, the task's best metric among them;
        None without validation data.
    cases: how many training cases (images, volumes) the batches are drawn from.
    mesh: the devices the state and each global batch are placed on.
    """

    state: TrainState
    batches: Batches | Iterator[dict]
    step: StepFn
    validate: Callable[[TrainState], dict[str, float]] | None
    cases: int
    mesh: Mesh


@dataclasses.dataclass
class Restored:
    """A checkpoint restored for inference: the config saved with it (plus inference overrides),
    its state on `mesh`, its step and folder."""

    config: ml_collections.ConfigDict
    state: TrainState
    step: int
    mesh: Mesh
    checkpoint: Path


class Task(Protocol):
    """A kind of run: segmentation, detection, propagation, or one of yours (see docs/architecture.md).

    inference_keys: config key prefixes that may change after training (`--config.KEY=VALUE` of
    evaluate and predict), e.g. ("inference.", "evaluate.").
    """

    inference_keys: tuple[str, ...]

    def check_config(self, config: ml_collections.ConfigDict) -> None:
        """Raise ConfigError for settings this task cannot train with (after the common checks)."""

    def best_metric(self, config: ml_collections.ConfigDict) -> str:
        """The key of `validate`'s result that picks the best checkpoint (higher is better)."""

    def splits(self, config: ml_collections.ConfigDict, workdir: Path) -> tuple[Path, dict[str, Sequence[Any]]]:
        """(dataset folder, {"train", "val", "test": its cases, each with a `case_id`}): the split
        training and evaluation use (a phantom dataset is generated in WORKDIR/phantom first)."""

    def build_state(self, config: ml_collections.ConfigDict, mesh: Mesh,
                    sample_shape: tuple[int, ...] | None = None) -> TrainState:
        """A freshly initialised state from `config.seed`, replicated over `mesh` (also traced with
        jax.eval_shape to restore checkpoints). sample_shape: the spatial shape of a training sample."""

    def training(self, config: ml_collections.ConfigDict, workdir: Path, mesh: Mesh,
                 say: Callable[[str], None], validation: bool = True) -> Training:
        """Read and prepare the data, build the state and compile the step. `say` prints progress;
        validation=False leaves `Training.validate` None (benchmarks)."""

    def evaluate(self, runs: Sequence[Restored], workdir: Path, split: str, out: Path,
                 data: str | Path | None, progress: bool, prediction_format: str = "label-map") -> dict[str, Any]:
        """Predict a split (or every case of the dataset folder `data`), write the report to `out`
        and return its summary (with "task", n_cases, n_failed and failed_cases). prediction_format:
        how predictions are written (`jaxseg.evaluate.PREDICTION_FORMATS`); a task refuses those it
        cannot write."""

    def format_report(self, summary: dict[str, Any]) -> str:
        """A short text table of an `evaluate` summary, for the terminal."""

    def predict(self, run: Restored, input_path: Path, output_path: Path, output_format: str | None = None) -> Path:
        """Predict one input file and write the result (`output_format`: `jaxseg.predict.OUTPUT_FORMATS`,
        None for the one the output's name implies); returns the path written."""
