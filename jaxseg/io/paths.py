"""Names taken from data (dataset.json entries, CSV ids, case ids) turned into paths safely.

A name such as `../../x` or `/etc/x` in a manifest would otherwise read, or write predictions and
cache folders, outside the folders the user gave. Containment is checked on the lexical path
(after removing `..`), so symbolic links that the user placed inside a dataset folder still work.
"""

from __future__ import annotations

import os
from pathlib import Path

from jaxseg.io.errors import ReadError


def inside(base: str | os.PathLike, name: str | os.PathLike, source: object, what: str) -> Path:
    """BASE/NAME when it stays inside BASE; ReadError naming `source` (the file the name came from)
    and the entry (`what`, such as "training entry 'image'") otherwise."""
    whole = Path(os.path.normpath(os.path.abspath(base)))
    path = Path(os.path.normpath(whole / name))
    if path != whole and whole not in path.parents:
        raise ReadError(source, f"{what} {str(name)!r} leads outside {base}: refused")
    return Path(os.path.normpath(Path(base) / name))


def plain_name(name: str, source: object, what: str) -> str:
    """`name` when it can name one file or folder (case ids become cache folders and prediction
    files): not empty, not '.' or '..', without path separators; ReadError naming `source` otherwise."""
    if name in ("", ".", "..") or any(c in name for c in ("/", "\\", "\0")):
        raise ReadError(source, f"{what} {name!r} is not a plain file name (no '/', '\\\\', '..'): refused")
    return name
