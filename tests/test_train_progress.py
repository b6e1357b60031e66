"""What `jaxseg train` tells before its first step, and curves.png with and without validation."""

import json
import re

from PIL import Image

from jaxseg.config import load_config
from jaxseg.report import training_curves
from jaxseg.train.loop import fit
from tests.conftest import tiny_overrides


def test_training_says_what_it_does_before_the_first_step(phantom_root, tmp_path, capsys):
    config = load_config("demo", tiny_overrides(phantom_root, **{"data.num_val": 0, "train.steps": 2,
                                                                  "train.log_every": 1, "train.val_every": 2}))
    fit(config, tmp_path / "run", progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("jaxseg: ")]
    patterns = [
        rf"jaxseg: preparing 4 training cases of {re.escape(str(phantom_root))}",
        rf"jaxseg: 4 training cases ready in \d+\.\d s \(4 prepared now, 0 reused, 0 failed; cache "
        rf"{re.escape(str(tmp_path / 'run' / 'prepared'))}/\S+\)",
        r"jaxseg: 0 validation cases read in \d+\.\d s",
        # 0.9^2 = 0.81 left; 0.9^29 = 0.047; 0.05^(1/2) = 0.224.
        re.escape("jaxseg: warning: batch norm's running statistics will still hold 81% of their initial values "
                  "after 2 steps (model.bn_momentum=0.9), and validation and inference use them: train 29 steps "
                  "or more, or set model.bn_momentum to 0.22 or lower"),
        r"jaxseg: compiling the train step \(batch 4\), then training from step 1",
        r"jaxseg: train step compiled in \d+\.\d s",
    ]
    assert len(lines) == len(patterns) and all(re.fullmatch(p, line) for p, line in zip(patterns, lines)), lines
    # No validation: curves.png is the loss panel alone (5 x 3.5 inches at 100 dpi).
    assert Image.open(tmp_path / "run" / "curves.png").size == (500, 350)
    fit(config, tmp_path / "run", progress=True)  # Finished: prepared data are reused, nothing is compiled.
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("jaxseg: ")]
    assert re.fullmatch(r"jaxseg: 4 training cases ready in \d+\.\d s \(0 prepared now, 4 reused, 0 failed; .*\)",
                        lines[1]) and not any("compil" in line for line in lines)


def test_curves_draw_a_validation_panel_only_for_runs_that_validated(tmp_path):
    records = [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5, "val_dice": 0.4, "val_dice_ema": 0.4}]
    (tmp_path / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "plain.jsonl").write_text("".join(json.dumps({"step": r["step"], "loss": r["loss"]}) + "\n"
                                                  for r in records))
    assert Image.open(training_curves(tmp_path / "val.jsonl", tmp_path / "val.png")).size == (1000, 350)
    assert Image.open(training_curves(tmp_path / "plain.jsonl", tmp_path / "plain.png")).size == (500, 350)
