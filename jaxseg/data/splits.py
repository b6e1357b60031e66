"""The train / val / test split a config asks for: seeded (`jaxseg.data.msd.split_cases`), or pinned by
name with `data.test_cases` / `data.val_cases`.

A pinned split lists case ids or image file names (`4d98e1de`, `4d98e1de.jpg`, `spleen_2.nii.gz`),
as a list in the config or as a text file with one per line (blank lines and `#` comments skipped;
a relative path is taken from the working folder). A named case brings its whole subject into the
split, as the seeded split keeps subjects together. A split that is not pinned is drawn by
`data.split_seed` from the subjects left, with its `data.num_val` / `data.num_test` size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ml_collections

from jaxseg.config import ConfigError
from jaxseg.data.msd import split_cases


def case_names(value: Any, key: str) -> tuple[str, ...]:
    """The names a `data.*_cases` key lists: a list/tuple of strings, or the lines of a text file."""
    if isinstance(value, str):
        path = Path(value)
        if not path.is_file():
            raise ConfigError(f"config key '{key}' = {value!r}: no such file (a text file with one case per line, "
                              "or a list of case names)")
        lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
        return tuple(line for line in lines if line)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"config key '{key}' = {value!r}: expected a list of case names or a text file")
    return tuple(value)


def _names(case) -> set[str]:
    """What a case can be called: its id and its first image file's name with and without endings
    (a segmentation `Case` has `images`, a detection image a `path`)."""
    files = getattr(case, "images", None) or (case.path,)
    name = Path(files[0]).name
    return {case.case_id, name, name.split(".", 1)[0]}


def _pinned_subjects(cases: Sequence, names: tuple[str, ...], key: str) -> set[str]:
    found = {name: {c.subject for c in cases if name in _names(c)} for name in names}
    unknown = [name for name, subjects in found.items() if not subjects]
    if unknown:
        known = ", ".join(sorted(c.case_id for c in cases)[:8])
        raise ConfigError(f"config key '{key}' names {len(unknown)} case(s) the dataset does not have: "
                          f"{', '.join(unknown[:10])} (its cases: {known}{', ...' if len(cases) > 8 else ''})")
    return set().union(*found.values())


def _seeded(cases: tuple, num_val: int, num_test: int, config: ml_collections.ConfigDict, folds: int) -> dict:
    d = config.data
    try:
        return split_cases(cases, num_val, num_test, d.split_seed, folds, d.fold)
    except ValueError as err:
        raise ConfigError(f"config keys 'data.num_val', 'data.num_test', 'data.folds', 'data.test_cases', "
                          f"'data.val_cases' do not fit the {len(cases)} cases left to split: {err}") from None


def config_split(config: ml_collections.ConfigDict, cases: Sequence) -> dict[str, tuple]:
    """{"train", "val", "test"}: tuples of `cases` (sorted by case id) as the config's `data` section
    splits them; ConfigError naming the keys that do not fit the cases."""
    d = config.data
    test_names, val_names = case_names(d.test_cases, "data.test_cases"), case_names(d.val_cases, "data.val_cases")
    cases = tuple(cases)
    if not test_names and not val_names:
        return _seeded(cases, d.num_val, d.num_test, config, d.folds)
    if d.folds and test_names:
        raise ConfigError(f"config key 'data.test_cases' pins the test split: it cannot be combined with "
                          f"'data.folds' = {d.folds}")
    test = _pinned_subjects(cases, test_names, "data.test_cases")
    val = _pinned_subjects(cases, val_names, "data.val_cases")
    if test & val:
        raise ConfigError(f"subjects {', '.join(sorted(test & val)[:10])} are named by both 'data.test_cases' "
                          "and 'data.val_cases'")
    rest = tuple(c for c in cases if c.subject not in test | val)
    drawn = _seeded(rest, 0 if val_names else d.num_val, 0 if test_names else d.num_test, config,
                    0 if test_names else d.folds)
    group = lambda chosen: tuple(sorted((c for c in cases if c.subject in chosen), key=lambda c: c.case_id))  # noqa: E731
    return {"train": drawn["train"], "val": group(val) if val_names else drawn["val"],
            "test": group(test) if test_names else drawn["test"]}
