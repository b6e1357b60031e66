"""The documentation: the generated config reference is current, the README stays short, and every
jaxseg command shown in README.md and docs/ parses with the real command line."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from jaxseg.cli import _split_overrides, build_parser
from jaxseg.config import base_config

REPO = Path(__file__).resolve().parent.parent
PAGES = sorted((REPO / "docs").glob("*.md"))
DOCS = [REPO / "README.md", *PAGES]
TASK_PAGES = ("installing", "data", "training", "evaluation", "benchmarks", "seeds", "extending", "config-reference")


def _generator():
    spec = importlib.util.spec_from_file_location("gen_config_reference", REPO / "scripts" / "gen_config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_config_reference_is_the_generated_one():
    committed = (REPO / "docs" / "config-reference.md").read_text()
    assert committed == _generator().render(), "run python scripts/gen_config_reference.py and commit the page"


def test_the_reference_reads_help_text_types_defaults_and_choices_from_the_schema():
    generator = _generator()
    page = generator.render()
    assert ("| `data.normalize` | str | `'auto'` | `auto`, `ct`, `zscore`, `none` | auto (CT window for CT channels, "
            "else z-score) \\| ct \\| zscore \\| none. |") in page
    assert "| `model.depth` | int | unset |  |  |" in page
    # A comment ending in a comma continues on the next line; comments above a key belong to it.
    assert ("| `propagation.correction_fractions` | tuple | `(0.5, 0.25, 0.2, 0.1)` |  | Simulated-correction "
            "steps after one-shot, each a fraction of the organ's extent along data.plane (seed 004's figures: "
            "0.1). |") in page
    assert ("| `sampling.tile_size` | int | `0` |  | Valid-padding U-Nets (model.padding = valid): the square input "
            "tile") in page
    # "a | b" that does not list the default is prose, not a choice.
    assert "| `sampling.slice_shapes` | str | `'pad'` |  |" in page
    config = base_config()
    keys = [f"{s}.{k}" for s in config if hasattr(config[s], "keys") for k in config[s]]
    keys += [k for k in config if not hasattr(config[k], "keys")]
    assert all(f"| `{key}` |" in page for key in keys)


def test_readme_is_short_and_the_pages_exist():
    assert (REPO / "README.md").stat().st_size < 10_000
    assert {p.stem for p in PAGES} >= set(TASK_PAGES)
    readme = (REPO / "README.md").read_text()
    # The Quick start's two commands, verbatim.
    assert "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && jaxseg demo\n" in readme
    assert ("python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && ruff check && pytest\n"
            in readme)


def _commands(text: str) -> list[str]:
    """jaxseg command lines of fenced code blocks (continuations joined, `$ ` prompts dropped)."""
    commands = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("jaxseg "):
                commands.append(line)
    return commands


def _inline(text: str) -> list[str]:
    """`jaxseg ...` spans of the prose, synopses included."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return [span for span in re.findall(r"`(jaxseg [^`]+)`", prose)]


def _subparser(words: list[str]):
    """The argparse parser of `jaxseg WORDS...` (nested: bench data), and the words it took."""
    parser, used = build_parser(), 0
    while used < len(words):
        actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not actions or words[used] not in actions[0].choices:
            break
        parser, used = actions[0].choices[words[used]], used + 1
    return parser, used


def _check_key(key: str, where: str) -> None:
    if any(c.isupper() for c in key):  # a placeholder: --config.SECTION.KEY
        return
    node = base_config()
    for part in key.split("."):
        assert hasattr(node, "keys") and part in node, f"{where}: --config.{key} is not a config key"
        node = node[part]


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_command_shown_parses(page):
    text = page.read_text()
    for command in _commands(text):
        tokens = shlex.split(command, comments=True)
        for stop in ("&&", "|", ";"):
            tokens = tokens[:tokens.index(stop)] if stop in tokens else tokens
        rest, overrides = _split_overrides(tokens[1:])
        for override in overrides:
            _check_key(override.split("=", 1)[0], f"{page.name}: {command}")
        try:
            build_parser().parse_args(rest)
        except SystemExit as exit_:
            pytest.fail(f"{page.name}: `{command}` does not parse (exit {exit_.code})")
    for span in _inline(text):
        words = span.split()[1:]
        parser, used = _subparser(words)
        assert used, f"{page.name}: `{span}` names no jaxseg subcommand"
        options = {o for action in parser._actions for o in action.option_strings}
        for option in re.findall(r"(?<![\w-])--[a-z][\w.\-]*", span):
            if option.startswith("--config."):
                _check_key(option[len("--config."):].split("=")[0], f"{page.name}: `{span}`")
            else:
                assert option in options, f"{page.name}: `{span}`: {option} is not an option of it"


def test_the_checker_catches_a_wrong_command():
    with pytest.raises(AssertionError, match="--config.train.stepz is not a config key"):
        _check_key("train.stepz", "example")
    assert _commands("```bash\n$ jaxseg predict --checkpoint R \\\n  in.nii out.nii.gz\n```\n") == [
        "jaxseg predict --checkpoint R    in.nii out.nii.gz"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["predict", "--checkpoint", "R", "--nonsense", "a", "b"])
