"""nnU-Net v2's own planner on small datasets: its decisions recorded as reference values for jaxseg's planner.

Run with jaxseg's Python; nnU-Net runs in another Python that has torch and nnunetv2 (a separate
virtual environment, e.g. `python -m venv /tmp/nnunet-venv && /tmp/nnunet-venv/bin/pip install
torch==2.13.0 nnunetv2`):

    python benchmarks/nnunet_plan_reference.py --nnunet-python /tmp/nnunet-venv/bin/python

1. writes each dataset in the nnU-Net v2 raw layout (Dataset<id>_<name>/imagesTr/<case>_<XXXX>.nii.gz,
   labelsTr/, dataset.json with channel_names; jaxseg reads the same folders): two phantom sets
   (the tiny test phantoms, and anisotropic 1.5 x 1.5 x 6 mm ones) and, where ../shared/data holds
   them, the MSD spleen crop (CT), the BRATS 2013 cases (FLAIR, T1c) and the spinal-cord MR subject
   (T1w, T2w, T2*: three channels);
2. runs nnU-Net's DatasetFingerprintExtractor and ExperimentPlanner (8 GB target) on each, in the
   nnU-Net Python (`--run-nnunet`);
3. writes tests/data/nnunet_plans.json: per dataset the target spacing, normalisation schemes and
   masks, the 3d_fullres and 2d patch, pools per axis, batch, and whether a 3d_lowres stage was made,
   all in jaxseg's RAS axis order (x, y, z; nnU-Net's arrays run z, y, x and are transposed so the
   coarsest axis comes first).

tests/test_planning_conformance.py compares jaxseg's planner to these values without torch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
REFERENCE = REPO / "tests" / "data" / "nnunet_plans.json"
PHANTOMS = {  # name: write_phantom_dataset arguments
    "Phantom": {"num_cases": 5, "shape": (32, 32, 16), "spacing_mm": (12.0, 12.0, 16.0), "seed": 0},
    "PhantomAniso": {"num_cases": 4, "shape": (48, 48, 12), "spacing_mm": (1.5, 1.5, 6.0), "seed": 1},
}


def _raw_folder(root: Path, number: int, name: str) -> Path:
    folder = root / f"Dataset{number:03d}_{name}"
    (folder / "imagesTr").mkdir(parents=True, exist_ok=True)
    (folder / "labelsTr").mkdir(exist_ok=True)
    return folder


def _describe(folder: Path, channels: list[str], labels: list[str], cases: int) -> Path:
    (folder / "dataset.json").write_text(json.dumps({
        "channel_names": {str(i): c for i, c in enumerate(channels)},
        "labels": {name: i for i, name in enumerate(labels)}, "numTraining": cases, "file_ending": ".nii.gz"}))
    return folder


def write_phantoms(root: Path, number: int, name: str) -> Path:
    """A phantom set (PHANTOMS[name]) in the nnU-Net raw layout (files copied from the Decathlon layout)."""
    import shutil

    from jaxseg.data.msd import read_msd_index
    from jaxseg.data.synthetic import LABELS, write_phantom_dataset

    source = write_phantom_dataset(root / f"msd_{name}", **PHANTOMS[name])
    folder = _raw_folder(root, number, name)
    cases = read_msd_index(source).cases
    for case in cases:
        shutil.copyfile(case.images[0], folder / "imagesTr" / f"{case.case_id}_0000.nii.gz")
        shutil.copyfile(case.label, folder / "labelsTr" / f"{case.case_id}.nii.gz")
    return _describe(folder, ["CT"], [LABELS[k] for k in sorted(LABELS)], len(cases))


def _link(source: Path, target: Path) -> None:
    if not target.exists():
        os.symlink(source, target)


def write_spleen(root: Path, number: int) -> Path | None:
    source = SHARED / "msd_spleen_crop_ivadomed"
    if not source.is_dir():
        return None
    folder = _raw_folder(root, number, "Spleen")
    _link(source / "imagesTr" / "spleen_2_crop.nii.gz", folder / "imagesTr" / "spleen2_0000.nii.gz")
    _link(source / "labelsTr" / "spleen_2_crop.nii.gz", folder / "labelsTr" / "spleen2.nii.gz")
    return _describe(folder, ["CT"], ["background", "spleen"], 1)


def write_brats(root: Path, number: int) -> Path | None:
    """BRATS 2013 cases: FLAIR and T1c channels; labels 0-4. The label files hold float values, which
    nnU-Net reads as they are; jaxseg checks they are integers."""
    source = SHARED / "brats2015_deepmedic_subset"
    subjects = sorted(p for p in source.glob("brats_2013_pat*") if p.is_dir()) if source.is_dir() else []
    if not subjects:
        return None
    folder = _raw_folder(root, number, "BRATS")
    for subject in subjects:
        case = subject.name.replace("brats_2013_", "").replace("_1", "")
        for c, channel in enumerate(("Flair", "T1c")):
            _link(subject / f"{channel}_subtrMeanDivStd.nii.gz", folder / "imagesTr" / f"{case}_{c:04d}.nii.gz")
        _link(subject / "OTMultiClass.nii.gz", folder / "labelsTr" / f"{case}.nii.gz")
    return _describe(folder, ["FLAIR", "T1c"], ["background", "necrosis", "edema", "non_enhancing", "enhancing"],
                     len(subjects))


def write_spinalcord(root: Path, number: int) -> Path | None:
    source = SHARED / "spinalcord_mri_ivadomed_sct" / "sub-unf01"
    if not source.is_dir():
        return None
    folder = _raw_folder(root, number, "SpinalCord")
    contrasts = ("T1w", "T2w", "T2star")
    for c, contrast in enumerate(contrasts):
        _link(source / f"sub-unf01_{contrast}.nii.gz", folder / "imagesTr" / f"unf01_{c:04d}.nii.gz")
    _link(source / "sub-unf01_T2w_seg-manual.nii.gz", folder / "labelsTr" / "unf01.nii.gz")
    return _describe(folder, list(contrasts), ["background", "cord"], 1)


def write_datasets(root: Path, include_shared: bool = True) -> dict[str, Path]:
    """Every dataset that can be written (the shared ones only where ../shared/data has them)."""
    folders = {name: write_phantoms(root, i + 1, name) for i, name in enumerate(PHANTOMS)}
    if include_shared:
        for number, (name, write) in enumerate((("Spleen", write_spleen), ("BRATS", write_brats),
                                                ("SpinalCord", write_spinalcord)), start=len(PHANTOMS) + 1):
            folder = write(root, number)
            if folder is not None:
                folders[name] = folder
    return folders


def index_axes_to_ras(image: Path) -> list[int]:
    """For each voxel-index axis (i, j, k) of the file, the RAS axis it runs along."""
    import nibabel as nib

    return [int(a) for a in nib.orientations.io_orientation(nib.load(str(image)).affine)[:, 0]]


def to_ras(values_zyx, transpose_forward, to_ras_axes: list[int]):
    """nnU-Net's per-axis values (transposed array order) -> RAS order. The array axes of nnU-Net's
    SimpleITK reader run k, j, i (reversed file index axes); transpose_forward reorders them."""
    array_order = [None] * len(values_zyx)
    for position, axis in enumerate(transpose_forward):
        array_order[axis] = values_zyx[position]
    index_order = array_order[::-1]
    ras = [None] * 3
    for index_axis, value in enumerate(index_order):
        ras[to_ras_axes[index_axis]] = value
    return ras


def run_nnunet(raw: Path) -> dict:
    """In the nnU-Net Python: fingerprint and plan every Dataset* folder of `raw`; the plans by folder."""
    work = Path(tempfile.mkdtemp(prefix="nnunet-"))
    os.environ.update(nnUNet_raw=str(raw), nnUNet_preprocessed=str(work / "pre"), nnUNet_results=str(work / "res"))
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner

    out = {}
    for folder in sorted(raw.glob("Dataset*")):
        number = int(folder.name[len("Dataset"):].split("_")[0])
        fingerprint = DatasetFingerprintExtractor(number, num_processes=1).run()
        plans = ExperimentPlanner(number, 8).plan_experiment()
        out[folder.name] = {"fingerprint": fingerprint, "plans": plans}
    return json.loads(json.dumps(out, default=float))


def decisions(folder: Path, result: dict) -> dict:
    """The recorded decisions of one dataset, in RAS order."""
    plans, configs = result["plans"], result["plans"]["configurations"]
    forward = plans["transpose_forward"]
    axes = index_axes_to_ras(next((folder / "imagesTr").glob("*_0000.nii.gz")))
    out = {"transpose_forward": forward}
    if "3d_fullres" in configs:
        full = configs["3d_fullres"]
        strides = full["architecture"]["arch_kwargs"]["strides"]
        pools = [sum(stage[a] == 2 for stage in strides) for a in range(3)]
        out.update(target_spacing=to_ras(full["spacing"], forward, axes),
                   median_shape=to_ras(full["median_image_size_in_voxels"], forward, axes),
                   normalization=full["normalization_schemes"], use_mask_for_norm=full["use_mask_for_norm"],
                   patch_3d=to_ras(full["patch_size"], forward, axes), pools_3d=to_ras(pools, forward, axes),
                   batch_3d=full["batch_size"], lowres=("3d_lowres" in configs))
    two = configs["2d"]
    strides = two["architecture"]["arch_kwargs"]["strides"]
    # 2D planes: the transposed axes 1 and 2 (the first, coarsest axis is the slice normal).
    normal = to_ras([1, 0, 0], forward, axes).index(1)
    in_plane = [a for a in range(3) if a != normal]
    patch = to_ras([0, *two["patch_size"]], forward, axes)
    pools = to_ras([0, *[sum(stage[a] == 2 for stage in strides) for a in range(2)]], forward, axes)
    out.update(normal_2d=normal, patch_2d=[patch[a] for a in in_plane], pools_2d=[pools[a] for a in in_plane],
               batch_2d=two["batch_size"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nnunet-python", help="a Python with torch and nnunetv2")
    parser.add_argument("--run-nnunet", metavar="RAW", help=argparse.SUPPRESS)  # The nnU-Net side's entry.
    args = parser.parse_args()
    if args.run_nnunet:
        print(json.dumps(run_nnunet(Path(args.run_nnunet))))
        return
    with tempfile.TemporaryDirectory(prefix="nnunet-raw-") as scratch:
        folders = write_datasets(Path(scratch))
        done = subprocess.run([args.nnunet_python, __file__, "--run-nnunet", scratch], capture_output=True, text=True,
                              env={**os.environ, "nnUNet_def_n_proc": "1"})
        if done.returncode:
            sys.exit(f"nnU-Net failed:\n{done.stderr[-3000:]}")
        results = json.loads(done.stdout.strip().splitlines()[-1])
        reference = {"nnunetv2": subprocess.run([args.nnunet_python, "-c", "import importlib.metadata as m; "
                                                 "print(m.version('nnunetv2'))"], capture_output=True,
                                                text=True).stdout.strip(),
                     "gpu_memory_target_gb": 8, "phantoms": PHANTOMS, "datasets": {}}
        for name, folder in folders.items():
            reference["datasets"][name] = decisions(folder, results[folder.name])
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE.write_text(json.dumps(reference, indent=1) + "\n")
    print(json.dumps(reference, indent=1))


if __name__ == "__main__":
    main()
