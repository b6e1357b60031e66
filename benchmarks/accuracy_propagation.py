"""Seed 004 (`accuracy.py --datasets brats_propagation totalseg_propagation`): one-shot slice propagation
from each object's middle slice, simulated corrections, and a per-slice 2D U-Net on the same data.

jaxseg: configs/slice_propagation.py (2-channel U-Net on [slice, mask of slice t +- 1..2], softmax CE,
Adam 1e-4 (1e-3 with --reduced: see Settings) divided by 10 at 1/3, 2/3 and 5/6 of the steps as the
seed's epochs 10, 20, 25 of 30, its heavy augmentation of image and prior) propagates each object
through the test volume along the axial axis (jaxseg.evaluate_propagation: one-shot, then reference
slices every p of the object's extent, Dice of the whole volume with the corrected slices included).
The baseline is the same network with one input channel and one output per class, trained by the
same recipe on every axial slice (task segmentation, sampler slices) and applied slice by slice.
Both are scored on the test volume by jaxseg.evaluate.case_metrics per object (Dice, IoU, HD95 in
mm), means over the test objects.

Data (written into the run's temporary workdir, see accuracy_volumes):
- brats_propagation: the three BRATS subjects, FLAIR only (jaxseg's propagation takes one image
  channel), whole tumour (labels 1-4), resampled to 2 mm before the run (120 x 120 x 78 voxels;
  propagation predicts on the files' own grid, so `prepare` cannot resample); train on two
  subjects, test the third.
- totalseg_propagation: the one TotalSegmentator CT (3 mm, 30 axial slices; labels are model
  predictions) cut into two slabs: the upper 15 slices train, the lower 15 test. Objects: liver,
  spleen, left and right kidney, pancreas, aorta (the seed's organs that this scan holds).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import nibabel as nib
import numpy as np
from accuracy import REPO, timed_fit
from accuracy_volumes import BRATS_CASES, brats_whole_tumour, volume_scores, write_manifest

TOTALSEG_ORGANS = {5: "liver", 1: "spleen", 3: "kidney_left", 2: "kidney_right", 7: "pancreas", 52: "aorta"}
SEED = ("seed 004 (VISCERAL CT, 5-fold): one-shot propagation vs per-organ U-Net: kidney 0.899/0.858, spleen "
        "0.916/0.888, pancreas 0.614/0.389, liver 0.883/0.935, lung 0.951/0.975; Dice rises with corrections")
SEED_NOTE = "propagation > U-Net on spleen, kidney, pancreas, not liver/lung; Dice rises with corrections"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Overrides of configs/slice_propagation.py (both models); None keeps the config's value."""

    steps: int | None
    base_features: int | None
    batch_size: int | None
    fractions: tuple[float, ...]  # correction steps, fractions of the object's axial extent
    # Adam's rate before the decays. The seed's 1e-4 is for 30 epochs; in 300 steps it leaves both
    # models under-trained (BRATS one-shot propagation 0.229 against the U-Net's 0.299), 1e-3 does not.
    learning_rate: float | None


SETTINGS = {
    "reduced": Settings(steps=300, base_features=8, batch_size=8, fractions=(0.6, 0.3, 0.2, 0.1), learning_rate=1e-3),
    "full": Settings(steps=None, base_features=None, batch_size=None, fractions=(0.6, 0.3, 0.2, 0.1),
                     learning_rate=None),
}


def brats_folder(data_root: Path, folder: Path) -> tuple[Path, str, dict[int, str]]:
    """(dataset folder, test case id, {label value: object}): FLAIR and whole tumour at 2 mm, pat0003 tested."""
    brats_whole_tumour(data_root / "brats2015_deepmedic_subset", folder, ("FLAIR",), spacing_mm=(2.0, 2.0, 2.0))
    return folder, BRATS_CASES[-1], {1: "whole_tumour"}


def totalseg_folder(data_root: Path, folder: Path) -> tuple[Path, str, dict[int, str]]:
    """(dataset folder, test case id, {label value: organ}): the CT and its organs (renumbered 1..6)
    as two cases, slices 15-29 ("upper", training) and 0-14 ("lower", test)."""
    source = data_root / "totalseg_example_ct"
    ct, seg = nib.load(source / "example_ct_sm.nii.gz"), nib.load(source / "example_seg.nii.gz")
    labels = np.asarray(seg.dataobj).astype(np.int32)
    organs = np.zeros(labels.shape, np.uint8)
    for new, old in enumerate(TOTALSEG_ORGANS, start=1):
        organs[labels == old] = new
    half = labels.shape[2] // 2
    entries = []
    for case, (low, high) in {"lower": (0, half), "upper": (half, labels.shape[2])}.items():
        (folder / case).mkdir(parents=True, exist_ok=True)
        affine = ct.affine.copy()
        affine[:3, 3] += low * affine[:3, 2]  # the slab's first voxel
        nib.save(nib.Nifti1Image(np.asarray(ct.dataobj)[..., low:high].astype(np.int16), affine),
                 folder / case / "ct.nii.gz")
        nib.save(nib.Nifti1Image(organs[..., low:high], affine), folder / case / "organs.nii.gz")
        entries.append({"case": case, "image": f"{case}/ct.nii.gz", "label": f"{case}/organs.nii.gz"})
    names = dict(enumerate(TOTALSEG_ORGANS.values(), start=1))
    write_manifest(folder, {"0": "background", **{str(k): v for k, v in names.items()}}, ("CT",), entries)
    return folder, "lower", names


