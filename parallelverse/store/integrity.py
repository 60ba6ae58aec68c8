"""Chunk integrity: every chunk carries a crc32c checksum, and every read checks it is there and intact.

Each array is written with zarr v3's `crc32c` codec after the compressor, so a chunk
file is `blosc(bytes) + crc32c(blosc(bytes))`. On read the checksum is verified
before the decompressor sees a byte: a bit flip or a truncated file is an error, not
garbage prices, and never a crash inside Blosc. A *missing* chunk would read as the
fill value (NaN) without a word, so readers also check that the chunk files they
need exist. Every problem is one StoreError naming the array, the chunk and the fix.

Chunks are written even when they equal the fill value (`write_empty_chunks`), so
"every chunk file exists" is what a complete array looks like.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import google_crc32c  # zarr's own crc32c dependency
import numpy as np
import zarr
from zarr.codecs import BloscCodec, BloscShuffle, Crc32cCodec

from parallelverse.errors import StoreError

COMPRESSOR = BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.shuffle)
CODECS = (COMPRESSOR, Crc32cCodec())  # compressors= of every array the store writes: checksum outermost

# A chunk equal to the fill value is still written, so a missing file always means damage.
zarr.config.set({"array.write_empty_chunks": True})


def array_dir(arr: zarr.Array) -> Path:
    return Path(arr.store.root) / arr.path


def chunk_file(arr: zarr.Array, index: tuple[int, ...]) -> Path:
    """The file of chunk `index` (zarr v3 default key encoding: c/i/j)."""
    return array_dir(arr).joinpath("c", *map(str, index))


def chunk_problem(path: Path) -> str | None:
    """Why the chunk file at `path` is unusable ("missing", "damaged ..."), or None if its checksum holds."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if len(data) <= 4 or google_crc32c.value(data[:-4]) != int.from_bytes(data[-4:], "little"):
        return "damaged (checksum mismatch: bit-flipped or truncated)"
    return None


def read_whole(arr: zarr.Array, where: str, fix: str) -> np.ndarray:
    """All of `arr`, after checking every chunk file is there; any damage is one StoreError."""
    check_present(arr, where, fix)
    return read_checked(arr, slice(None), where, fix)


def check_present(arr: zarr.Array, where: str, fix: str) -> None:
    """Every chunk file of `arr` is there (a lazy reader would read a missing one as the fill value)."""
    missing = arr.nchunks - arr.nchunks_initialized
    if missing:
        raise StoreError(f"{where}: {missing} of {arr.nchunks} chunk(s) of {arr.path} are missing; {fix}")


def read_checked(arr: zarr.Array, selection, where: str, fix: str) -> np.ndarray:
    """arr[selection], with a damaged chunk (or unreadable metadata) as one StoreError."""
    try:
        return arr[selection]
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = "checksum mismatch: bit-flipped or truncated" if "checksum" in text else text[:120]
        raise StoreError(f"{where}: {arr.path} is damaged ({reason}); {fix}") from None


@contextmanager
def damage_named(where: str, fix: str, verb: str = "is") -> Iterator[None]:
    """Turn any failure while reading `where` into one StoreError naming it and the fix (never a crash)."""
    try:
        yield
    except StoreError:
        raise
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:80] if str(exc).strip() else ""
        raise StoreError(f"{where} {verb} damaged ({type(exc).__name__}{': ' + first if first else ''}); {fix}") from None
