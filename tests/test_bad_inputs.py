"""The bad-input corpus (tests/badinputs) given to jaxseg's readers, cache and config loading:
each input gives a ReadError/ConfigError naming the file and the problem, or a skipped and
listed case; never a traceback and never a huge allocation."""

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from jaxseg.config import ConfigError, load_config
from jaxseg.data.cache import PreparedCase, is_complete
from jaxseg.data.datasets import load_cases, open_dataset, prepare_all, prepare_image
from jaxseg.data.msd import read_msd_index
from jaxseg.io import ReadError, Volume, read_dicom_image, read_image, read_nifti, read_nrrd, write_nifti
from jaxseg.io.atomic import write_text_atomic
from tests import badinputs
from tests.conftest import tiny_overrides

REPO = Path(__file__).resolve().parent.parent

BOMBS_SCRIPT = """
import json, resource, sys, time
from pathlib import Path
from jaxseg.io import read_image, read_nifti, read_nrrd
results = {}
for name, reader in (("bomb.nii.gz", read_nifti), ("bomb.nrrd", read_nrrd), ("bomb.png", read_image)):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        reader(Path(sys.argv[1]) / name)
        error = None
    except Exception as err:
        error = f"{type(err).__name__}: {err}"
    results[name] = {"error": error, "seconds": time.perf_counter() - start,
                     "growth_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before}
print(json.dumps(results))
"""