DATA = {"brats_propagation": ("brats2015_deepmedic_subset", brats_folder, "none"),
        "totalseg_propagation": ("totalseg_example_ct", totalseg_folder, "ct")}


def configs(root: Path, test_case: str, objects: dict[int, str], normalize: str, s: Settings, seed: int,
            learning_rate: float | None = None, loss: str | None = None):
    """(propagation config, per-slice U-Net config, overrides of the first): slice_propagation.py on
    the folder with `test_case` tested, the others training (no validation: the last step is kept),
    Adam at `learning_rate` (else the settings', else the seed's 1e-4) and `loss` when given (else
    cross-entropy)."""
    from jaxseg.config import load_config

    path = str(REPO / "configs" / "slice_propagation.py")
    base = load_config(path)
    steps = s.steps or base.train.steps
    boundaries = ",".join(str(round(steps * f)) for f in (10 / 30, 20 / 30, 25 / 30))
    overrides = ["data.source=msd", f"data.root={root}", f"data.cache_dir={root.parent / 'prepared'}", "data.folds=0",
                 "data.num_val=0", "data.num_test=0",
                 f"data.normalize={normalize}", f"sampling.pair_classes=({','.join(map(str, objects))},)",
                 f"train.steps={steps}", f"train.val_every={steps}", f"train.checkpoint_every={steps}",
                 f"train.log_every={max(1, steps // 4)}", f"optimizer.boundaries=({boundaries})", f"seed={seed}",
                 f"propagation.correction_fractions=({','.join(map(str, s.fractions))})", "inference.batch_size=8"]
    if s.base_features:
        overrides.append(f"model.base_features={s.base_features}")
    if learning_rate or s.learning_rate:
        overrides.append(f"optimizer.learning_rate={learning_rate or s.learning_rate}")
    if loss:
        overrides.append(f"loss.name={loss}")
    if s.batch_size:
        overrides.append(f"data.batch_size={s.batch_size}")
    unet = ["task=segmentation", "data.sampler=slices", "model.in_channels=1", f"model.num_classes={len(objects) + 1}",
            "augment.prior_rotate_deg=0.0", "augment.prior_scale=0.0", "sampling.pair_classes=()",
            "propagation.correction_fractions=(0.1,)"]
    propagation, segmentation = load_config(path, overrides), load_config(path, [*overrides, *unet])
    for config in (propagation, segmentation):
        config.data.test_cases = (test_case,)
    return propagation, segmentation, overrides


def object_scores(prediction: np.ndarray, case, objects: dict[int, str]) -> dict[str, dict[str, float]]:
    """{case/object: Dice, IoU, HD95 (mm)} of a label map against the case's reference, per object present."""
    present = set(np.unique(case.label.array).tolist())
    return {f"{case.case_id}/{name}": volume_scores((prediction == v).astype(np.uint8),
                                                    (case.label.array == v).astype(np.uint8), case.label.spacing,
                                                    {0: "background", 1: name})
            for v, name in objects.items() if v in present}


def propagated(config, state, case, objects: dict[int, str]) -> tuple[dict, list[dict]]:
    """Each object of the case propagated on its own (the seed's per-organ protocol; a label map
    would let one organ's false positives overwrite another's): ({case/object: Dice, IoU, HD95 of
    the one-shot masks}, [{object, fraction, corrected_slices, Dice} per correction step])."""
    from jaxseg.inference import simulated_correction_curve
    from jaxseg.inference.propagation_model import model_mask_step, organ_slices
    from jaxseg.models.facts import NetworkFacts

    facts = NetworkFacts.of(config)
    step_fn = model_mask_step(state, facts.pad_multiple, case.pad_value[0], facts.head)
    axis = case.image.plane_axis(config.data.plane)
    spacing = (case.label.spacing[axis], *(s for a, s in enumerate(case.label.spacing) if a != axis))
    scores, rows = {}, []
    for value, name in objects.items():
        if not (case.label.array == value).any():
            continue
        images, truth = organ_slices(case, config.data.plane, value)
        curve = simulated_correction_curve(step_fn, images, truth, (None, *config.propagation.correction_fractions),
                                           config.propagation.stop_after_empty, config.inference.threshold)
        scores[f"{case.case_id}/{name}"] = volume_scores(curve[0].masks, truth.astype(np.uint8), spacing,
                                                         {0: "background", 1: name})
        rows += [{"object": name, "fraction": point.fraction, "corrected_slices": point.corrected_slices,
                  "Dice": point.dice} for point in curve]
    return scores, rows


