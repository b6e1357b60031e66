"""`jaxseg model-info` and the model_info function behind it."""

import json

import pytest

from jaxseg.cli import main
from jaxseg.models.info import model_info


def test_model_info_of_the_toy_network():
    info = model_info("plain_rf7")
    assert info["params"] == 1257 and info["batch_stats"] == 0
    assert info["output_shape"] == [32, 32, 1] and info["receptive_field"] == 7 and info["head"] == "sigmoid"
    # Multiply-adds of the convolutions on 38^2, 36^2, 34^2 and 32^2 maps, 2 FLOPs each, plus the
    # biases and ReLUs XLA also counts.
    macs = 36**2 * 9 * 8 + 34**2 * 9 * 64 + 32**2 * 9 * 64 + 32**2 * 8
    assert 2 * macs <= info["flops_per_sample"] <= 1.1 * 2 * macs


def test_model_info_json_from_the_command_line(capsys):
    assert main(["model-info", "kayalibay_concat", "--input-shape", "16,16,16,1", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"params", "batch_stats", "output_shape", "flops_per_sample", "receptive_field"} <= info.keys()
    assert info["params"] == 409_424 and info["batch_stats"] == 944
    assert info["output_shape"] == [16, 16, 16, 5] and info["receptive_field"] == 73


def test_model_info_lists_deep_supervision_outputs(capsys):
    assert main(["model-info", "nnunet_3d", "--input-shape", "32,32,32,1"]) == 0
    out = capsys.readouterr().out
    assert "31,195,594" in out and "(32, 32, 32, 2)" in out and "auxiliary output  (16, 16, 16, 2)" in out


@pytest.mark.parametrize("args, message", [
    (["model-info", "unet9"], "unknown model 'unet9': expected one of unet, ronneberger2015"),
    (["model-info", "pig_ct_2d", "--input-shape", "100,100,1"], "use sizes divisible by 64"),
    (["model-info", "unet", "--input-shape", "64,64"], "expected H,W,C or D,H,W,C"),
    (["model-info", "unet", "--input-shape", "64x64x1"], "expected integers such as 96,96,96,1"),
])
def test_model_info_errors_name_the_problem(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_model_info_of_a_config_is_the_network_it_trains(capsys):
    """The config's preset with its options, head, classes and channels, at its training input size."""
    assert main(["model-info", "--config", "cxr_lungs_unet", "--config.prepare.slice_size=(64,64)"]) == 0
    assert capsys.readouterr().out.splitlines()[:4] == [
        "config 'cxr_lungs_unet': unet2d_sigmoid (sigmoid head, 2 classes, 1 input channel(s)), input (64, 64, 1)",
        "  parameters        31,036,481", "  batch-norm stats  11,776", "  output            (64, 64, 1)"]
    preset = model_info("unet2d_sigmoid", (64, 64, 1))
    assert (preset["head"], preset["output_shape"], preset["params"]) == ("sigmoid", [64, 64, 1], 31_036_481)
    assert main(["model-info", "--config", "demo", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {k: info[k] for k in ("config", "model", "classes", "in_channels", "input_shape", "head", "params")} == {
        "config": "demo", "model": "unet", "classes": 5, "in_channels": 1, "input_shape": [64, 64, 1],
        "head": "softmax", "params": 482_517}
    # Three classes: the 1x1 head over the 16 full-resolution features loses 2 x 16 weights and 2 biases.
    assert main(["model-info", "--config", "demo", "--config.model.num_classes=3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == 482_517 - 34


@pytest.mark.parametrize("args, message", [
    (["model-info", "--config", "cxr_lung_boxes"], "config 'cxr_lung_boxes' trains task = 'detection'"),
    (["model-info", "unet", "--config", "demo"], "model-info takes a PRESET or --config FILE"),
    (["model-info", "unet", "--config.model.num_classes=3"], "model-info takes a PRESET or --config FILE"),
    (["model-info", "--config", "demo", "--input-shape", "64,64,3"],
     "the last size is the channels, and config 'demo' has 'model.in_channels' = 1"),
])
def test_model_info_of_a_config_errors(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err
