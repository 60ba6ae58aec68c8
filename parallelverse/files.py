"""Whole-file writes that are never seen half done: the one home for writing a report, a page or a cell file."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` to a temporary file beside `path`, flush it to disk, then rename it over `path`.

    Readers see the old file or the whole new one, never a part; a failure removes the temporary file
    (ours) and is raised as an OSError naming `path`, not the temporary name."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) from None
    return path