def test_memory_bombs_fail_at_once_without_allocating(tmp_path):
    """A 71-byte-class NIfTI claiming 4 GiB, an NRRD claiming 2 GiB and a PNG claiming 144 M pixels:
    each refused from its header in a fresh process whose peak RSS grows by < 200 MB."""
    badinputs.nifti_bomb(tmp_path / "bomb.nii.gz")
    badinputs.nrrd_bomb(tmp_path / "bomb.nrrd")
    badinputs.png_claiming(tmp_path / "bomb.png", 12_000, 12_000)  # under PIL's own bomb limit
    assert (tmp_path / "bomb.nii.gz").stat().st_size < 100
    result = subprocess.run([sys.executable, "-c", BOMBS_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120, check=True)
    results = json.loads(result.stdout)
    for name, shape in (("bomb.nii.gz", "(1024, 1024, 2048)"), ("bomb.nrrd", "(1024, 1024, 1024)"),
                        ("bomb.png", "(12000, 12000, 1)")):
        outcome = results[name]
        assert outcome["error"].startswith(f"ReadError: {tmp_path / name}: claims shape {shape}"), outcome
        assert "data can hold: truncated or damaged" in outcome["error"]
        assert outcome["growth_kib"] < 200 * 1024 and outcome["seconds"] < 1.0, outcome


def test_claims_over_io_max_voxels_name_the_file_and_the_shape(tmp_path):
    small = badinputs.nifti_with(tmp_path / "small.nii.gz", np.zeros((4, 4, 4), np.int16))
    assert read_nifti(small, max_voxels=64).shape == (4, 4, 4)
    with pytest.raises(ReadError, match=r"small.nii.gz: claims shape \(4, 4, 4\) \(64 voxels\), more than "
                                        r"io.max_voxels = 63"):
        read_nifti(small, max_voxels=63)
    huge = badinputs.dicom_claiming(tmp_path / "huge.dcm", 50_000, 50_000)
    with pytest.raises(ReadError, match=r"huge.dcm: claims shape \(1, 50000, 50000, 1\) \(2,500,000,000 voxels\), "
                                        r"more than io.max_voxels = 2,147,483,648"):
        read_dicom_image(huge)


def test_pil_decompression_bomb_is_a_read_error(tmp_path):
    path = badinputs.png_claiming(tmp_path / "giant.png", 100_000, 100_000)
    with pytest.raises(ReadError, match="giant.png: refused as a decompression bomb"):
        read_image(path)


def test_truncated_uncompressed_files_are_named(tmp_path):
    nifti = badinputs.truncated(badinputs.nifti_with(tmp_path / "cut.nii", np.ones((8, 8, 8), np.float32)))
    with pytest.raises(ReadError, match=r"cut.nii: claims shape \(8, 8, 8\) \(2,048 bytes of voxel data\), more "
                                        r"than its 848 bytes of uncompressed data can hold"):
        read_nifti(nifti)
    dicom = badinputs.dicom_claiming(tmp_path / "short.dcm", 60, 80)  # holds 6 x 8
    with pytest.raises(ReadError, match=r"short.dcm: claims shape \(1, 60, 80, 1\) \(9,600 bytes"):
        read_dicom_image(dicom)


def test_nrrd_data_file_outside_its_folder_is_refused(tmp_path):
    header = badinputs.nrrd_outside_data_file(tmp_path / "scan")
    with pytest.raises(ReadError, match=r"volume.nhdr: data file '../secret.raw' points outside the header's folder"):
        read_nrrd(header)


def _dataset_with_entry(root: Path, phantom_root: Path, **entry) -> Path:
    shutil.copytree(phantom_root, root)
    manifest = json.loads((root / "dataset.json").read_text())
    manifest["training"][0].update(entry)
    (root / "dataset.json").write_text(json.dumps(manifest))
    return root


def test_manifest_entries_cannot_leave_the_dataset_folder(phantom_root, tmp_path):
    root = _dataset_with_entry(tmp_path / "a", phantom_root, case="../../x")
    with pytest.raises(ReadError, match=r"a/dataset.json: training entry .* case id '../../x' is not a plain file "
                                        "name"):
        read_msd_index(root)
    root = _dataset_with_entry(tmp_path / "b", phantom_root, label="../../outside.nii.gz")
    with pytest.raises(ReadError, match=r"b/dataset.json: training entry .*: 'label' '../../outside.nii.gz' leads "
                                        "outside"):
        read_msd_index(root)
    root = _dataset_with_entry(tmp_path / "c", phantom_root, image="/etc/passwd.nii.gz")
    with pytest.raises(ReadError, match=r"c/dataset.json: training entry .*: 'image' '/etc/passwd.nii.gz' leads "
                                        "outside"):
        read_msd_index(root)


def test_nan_image_is_refused_by_predict_and_listed_by_evaluate(phantom_root, tmp_path):
    config = load_config("demo", tiny_overrides(phantom_root))
    image = Volume(np.full((4, 4, 4), np.nan, np.float32), np.eye(4), "scan.nii.gz")
    with pytest.raises(ReadError, match="scan.nii.gz: image holds NaN or infinite values"):
        prepare_image(image, config)
    root = shutil.copytree(phantom_root, tmp_path / "data")
    config = load_config("demo", tiny_overrides(root))
    index, splits = open_dataset(config, tmp_path)
    victim = splits["test"][0]
    source = nib.load(victim.images[0])
    values = np.asarray(source.dataobj).astype(np.float32)
    values[0, 0, 0] = np.inf
    nib.save(nib.Nifti1Image(values, source.affine), victim.images[0])
    failed = []
    assert load_cases((*splits["test"], *splits["val"]), config, index, failed) != []
    assert failed == [{"case_id": victim.case_id, "file": str(victim.images[0]),
                       "reason": "image holds NaN or infinite values"}]
    with pytest.raises(ValueError, match=rf"none of the 1 validation cases of .* can be read: {victim.case_id} "
                                         r"\(.*image holds NaN"):
        load_cases(splits["test"], config, index, name="validation cases")


def test_predictions_keep_geometry_but_no_private_header_fields(tmp_path):
    source = badinputs.nifti_with_private_header(tmp_path / "patient.nii.gz")
    labels = Volume(np.ones((2, 3, 4), np.uint8), nib.load(source).affine)
    old = os.umask(0o027)
    try:
        written = write_nifti(labels, tmp_path / "out" / "labels.nii.gz", like=source)
    finally:
        os.umask(old)
    header = nib.load(written).header
    for field in ("descrip", "aux_file", "intent_name", "db_name"):
        assert header[field].item() == b"", field
    assert len(header.extensions) == 0
    assert (int(header["qform_code"]), int(header["sform_code"])) == (1, 2)
    np.testing.assert_allclose(nib.load(written).affine, nib.load(source).affine)
    assert stat.S_IMODE(written.stat().st_mode) == 0o640  # 0666 less the umask, not mkstemp's 0600
    assert sorted(p.name for p in written.parent.iterdir()) == ["labels.nii.gz"]


FULL_DISK_SCRIPT = """
import resource, signal, sys
from jaxseg.io.atomic import write_text_atomic
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # A write past the limit fails with EFBIG, as on a full disk.
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    write_text_atomic(sys.argv[1], "x" * 100_000)
except OSError as err:
    print(type(err).__name__, err.errno)
"""


def test_a_failing_report_write_leaves_the_previous_file_intact(tmp_path):
    target = write_text_atomic(tmp_path / "summary.json", '{"n_cases": 3}')
    result = subprocess.run([sys.executable, "-c", FULL_DISK_SCRIPT, str(target)], capture_output=True, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60, check=True)
    assert result.stdout.split() == ["OSError", "27"]  # EFBIG: the write was cut short
    assert target.read_text() == '{"n_cases": 3}'
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary file left


def _copy_with_damage(phantom_root: Path, root: Path) -> tuple[Path, dict[str, Path]]:
    """A copy of the phantom set with case 1's image truncated and case 3's label a memory bomb."""
    shutil.copytree(phantom_root, root)
    damaged = {"phantom_001": badinputs.truncated(root / "imagesTr" / "phantom_001.nii.gz"),
               "phantom_003": badinputs.nifti_bomb(root / "labelsTr" / "phantom_003.nii.gz")}
    return root, damaged


def test_prepare_skips_and_lists_bad_cases_and_exits_1(phantom_root, tmp_path, capsys):
    from jaxseg.cli import main

    root, damaged = _copy_with_damage(phantom_root, tmp_path / "data")
    overrides = [f"--config.{o}" for o in tiny_overrides(root, **{"data.cache_dir": str(tmp_path / "cache")})]
    assert main(["prepare", "--config", "demo", *overrides]) == 1
    out, err = capsys.readouterr()
    assert "5 cases, 3 prepared now, 0 already complete, 2 failed" in out
    assert f"failed phantom_001: {damaged['phantom_001']}: cannot read the voxel data" in out
    assert f"failed phantom_003: {damaged['phantom_003']}: claims shape (1024, 1024, 2048)" in out
    assert "jaxseg: 2 of 5 cases could not be prepared" in err and "Traceback" not in err


def test_truncated_cache_array_is_prepared_again_or_named(phantom_root, tmp_path):
    config = load_config("demo", tiny_overrides(phantom_root, **{"data.cache_dir": str(tmp_path / "cache")}))
    summary = prepare_all(config, None)
    case_dir = summary.folder / "cases" / "phantom_002"
    image = case_dir / "image.npy"
    image.write_bytes(image.read_bytes()[:-100])
    index, _ = open_dataset(config, None)
    assert not is_complete(case_dir, index.cases[2])
    i, j, k = json.loads((case_dir / "meta.json").read_text())["shape"]
    with pytest.raises(ReadError, match=rf"phantom_002/image.npy: is [\d,]+ bytes, its shape \({k}, {j}, {i}, 1\) "
                                        r"needs "
                                        r"[\d,]+: truncated or damaged \(prepared case phantom_002\)"):
        PreparedCase(case_dir)
    again = prepare_all(config, None)
    assert again.prepared == ["phantom_002"] and len(again.reused) == 4
    assert PreparedCase(case_dir).image.shape == (i, j, k, 1)


@pytest.mark.parametrize("body, message", [
    ("def get_config(:\n    pass\n", r"line 1: SyntaxError: invalid syntax$"),
    ("from jaxseg.config import base_config\n\ndef get_config():\n    c = base_config()\n    c.train.steps = nope\n"
     "    return c\n", r"line 5: NameError: name 'nope' is not defined$"),
    ("import jaxseg_no_such_module\n", r"line 1: ModuleNotFoundError: No module named 'jaxseg_no_such_module'$"),
    ("from jaxseg.config import base_config\n\ndef get_config():\n    c = base_config()\n    c.trian.steps = 3\n"
     "    return c\n", r"line 5: AttributeError: 'trian'; Did you mean \"train\" instead of \"trian\"\?$"),
    ("from jaxseg.config import base_config\n\ndef get_config():\n    c = base_config()\n    c.train.stesp = 3\n"
     "    return c\n", r"line 5: AttributeError: Key \"stesp\" does not exist and cannot be added since the config "
                      r"is locked.$"),
])
def test_config_file_errors_name_the_file_and_line(tmp_path, body, message):
    path = tmp_path / "bad.py"
    path.write_text(textwrap.dedent(body))
    with pytest.raises(ConfigError, match=rf"^config file {path}, {message}"):
        load_config(str(path))


def test_unreadable_validation_split_stops_training_at_start(phantom_root, tmp_path):
    from jaxseg.train.loop import fit

    root = shutil.copytree(phantom_root, tmp_path / "data")
    config = load_config("demo", tiny_overrides(root))
    _, splits = open_dataset(config, tmp_path)
    [victim] = splits["val"]
    badinputs.truncated(victim.images[0])
    with pytest.raises(ValueError, match=rf"none of the 1 validation cases of {root} can be read: {victim.case_id} "
                                         rf"\({victim.images[0]}: cannot read the voxel data"):
        fit(config, tmp_path / "run", progress=False)
    checkpoints = tmp_path / "run" / "checkpoints"  # opened (empty) to compare the config before anything else
    assert (not (checkpoints.exists() and any(checkpoints.iterdir()))
            and not (tmp_path / "run" / "metrics.jsonl").exists())


def test_box_csv_image_ids_cannot_leave_the_image_folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "boxes.csv").write_text("patientId,x,y,width,height,Target\n../../etc/secret,,,,,0\n")
    config = load_config("pneumonia_faster_rcnn", [f"data.root={tmp_path}", "detection.boxes_csv=boxes.csv",
                                                   "detection.image_dir=images"])
    from jaxseg.data.detection import read_detection_index

    with pytest.raises(ReadError, match=r"boxes.csv: image id '../../etc/secret' leads outside .*images: refused"):
        read_detection_index(config)


def test_a_broken_config_file_is_exit_2_without_traceback(tmp_path, capsys):
    from jaxseg.cli import main

    path = tmp_path / "bad.py"
    path.write_text("def get_config(:\n")
    assert main(["train", "--config", str(path), "--workdir", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == f"jaxseg: error: config file {path}, line 1: SyntaxError: invalid syntax\n"
    assert not (tmp_path / "run").exists()