def mean_curve(rows: list[dict]) -> list[dict]:
    """[{fraction, corrected_slices, Dice} per correction step]: means over the rows' objects."""
    fractions = list(dict.fromkeys(r["fraction"] for r in rows))
    return [{"fraction": f, **{k: float(np.mean([r[k] for r in rows if r["fraction"] == f]))
                               for k in ("corrected_slices", "Dice")}} for f in fractions]


def means(per_case: dict[str, dict[str, float]]) -> dict[str, float]:
    return {m: float(np.mean([c[m] for c in per_case.values()])) for m in next(iter(per_case.values()))}


def reproduced(one_shot: float, unet: float, curve: list[dict]) -> str:
    """The seed's two trends by mean Dice: propagation against the U-Net, and Dice rising with corrections."""
    dice = [p["Dice"] for p in curve]
    rising = all(b >= a - 1e-3 for a, b in zip(dice, dice[1:]))
    return (f"one-shot propagation vs U-Net: {one_shot:.3f} vs {unet:.3f}; Dice rises with corrections: "
            f"{'yes' if rising else 'no'} ({' -> '.join(f'{d:.3f}' for d in dice)})")


def run(name: str, data_root: Path, settings: str, monai_python: str | None, workdir: Path, seed: int,
        learning_rate: float | None = None, loss: str | None = None) -> dict:
    """Train the propagation model and the U-Net (both at `learning_rate` and with `loss` when given: a recipe trial),
    propagate with simulated corrections; the result record."""
    from jaxseg.core.mesh import local_mesh
    from jaxseg.data.datasets import load_cases, open_dataset
    from jaxseg.inference.predictor import Predictor

    s = SETTINGS[settings]
    folder, build, normalize = DATA[name]
    root, test_case, objects = build(data_root, workdir / "data")
    propagation, segmentation, overrides = configs(root, test_case, objects, normalize, s, seed, learning_rate, loss)
    runs = {"propagation": timed_fit(propagation, workdir / "propagation"),
            "unet": timed_fit(segmentation, workdir / "unet")}
    index, splits = open_dataset(propagation, workdir, same_classes=False)
    cases = load_cases(splits["test"], propagation, index)
    predictor = Predictor.create(segmentation, runs["unet"].pop("state"), local_mesh())
    one_shot, unet, rows = {}, {}, []
    for case in cases:
        scores, curve = propagated(propagation, runs["propagation"]["state"], case, objects)
        one_shot.update(scores)
        rows += curve
        unet.update(object_scores(predictor.segment(case.image, case.pad_value)[0], case, objects))
    runs["propagation"].pop("state")
    result = {"dataset": name, "folder": folder, "config": "configs/slice_propagation.py", "settings": settings,
              "overrides": overrides, "train_cases": len(splits["train"]), "test_cases": [c.case_id for c in cases],
              "objects": list(objects.values()), "seed": SEED, "seed_iou": None, "seed_note": SEED_NOTE,
              "hd95_unit": "mm", "steps": propagation.train.steps, "batch_size": propagation.data.batch_size,
              "input_size": list(cases[0].image.array.shape[:2]), "loss": propagation.loss.name, "run_seed": seed,
              "learning_rate": propagation.optimizer.learning_rate,
              "monai": "not run: MONAI has no slice-propagation model; the per-slice U-Net baseline is jaxseg's",
              "labels": {"jaxseg": "jaxseg propagation one-shot"},
              "jaxseg": {"mean": means(one_shot), "per_case": one_shot,
                         **{k: runs["propagation"][k] for k in ("train_s", "samples_per_s", "parameters")}},
              "variants": {"U-Net per slice": {"mean": means(unet), "per_case": unet,
                                               **{k: runs["unet"][k] for k in ("train_s", "samples_per_s",
                                                                                "parameters")}}},
              "correction_curve": mean_curve(rows),
              "correction_curve_per_object": {o: mean_curve([r for r in rows if r["object"] == o])
                                              for o in dict.fromkeys(r["object"] for r in rows)}}
    if learning_rate:
        result["recipe"] = f"lr{learning_rate:g}"
    for point in result["correction_curve"][1:]:
        label = f"propagation, {point['corrected_slices']:.1f} corrected slices (step {point['fraction']:g})"
        result["variants"][label] = {"mean": {"Dice": point["Dice"]}}
    result["reproduced"] = reproduced(result["jaxseg"]["mean"]["Dice"], result["variants"]["U-Net per slice"]["mean"]
                                      ["Dice"], result["correction_curve"])
    return result
