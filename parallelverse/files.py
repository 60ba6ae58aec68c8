"""Whole-file writes that are never seen half done: the one home for writing a report, a page or a cell file."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path


# The first bytes of every page parallelverse writes (report, calibration): an existing file is only replaced when it
# starts like this, so `--html` pointed at a strategy, a data file or a store's zarr.json is refused, not overwritten.
PAGE_HEAD = "<!doctype html><html><head><meta charset='utf-8'><meta name='generator' content='parallelverse'>"
_OLDER_PAGE_HEAD = "<!doctype html><html><head><meta charset='utf-8'><title>parallelverse "  # before the generator tag


def is_our_page(path: str | Path) -> bool:
    """Whether the existing file at `path` is a page parallelverse wrote."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(PAGE_HEAD)).decode("utf-8", "replace")
    except OSError:
        return False
    return head.startswith(PAGE_HEAD) or head.startswith(_OLDER_PAGE_HEAD)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) atomically: see write_bytes_atomic."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to a temporary file beside `path`, flush it to disk, then rename it over `path`.

    Readers see the old file or the whole new one, never a part; a failure removes the temporary file
    (ours) and is raised as an OSError naming `path`, not the temporary name."""
    path = Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)  # write through a link
    _clean_dead_temporaries(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) from None
    return path


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_dead_temporaries(path: Path) -> None:
    """Remove `.<name>.<pid>.partial` files beside `path` left by killed writers of the same file."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.partial$")
    with contextlib.suppress(OSError):
        for p in path.parent.iterdir():
            m = pattern.match(p.name)
            if m and int(m[1]) != os.getpid() and not pid_alive(int(m[1])) and p.is_file() and not p.is_symlink():
                with contextlib.suppress(OSError):
                    p.unlink()
