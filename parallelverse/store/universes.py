"""Universes: one group of synthetic paths per generator run.

    universes/<name>/             attrs: spec, complete, versions, fitted, seed_window, ..., seal
      time                        (horizon_bars,) int64 ns
      open high low close volume  (horizon_bars, n_paths) float64, chunked along paths
      chunk_done                  (n_chunks,) bool: chunk k of all five fields is written
      chunk_sha256                (n_chunks, 5, 32) uint8: per chunk and field, the sha256 of the values written
                                  there, salted with the spec, the store's identity, the chunk and the field
      chunk_counts/<counter>      (n_chunks,) int64: what sampling chunk k counted (e.g. Kronos repairs);
                                  only for generators that count something

A universe group is built under a temporary name and renamed into place, so it
exists with its spec or not at all. Writes then go chunk by chunk: the five field
chunks and the chunk's counts first, then `chunk_done[k]`; each file write is atomic
(zarr's LocalStore writes a temporary file and renames it). `complete` turns true
only after every chunk is marked, so an interrupted run never looks complete, and a
rerun regenerates exactly the chunks that are not marked -- or whose files are
missing or fail their checksum (see integrity.py): the same command repairs them.
Per-chunk counts make the totals recorded at the end independent of how many
processes wrote the chunks.

A chunk file keeps its crc32c wherever it is copied, so each chunk of each field also
has its digest, written before its `chunk_done` mark: a chunk file swapped between two
fields or chunks, or copied in from another run, is damage to readers (every chunk is
checked once per `Universe`, on its first read) and repaired by the same generate
command. The time stamps' digest is a sealed attribute (`time_sha256`). Universes
written before digests were recorded have neither and are read as they are.

The group's seal (integrity.py) covers its attributes and its arrays' zarr.json; it is
written with the skeleton and again, in the same write as `complete`, by `finish`. A
universe whose metadata is lost or fails its seal is damage to readers and rebuilt
from the spec by the same generate command.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import zarr

from parallelverse.bars import FIELDS, PathBatch
from parallelverse.errors import StoreError
from parallelverse.store.history import TIME_ATTRS, package_versions
from parallelverse.store.integrity import (CODECS, SEAL, arrays_of, check_codecs, check_present, check_seal, chunk_file, chunk_problem,
                                          damage_named, read_whole, seal_of, seal_problem, values_digest)
from parallelverse.store.names import check_name
from parallelverse.store.tree import ensure_plain_group, foreign_entries, remove_ours

_COUNTS = "chunk_counts"
_DIGESTS = "chunk_sha256"  # (n_chunks, len(FIELDS), 32) uint8: what each field's chunk k held when written
_TIME_DIGEST = "time_sha256"  # sealed attribute: values_digest of the horizon's time stamps


def chunk_digest(owner: dict, k: int, f: str, values: np.ndarray) -> np.ndarray:
    """The 32 bytes recorded for field f of chunk k: the float64 values as stored, salted with whose they are
    (`owner`: the universe's spec and the store's identity, its bars and window) and where they go."""
    digest = values_digest(np.asarray(values, dtype=np.float64), {**owner, "chunk": k, "field": f})
    return np.frombuffer(bytes.fromhex(digest), dtype=np.uint8)


def _owner(g: zarr.Group, spec: dict) -> dict:
    """Whose chunks a universe group holds: its spec and its store's identity (sealed in the store's root)."""
    root = zarr.open_group(store=g.store, path="", mode="r")
    return {"spec": spec, "store": root.attrs.get("identity")}


class Attrs(dict):
    """A group's attributes as a plain dict (`asdict()` as zarr's own attributes have)."""

    def asdict(self) -> dict:
        return dict(self)


@dataclass(frozen=True)
class UniverseSpec:
    """Everything that determines a universe's paths; a rerun must match it exactly to resume."""

    name: str
    generator: str
    params: dict
    seed: int
    n_paths: int
    chunk_paths: int
    model_digest: str | None = None  # model generators: their weights (generators.model_digest)

    @property
    def n_chunks(self) -> int:
        return -(-self.n_paths // self.chunk_paths)

    def chunk_range(self, k: int) -> tuple[int, int]:
        return k * self.chunk_paths, min(self.n_paths, (k + 1) * self.chunk_paths)

    def record(self) -> dict:
        out = {
            "generator": self.generator,
            "params": self.params,
            "seed": self.seed,
            "n_paths": self.n_paths,
            "chunk_paths": self.chunk_paths,
        }
        if self.model_digest is not None:
            out["model_digest"] = self.model_digest
        return out


def spec_differences(found: dict | None, want: dict | None, other: str = "this run") -> str:
    """'seed 0 (this run: 7), model_digest 1a2b... (this run: 9f8e...)': what differs between two spec records."""
    found = found if isinstance(found, dict) else {}
    want = want if isinstance(want, dict) else {}
    flat = lambda d: {**{k: v for k, v in d.items() if k != "params"},  # noqa: E731
                      **{f"params.{k}": v for k, v in (d.get("params") or {}).items()}}
    a, b = flat(found), flat(want)
    short = lambda v: f"{v[:12]}..." if isinstance(v, str) and len(v) == 64 else repr(v)  # noqa: E731
    diffs = [f"{k} {short(a.get(k)) if k in a else '(not recorded)'} ({other}: {short(b.get(k)) if k in b else 'none'})"
             for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k) or (k in a) != (k in b)]
    return ", ".join(diffs) or "other settings"


