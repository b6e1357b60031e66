"""Writing files atomically: a reader (or a crash, or a full disk) never sees a partial file.

Each file is written under a temporary name beside its final one and renamed over it when
complete (`os.replace` is atomic within a filesystem), so a failed write leaves the previous
version intact. The temporary file is created with mode 0666 less the user's umask, so the
result has the permissions any other file the user writes would have (`tempfile.mkstemp` would
make it 0600).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`, with the same endings (writers pick formats by them);
    write it inside the block; it replaces `path` when the block ends, and is removed on error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{''.join(path.suffixes)}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; returns the path."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())  # On disk before the rename, so a crash cannot leave an empty file.
    return Path(path)
