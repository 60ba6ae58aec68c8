"""One writer per store: an exclusive advisory lock on the store's directory.

`generate` and `stress` hold it for their whole run; a second writer gets a one-line
StoreError at once instead of racing the first. Readers (`report`, `stress` reading
universes) take no lock. The lock is `flock` on the directory itself, so it leaves
no file behind, and the kernel drops it when the process dies (a SIGKILL never
leaves a stale lock). Within one process the lock is re-entrant: every `Store`
opened for writing on the same directory shares it, and it is released when the
last of them is closed or garbage-collected.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from parallelverse.errors import StoreError

_held: dict[tuple[int, int], list[int]] = {}  # (st_dev, st_ino) -> [fd, holders]
_mutex = threading.Lock()


class StoreLock:
    """The writer lock of one store directory; `release()` (or garbage collection) gives it back."""

    def __init__(self, path: Path, fd: int, key: tuple[int, int]):
        self.path, self._fd, self._key, self._released = path, fd, key, False

    def release(self) -> None:
        with _mutex:
            if self._released:
                return
            self._released = True
            entry = _held.get(self._key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] <= 0:
                del _held[self._key]
                os.close(entry[0])  # closing the last descriptor drops the flock

    def __del__(self):
        try:
            self.release()
        except Exception:
            pass


def _forget_in_child() -> None:
    """A forked child (the strategy sandbox) holds no store lock: close its copies of the descriptors."""
    for fd, _ in _held.values():
        try:
            os.close(fd)
        except OSError:
            pass
    _held.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def lock_store(path: str | Path) -> StoreLock:
    """Take the writer lock of the store directory `path`; StoreError if another process holds it."""
    path = Path(path)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    st = os.fstat(fd)
    key = (st.st_dev, st.st_ino)
    with _mutex:
        if key in _held:
            os.close(fd)
            _held[key][1] += 1
            return StoreLock(path, _held[key][0], key)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(
                f"store {str(path)!r} is being written by another parallelverse process (generate or stress); "
                "wait for it to finish, or use another store"
            ) from None
        _held[key] = [fd, 1]
        return StoreLock(path, fd, key)
