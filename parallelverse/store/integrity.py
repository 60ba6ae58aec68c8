"""Chunk integrity: every chunk carries a crc32c checksum, and every read checks it is there and intact.

Each array is written with zarr v3's `crc32c` codec after the compressor, so a chunk
file is `blosc(bytes) + crc32c(blosc(bytes))`. On read the checksum is verified
before the decompressor sees a byte: a bit flip or a truncated file is an error, not
garbage prices, and never a crash inside Blosc. A *missing* chunk would read as the
fill value (NaN) without a word, so readers also check that the chunk files they
need exist. Every problem is one StoreError naming the array, the chunk and the fix.

Chunks are written even when they equal the fill value (`write_empty_chunks`), so
"every chunk file exists" is what a complete array looks like.

Metadata has its checksum too: a group that generate writes (the store's root, the
history, each universe) records a *seal* in its attributes, the sha256 of its own
attributes and of each of its arrays' zarr.json (shape, chunking, dtype, codecs,
attributes). Every reader checks the seal before trusting a number in them, so an
edited context_end, shape, codec chain, spec or flag is damage named in one line,
never a crash later or a wrong result; and every array read checks its codec chain
ends with the checksum (`check_codecs`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import google_crc32c  # zarr's own crc32c dependency
import numpy as np
import zarr
from zarr.codecs import BloscCodec, BloscShuffle, Crc32cCodec
from zarr.core.sync import sync  # zarr's own bridge to its event loop (what every zarr.Array method calls)

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


def check_codecs(arr: zarr.Array, where: str, fix: str) -> None:
    """`arr` is encoded as generate and stress write it (bytes, blosc, crc32c): an array whose zarr.json lost its
    checksum codec would read a flipped bit as a price without a word."""
    names = tuple(type(c).__name__ for c in arr.metadata.codecs)
    if names != ("BytesCodec", "BloscCodec", "Crc32cCodec"):
        raise StoreError(f"{where} is damaged ({arr.path}/zarr.json lists codecs "
                         f"{', '.join(n.removesuffix('Codec').lower() for n in names) or 'none'}, not bytes, blosc, "
                         f"crc32c: its checksum is not checked); {fix}")


def arrays_of(g: zarr.Group) -> dict[str, zarr.Array]:
    """The arrays of `g` by name, sorted. A member that lost its zarr.json is left out without zarr's warning (two
    lines on stderr before ours): the seal and the readers name it as damage in one line."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Object at .* is not recognized as a component of a Zarr hierarchy")
        return dict(sorted(g.arrays()))


def read_whole(arr: zarr.Array, where: str, fix: str) -> np.ndarray:
    """All of `arr`, after checking its codecs and that every chunk file is there; any damage is one StoreError."""
    return read_wholes([arr], where, fix)[0]


def check_present(arr: zarr.Array, where: str, fix: str) -> None:
    """Every chunk file of `arr` is there (a lazy reader would read a missing one as the fill value)."""
    _present_or_raise(arr, arr.nchunks_initialized, where, fix)


def _present_or_raise(arr: zarr.Array, initialized: int, where: str, fix: str) -> None:
    missing = arr.nchunks - initialized
    if missing:
        raise StoreError(f"{where}: {missing} of {arr.nchunks} chunk(s) of {arr.path} are missing; {fix}")


def read_checked(arr: zarr.Array, selection, where: str, fix: str) -> np.ndarray:
    """arr[selection], with a damaged chunk (or unreadable metadata) as one StoreError."""
    try:
        return arr[selection]
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        raise _damaged(arr, exc, where, fix) from None


def _damaged(arr: zarr.Array, exc: Exception, where: str, fix: str) -> StoreError:
    text = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = "checksum mismatch: bit-flipped or truncated" if "checksum" in text else text[:120]
    return StoreError(f"{where}: {arr.path} is damaged ({reason}); {fix}")