def _fix(name: str) -> str:
    return f"rerun the `parallelverse generate` command that made universe {name!r} (same options) to repair it"


@dataclass(frozen=True)
class Universe:
    """A universe for reading: its metadata, and its paths batch by batch (every chunk checked)."""

    name: str
    n_paths: int
    chunk_paths: int  # paths per stored chunk: read whole chunks
    time: np.ndarray  # (horizon_bars,) int64 ns
    attrs: Attrs  # spec, complete, fitted, versions, ...
    group: zarr.Group = field(repr=False, compare=False)
    _checked: set = field(default_factory=set, init=False, repr=False, compare=False)  # (field, chunk) digests held

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete", False))

    @property
    def generator(self) -> str:
        """The generator family ("garch", "bootstrap", "kronos", ...) that made the universe."""
        return (self.attrs.get("spec") or {}).get("generator", "")

    def read(self, start: int = 0, stop: int | None = None) -> PathBatch:
        """Paths start..stop-1, each field (horizon_bars, stop - start), with the horizon's time stamps."""
        return PathBatch(*(self._field(f, start, stop) for f in FIELDS), self.time)

    def close(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Close prices of paths start..stop-1: (horizon_bars, stop - start)."""
        return self._field("close", start, stop)

    def check_present(self) -> None:
        """Every chunk file of every field is there (lazy readers, e.g. dask, would read a missing one as NaN);
        their checksums are verified by the codec when they are read."""
        check_present(self.group["time"], f"universe {self.name!r} in {str(Path(self.group.store.root))!r}",
                      _fix(self.name))
        for f in FIELDS:
            arr = self.group[f]
            for k in range(arr.cdata_shape[1]):
                if not chunk_file(arr, (0, k)).exists():
                    raise StoreError(self._damage(k, f, "missing"))

    def field(self, f: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Field f ("open" ... "volume") of paths start..stop-1: (horizon_bars, stop - start); damage is one
        StoreError naming the chunk."""
        return self._field(f, start, stop)

    def _field(self, f: str, start: int, stop: int | None) -> np.ndarray:
        stop = self.n_paths if stop is None else min(stop, self.n_paths)
        arr = self.group[f]
        check_codecs(arr, f"universe {self.name!r} in {str(Path(self.group.store.root))!r}", _fix(self.name))
        chunks = range(start // self.chunk_paths, -(-stop // self.chunk_paths)) if stop > start else range(0)
        for k in chunks:  # a missing chunk would read as NaN: refuse it
            if not chunk_file(arr, (0, k)).exists():
                raise StoreError(self._damage(k, f, "missing"))
        unchecked = [k for k in chunks if (f, k) not in self._checked] if self._digested else []
        # chunks read for the first time are read whole, to check their digests
        lo = min(start, unchecked[0] * self.chunk_paths) if unchecked else start
        hi = max(stop, min(self.n_paths, (unchecked[-1] + 1) * self.chunk_paths)) if unchecked else stop
        try:
            values = arr[:, lo:hi]
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception:
            for k in chunks:
                problem = chunk_problem(chunk_file(arr, (0, k)))
                a, b = self._paths(k)
                if problem is None and not _decodes(lambda: arr[:, a:b] is not None):
                    problem = "not a chunk of this array (a chunk file of another shape copied in)"
                if problem:
                    raise StoreError(self._damage(k, f, problem)) from None
            raise StoreError(f"universe {self.name!r} in {str(Path(self.group.store.root))!r}: {f} cannot be read; "
                             f"{_fix(self.name)}") from None
        if unchecked:
            self._check_digests(f, unchecked, values, lo)
        return values[:, start - lo:stop - lo]

    def _check_digests(self, f: str, chunks: list[int], values: np.ndarray, lo: int) -> None:
        """Each chunk in `values` (paths lo...) holds what generate wrote there."""
        i = FIELDS.index(f)
        for k in chunks:
            a, b = self._paths(k)
            if not np.array_equal(self._digest_table[k, i], chunk_digest(self._chunk_owner, k, f, values[:, a - lo:b - lo])):
                raise StoreError(self._damage(k, f, "not what generate wrote there (a chunk file edited, swapped or "
                                                    "copied in)"))
            self._checked.add((f, k))

    @cached_property
    def _digested(self) -> bool:
        return _DIGESTS in self.group  # every universe made since chunk digests were recorded

    @cached_property
    def _digest_table(self) -> np.ndarray:
        """chunk_sha256, read whole once (a few hundred bytes per chunk)."""
        return read_whole(self.group[_DIGESTS], f"universe {self.name!r} in {str(Path(self.group.store.root))!r}",
                          _fix(self.name))

    @cached_property
    def _chunk_owner(self) -> dict:
        return _owner(self.group, self.attrs["spec"])

    def _paths(self, k: int) -> tuple[int, int]:
        """Paths of chunk k: (first, one past the last)."""
        return k * self.chunk_paths, min(self.n_paths, (k + 1) * self.chunk_paths)

    def _damage(self, k: int, f: str, problem: str) -> str:
        lo, hi = self._paths(k)
        return (f"universe {self.name!r} in {str(Path(self.group.store.root))!r}: chunk {k} (paths {lo}-{hi - 1}) of "
                f"{f} is {problem}; {_fix(self.name)}")


def universe_dir(root: zarr.Group, name: str) -> Path:
    return Path(root.store.root) / "universes" / name


_CHILDREN = ("time", *FIELDS, "chunk_done")  # the arrays every universe has from its skeleton on


def _children(g: zarr.Group) -> tuple[str, ...]:
    """The arrays of a universe's skeleton: chunk_sha256 too, in universes made since digests were recorded."""
    return (*_CHILDREN, *([_DIGESTS] if _DIGESTS in g else []))


def universe_of(root: zarr.Group, name: str) -> Universe:
    where = f"universe {name!r} in {str(Path(root.store.root))!r}"
    if not (universe_dir(root, name) / "zarr.json").is_file():
        raise StoreError(f"{where} is damaged (its zarr.json is missing); {_fix(name)}")
    with damage_named(where, _fix(name)):
        g = root[f"universes/{name}"]
        close = g["close"]
        time = read_whole(g["time"], where, _fix(name))  # a missing chunk would read as 1970-01-01
        attrs = Attrs(g.attrs.asdict())
        _check_shapes(g, attrs, time, where, name)  # the likely edits, named precisely
    check_seal(universe_dir(root, name), f"universes/{name}/", where, _fix(name))  # and any other edit
    if "name" in attrs and attrs["name"] != name:
        raise StoreError(f"{where} is damaged (it was made as universe {attrs['name']!r} and renamed); rename it back "
                         f"to universes/{attrs['name']}")
    elsewhere = _made_elsewhere(attrs, root.attrs.get("identity"))
    if elsewhere:
        raise StoreError(f"{where} is damaged ({elsewhere}); {_fix(name)}")
    if _TIME_DIGEST in attrs and attrs[_TIME_DIGEST] != values_digest(time):
        raise StoreError(f"{where} is damaged (time holds other stamps than generate wrote there: its chunk file was "
                         f"edited or copied in); {_fix(name)}")
    return Universe(name, close.shape[1], close.chunks[1], time, attrs, g)


_IDENTITY_KEYS = ("symbol", "source", "seed_window", "context_bars", "horizon_bars")  # recorded by both, at finish


def _made_elsewhere(attrs: dict, identity) -> str | None:
    """Why a universe's own (sealed) record says it was made in another store, or None: a universe copied in passes
    every seal (universes from before chunk digests have no other check)."""
    identity = identity if isinstance(identity, dict) else {}
    for key in _IDENTITY_KEYS:
        if key in attrs and key in identity and attrs[key] != identity[key]:
            return (f"it was made with {key} {attrs[key]!r}, this store with {identity[key]!r}: copied in from another "
                    "store")
    return None


def _check_shapes(g: zarr.Group, attrs: Attrs, time: np.ndarray, where: str, name: str) -> None:
    """The five fields agree with each other, with the time axis and with the spec (paths, chunking), and
    `complete` is a real true/false: an edited zarr.json is damage, not a smaller universe."""
    spec = attrs.get("spec")
    if not isinstance(spec, dict):
        raise StoreError(f"{where} is damaged (no spec); {_fix(name)}")
    want = (len(time), spec.get("n_paths"))
    for f in (*FIELDS, "chunk_done"):
        check_codecs(g[f], where, _fix(name))
    for f in FIELDS:
        a = g[f]
        if a.dtype != np.float64:
            raise StoreError(f"{where} is damaged ({f} is stored as {a.dtype}, not float64); {_fix(name)}")
        if a.shape != want or a.chunks[1] != spec.get("chunk_paths"):
            raise StoreError(f"{where} is damaged ({f} has shape {a.shape} in chunks of {a.chunks[1]} paths; its spec "
                             f"says {want[1]} paths of {want[0]} bars in chunks of {spec.get('chunk_paths')}); {_fix(name)}")
    if not isinstance(attrs.get("complete", False), bool):
        raise StoreError(f"{where} is damaged (complete = {attrs.get('complete')!r}); {_fix(name)}")
    if _DIGESTS in g:
        t = g[_DIGESTS]
        check_codecs(t, where, _fix(name))
        want = (-(-want[1] // spec["chunk_paths"]), len(FIELDS), 32)
        if t.dtype != np.uint8 or t.shape != want or t.chunks != (1, len(FIELDS), 32):
            raise StoreError(f"{where} is damaged ({_DIGESTS} is {t.dtype} of shape {t.shape} in chunks of {t.chunks}, "
                             f"not uint8 {want} in chunks of {(1, len(FIELDS), 32)}); {_fix(name)}")


@dataclass(frozen=True)
class UniverseWriter:
    """A universe being written: the chunks still to write, then `finish`."""

    spec: UniverseSpec
    pending: tuple[int, ...]  # chunk indices to write: never written, or found missing/damaged
    complete: bool
    fitted: dict  # what a previous complete run recorded ({} otherwise)
    group: zarr.Group = field(repr=False, compare=False)
    damaged: tuple[int, ...] = ()  # chunks marked done whose files were missing or failed their checksum
    time_repaired: bool = False  # the time stamps' chunk was missing or damaged and was rewritten

    def write_chunk(self, k: int, batch: PathBatch, counts: dict[str, int] | None = None) -> None:
        """Write chunk k of all five fields (and what sampling it counted), then mark it done."""
        g, spec = self.group, self.spec
        lo, hi = spec.chunk_range(k)
        if batch.shape != (g["close"].shape[0], hi - lo):
            raise StoreError(f"chunk {k} of {spec.name} has shape {batch.shape}, expected {(g['close'].shape[0], hi - lo)}")
        digests = np.empty((len(FIELDS), 32), dtype=np.uint8)
        owner = _owner(g, spec.record())
        for i, f in enumerate(FIELDS):
            values = np.asarray(getattr(batch, f), dtype=np.float64)  # as stored
            g[f][:, lo:hi] = values
            digests[i] = chunk_digest(owner, k, f, values)
        if counts:
            cg = g.require_group(_COUNTS)
            for key, value in counts.items():
                check_name(key, "counter", "name counters as plain words")
                if key not in cg:
                    cg.create_array(key, shape=(spec.n_chunks,), chunks=(1,), dtype="int64", fill_value=0,
                                    compressors=CODECS, dimension_names=("chunk",))
                cg[key][k] = int(value)
        if _DIGESTS in g:  # every universe made since digests were recorded
            g[_DIGESTS][k] = digests
        g["chunk_done"][k] = True

    def count_totals(self) -> dict[str, int]:
        """Per counter, the sum over every chunk of what sampling counted."""
        if _COUNTS not in self.group:
            return {}
        cg = self.group[_COUNTS]
        return {name: int(a[:].sum()) for name, a in arrays_of(cg).items()}

    def finish(self, attrs: dict) -> None:
        """Record the run's metadata and mark the universe complete, only if every chunk is done."""
        done = self.group["chunk_done"][:]
        if not done.all():
            raise StoreError(f"universe {self.spec.name} still has {int((~done).sum())} unwritten chunks; rerun to finish it")
        g = self.group
        new = {**attrs, "complete": True}
        final = {**{k: v for k, v in g.attrs.asdict().items() if k != SEAL}, **new}
        counts = [f"{_COUNTS}/{n}" for n in arrays_of(g[_COUNTS])] if _COUNTS in g else []
        children = (*_children(g), *([_COUNTS] if counts else []), *counts)
        d = Path(g.store.root) / g.path
        g.update_attributes({**new, SEAL: seal_of(d, final, children)})  # one write: complete and sealed, or neither


def prepare_universe(root: zarr.Group, spec: UniverseSpec, horizon_time: np.ndarray) -> UniverseWriter:
    """Create universes/<name> (atomically, with its spec) or reopen it to resume or repair it."""
    check_name(spec.name, "universe name", "choose generator settings or a model directory name that make a plain name")
    key = f"universes/{spec.name}"
    here = universe_dir(root, spec.name)
    rebuilt = False
    if here.is_dir() and not here.is_symlink() and not _metadata_readable(root, key):
        # our own group, its metadata lost or edited: rebuilt from the spec (said as a repair of every chunk)
        foreign = foreign_entries(here, ("universes", spec.name))
        if foreign:
            raise StoreError(f"universe {spec.name!r} is damaged and holds files parallelverse did not write "
                             f"({', '.join(f'universes/{spec.name}/{e}' for e in foreign[:3])}); move them out and "
                             "rerun to repair it")
        remove_ours(here)  # zarr.json last: a removal killed halfway is finished by the next run
        rebuilt = True
    if not (here / "zarr.json").is_file():
        _create(root, spec, horizon_time)
        every = tuple(range(spec.n_chunks))
        return UniverseWriter(spec, every, False, {}, root[key], every if rebuilt else ())
    g = root[key]
    found = g.attrs.get("spec")
    if found != spec.record():
        raise StoreError(f"universe {spec.name!r} in this store was made with {spec_differences(found, spec.record())}; "
                         "rerun with the options that made it to resume, or use another --out or --overwrite")
    time_repaired = _repair_time(g, horizon_time)
    pending, damaged = _chunks_to_write(g, spec)
    complete = bool(g.attrs.get("complete", False))
    return UniverseWriter(spec, pending, complete, g.attrs.get("fitted", {}), g, damaged, time_repaired)


def _metadata_readable(root: zarr.Group, key: str) -> bool:
    """The universe group's and its arrays' metadata (zarr.json) parse: the chunks can then be checked one by one."""
    try:
        if seal_problem(Path(root.store.root) / key, ""):
            return False
        g = root[key]
        attrs, own = g.attrs.asdict(), key.split("/")[-1]
        if attrs.get("name", own) != own or _made_elsewhere(attrs, root.attrs.get("identity")):
            return False  # renamed or copied in: rebuilt from the spec, as any other damage to its metadata
        spec = attrs["spec"]
        for name in ("time", "chunk_done", *FIELDS):
            g[name].shape
        want = (g["time"].shape[0], spec["n_paths"])  # an edited shape is damage too: rebuilt, not resumed
        return all(g[f].shape == want and g[f].chunks[1] == spec["chunk_paths"] for f in FIELDS)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception:
        return False


def _create(root: zarr.Group, spec: UniverseSpec, horizon_time: np.ndarray) -> None:
    """Build the universe's skeleton under a temporary name beside it and rename it into place."""
    parent_dir = Path(root.store.root) / "universes"
    ensure_plain_group(parent_dir)  # it holds nothing but the universes: a lost or damaged zarr.json is rewritten
    tmp = parent_dir / f".{spec.name}.{os.getpid()}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    g = zarr.open_group(str(tmp), mode="w")
    t = g.create_array("time", data=horizon_time, dimension_names=("bar",), compressors=CODECS)
    t.update_attributes(TIME_ATTRS)
    shape, chunks = (len(horizon_time), spec.n_paths), (len(horizon_time), spec.chunk_paths)
    for f in FIELDS:
        g.create_array(
            f, shape=shape, chunks=chunks, dtype="float64", fill_value=np.nan,
            compressors=CODECS, dimension_names=("bar", "path"),
        )
    g.create_array("chunk_done", shape=(spec.n_chunks,), chunks=(1,), dtype="bool", fill_value=False,
                   compressors=CODECS, dimension_names=("chunk",))
    g.create_array(_DIGESTS, shape=(spec.n_chunks, len(FIELDS), 32), chunks=(1, len(FIELDS), 32), dtype="uint8",
                   fill_value=0, compressors=CODECS, dimension_names=("chunk", "field", "byte"))
    attrs = {"name": spec.name, "spec": spec.record(), "complete": False, "versions": package_versions(),
             _TIME_DIGEST: values_digest(np.asarray(horizon_time))}
    g.update_attributes({**attrs, SEAL: seal_of(tmp, attrs, _children(g))})
    os.replace(tmp, parent_dir / spec.name)


def _repair_time(g: zarr.Group, horizon_time: np.ndarray) -> bool:
    """Rewrite the universe's time stamps if a chunk of them is missing or damaged; True when it did."""
    t = g["time"]
    want = g.attrs.get(_TIME_DIGEST)
    if (any(chunk_problem(chunk_file(t, (i,))) for i in range(t.nchunks))
            or not _decodes(lambda: want is None or values_digest(t[:]) == want)):
        t[:] = horizon_time  # the horizon's time stamps are the store's: rewrite them as made
        return True
    return False


def _chunks_to_write(g: zarr.Group, spec: UniverseSpec) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(pending, damaged): chunks not marked done, plus done ones whose files are missing or damaged."""
    done_arr = g["chunk_done"]
    counters = list(arrays_of(g[_COUNTS]).values()) if _COUNTS in g else []
    pending, damaged = [], []
    complete = g.attrs.get("complete", False) is True
    owner = _owner(g, spec.record()) if _DIGESTS in g else None  # None: made before chunk digests were recorded
    for k in range(spec.n_chunks):
        if not _decodes(lambda: chunk_problem(chunk_file(done_arr, (k,))) is None and bool(done_arr[k])):
            pending.append(k)
            if complete:  # a finished universe has every mark: a lost one is damage, rewritten and said
                damaged.append(k)
            continue
        if not _chunk_intact(g, spec, k, owner, counters):
            pending.append(k)
            damaged.append(k)
    return tuple(pending), tuple(damaged)


def _decodes(read) -> bool:
    """read() returns true without raising: a chunk file of another array's shape passes its checksum but does not
    decode as this array's chunk."""
    try:
        return bool(read())
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception:
        return False


def _chunk_intact(g: zarr.Group, spec: UniverseSpec, k: int, owner: dict | None, counters: list) -> bool:
    """Chunk k of every field and counter is there, passes its checksum, decodes as this array's chunk and (in
    universes with digests, `owner` given) holds what was written there."""
    files = [chunk_file(g[f], (0, k)) for f in FIELDS] + [chunk_file(a, (k,)) for a in counters]
    if any(chunk_problem(p) for p in files):
        return False
    lo, hi = spec.chunk_range(k)
    values = {}

    def read() -> bool:
        values.update({f: g[f][:, lo:hi] for f in FIELDS})
        for a in counters:
            a[k]
        if owner is not None:
            table = g[_DIGESTS]
            values["recorded"] = table[k] if chunk_problem(chunk_file(table, (k, 0, 0))) is None else None
        return True

    if not _decodes(read):
        return False
    if owner is None:
        return True
    recorded = values["recorded"]
    return recorded is not None and all(np.array_equal(recorded[i], chunk_digest(owner, k, f, values[f]))
                                        for i, f in enumerate(FIELDS))


def list_universes(root: zarr.Group) -> list[str]:
    """Universe names, from the directory listing: every directory but our temporaries, so a universe whose
    zarr.json was lost is listed and named as damage when read, never skipped; and one damaged universe's
    metadata never hides the others."""
    d = Path(root.store.root) / "universes"
    if not d.is_dir():
        return []
    return sorted(e.name for e in d.iterdir() if not e.name.startswith(".") and e.is_dir())


def read_paths(g, start: int = 0, stop: int | None = None) -> PathBatch:
    """Paths start..stop-1 of a universe (a `Universe`, or its Zarr group opened directly), with their time stamps."""
    if not isinstance(g, Universe):
        close = g["close"]
        g = Universe(g.basename, close.shape[1], close.chunks[1], g["time"][:], Attrs(g.attrs.asdict()), g)
    return g.read(start, stop)
