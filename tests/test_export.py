"""`jaxseg export` and `jaxseg predict --model`: the exported model predicts what its checkpoint does."""

from __future__ import annotations

import numpy as np
import pytest

from jaxseg.cli import main
from jaxseg.core.mesh import local_mesh
from jaxseg.data.datasets import prepare_image
from jaxseg.export import export_model, load_model, segment_image
from jaxseg.inference.predictor import Predictor, predict_step
from jaxseg.io import ReadError, read_nifti
from jaxseg.train.restore import restore

WINDOWS = ["inference.mode=sliding_window", "inference.roi_size=(16,16)", "inference.mirror_axes=(0,1)"]


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    return export_model(tiny_run, tmp_path_factory.mktemp("export") / "model.jaxseg")


def test_the_file_describes_the_model(exported):
    model = load_model(exported)
    assert model.step == 2
    assert model.metadata["input"] == {"shape": "b, 2*h, 2*w, 1", "dtype": "float32", "pad_multiple": 2,
                                       "overlap_tile": None, "platforms": ["cpu", "cuda"]}
    assert model.metadata["preprocessing"] == {"spacing_mm": None, "slice_size": None, "normalize": "auto",
                                               "plane": "axial", "in_channels": 1}
    assert model.class_names == {0: "background", 1: "class_1", 2: "class_2", 3: "class_3", 4: "class_4"}
    assert model.exported.platforms == ("cpu", "cuda")


def test_any_batch_size_gives_the_checkpoint_probabilities(tiny_run, exported):
    state = restore(tiny_run).state
    model = load_model(exported)
    images = np.random.default_rng(0).normal(size=(3, 32, 24, 1)).astype(np.float32)
    for batch in (images[:1], images):
        np.testing.assert_allclose(model.predict(batch), np.asarray(predict_step(state, batch)), rtol=0, atol=1e-6)


@pytest.mark.parametrize("overrides", [[], WINDOWS], ids=["slices", "mirrored_windows"])
def test_predictions_equal_the_checkpoints_on_the_demo_phantoms(tiny_run, phantom_root, tmp_path, overrides):
    run = restore(tiny_run, overrides=overrides)
    config, predictor = run.config, Predictor.create(run.config, run.state, local_mesh())
    model = load_model(export_model(tiny_run, tmp_path / "m.jaxseg", overrides))
    assert model.metadata["input"]["shape"] == ("b, 16, 16, 1" if overrides else "b, 2*h, 2*w, 1")
    for file in sorted((phantom_root / "imagesTr").glob("*.nii.gz")):
        image, pad_value = prepare_image(read_nifti(file), config)
        labels, probabilities = predictor.segment(image, pad_value)
        exported_labels, exported_probabilities = segment_image(model, image, pad_value)
        np.testing.assert_array_equal(exported_labels, labels)
        np.testing.assert_allclose(exported_probabilities, probabilities, rtol=0, atol=1e-6)


def test_predict_with_the_model_on_the_command_line(tiny_run, exported, phantom_root, tmp_path, capsys):
    image = str(sorted((phantom_root / "imagesTr").glob("*.nii.gz"))[0])
    assert main(["predict", "--checkpoint", str(tiny_run), image, str(tmp_path / "c.nii.gz")]) == 0
    assert main(["predict", "--model", str(exported), image, str(tmp_path / "m.nii.gz")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {tmp_path / 'm.nii.gz'}"
    np.testing.assert_array_equal(read_nifti(tmp_path / "m.nii.gz").array, read_nifti(tmp_path / "c.nii.gz").array)
    assert main(["export", "--checkpoint", str(tiny_run), "--out", str(tmp_path / "e.jaxseg")]) == 0
    assert load_model(tmp_path / "e.jaxseg").step == 2
    assert main(["predict", "--model", str(exported), image, str(tmp_path / "x.nii.gz"),
                 "--config.inference.mirror_axes=(0,)"]) == 2
    assert "an exported model's settings are fixed" in capsys.readouterr().err


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "m.jaxseg").write_text("not a zip")
    with pytest.raises(ReadError, match="not a jaxseg model"):
        load_model(tmp_path / "m.jaxseg")
    with pytest.raises(ReadError, match="no such model file"):
        load_model(tmp_path / "absent.jaxseg")