def read_wholes(arrays: list[zarr.Array], where: str, fix: str) -> list[np.ndarray]:
    """All of each array, checked alike: every codec chain first, then each array's chunks present and
    intact, in list order (the first problem found is the one StoreError). The chunk counts and reads overlap on
    zarr's event loop: one round trip to it, not two per array (a results group holds a hundred small arrays)."""
    for arr in arrays:
        check_codecs(arr, where, fix)

    async def one(arr: zarr.Array):
        try:
            initialized = await arr.async_array.nchunks_initialized()
            return initialized, await arr.async_array.getitem(slice(None))
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:
            return None, exc

    async def every():
        return await asyncio.gather(*(one(arr) for arr in arrays))

    out = []
    for arr, (initialized, value) in zip(arrays, sync(every())):
        if initialized is not None:
            _present_or_raise(arr, initialized, where, fix)
        if isinstance(value, Exception):
            raise _damaged(arr, value, where, fix)
        out.append(np.asarray(value))
    return out


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


SEAL = "seal"  # the attribute holding a group's seal


def values_digest(x: np.ndarray, context: object = None) -> str:
    """sha256 of an array's dtype, shape and values, after the canonical JSON digest of `context` when one is given
    (whose values they are: a universe's spec, the chunk and the field). It says what a chunk's crc32c cannot: a
    chunk file holds its checksum wherever it is copied."""
    x = np.ascontiguousarray(x)
    h = hashlib.sha256(b"" if context is None else _digest(context).encode())
    h.update(f"{x.dtype.str}{x.shape}".encode())
    h.update(x.tobytes())
    return h.hexdigest()


def _digest(obj) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(obj):
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON")


def _node_json(d: Path) -> dict:
    meta = json.loads((d / "zarr.json").read_text())
    if not isinstance(meta, dict):
        raise ValueError("not a JSON object")
    return meta


def seal_of(group_dir: Path, attrs: dict, children: Iterable[str]) -> dict:
    """The seal of a group whose attributes will be `attrs` (its seal left out): {"zarr.json": sha256 of the
    attributes, child: sha256 of the child's whole zarr.json} for each child node (a path relative to the group)."""
    out = {"zarr.json": _digest({k: v for k, v in attrs.items() if k != SEAL})}
    for child in children:
        out[child] = _digest(_node_json(group_dir / child))
    return out


def seal_problem(group_dir: Path, rel: str) -> str | None:
    """Why the group at `group_dir` (named `rel` in messages, e.g. "history/") does not match its seal, or None."""
    try:
        meta = _node_json(group_dir)
    except FileNotFoundError:
        return f"{rel}zarr.json is missing"
    except (OSError, ValueError) as exc:
        return f"{rel}zarr.json is unreadable ({type(exc).__name__})"
    attrs = meta.get("attributes")
    seal = attrs.get(SEAL) if isinstance(attrs, dict) else None
    if not isinstance(seal, dict) or not all(isinstance(v, str) for v in seal.values()):
        return f"{rel}zarr.json has no seal: it was rewritten by something other than parallelverse"
    if seal.get("zarr.json") != _digest({k: v for k, v in attrs.items() if k != SEAL}):
        return f"the attributes in {rel}zarr.json were edited"
    if meta.get("consolidated_metadata") is not None:  # zarr would list the members from it, not from the files
        return f"{rel}zarr.json holds consolidated metadata, which parallelverse does not write"
    for child, want in seal.items():
        if child == "zarr.json":
            continue
        try:
            got = _digest(_node_json(group_dir / child))
        except FileNotFoundError:
            return f"{rel}{child}/zarr.json is missing"
        except (OSError, ValueError) as exc:
            return f"{rel}{child}/zarr.json is unreadable ({type(exc).__name__})"
        if got != want:
            return f"{rel}{child}/zarr.json was edited (shape, chunks, dtype, codecs or attributes)"
    return None


def check_seal(group_dir: Path, rel: str, where: str, fix: str, verb: str = "is") -> None:
    """One StoreError "<where> is damaged (<what was edited>); <fix>" unless the group matches its seal."""
    problem = seal_problem(group_dir, rel)
    if problem:
        raise StoreError(f"{where} {verb} damaged ({problem}); {fix}")
