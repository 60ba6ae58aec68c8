"""Universes: one group of synthetic paths per generator run.

    universes/<name>/             attrs: spec, complete, versions, fitted, seed_window, ...
      time                        (horizon_bars,) int64 ns
      open high low close volume  (horizon_bars, n_paths) float64, chunked along paths
      chunk_done                  (n_chunks,) bool: chunk k of all five fields is written

Writes go chunk by chunk: the five field chunks first, then `chunk_done[k]`; each
file write is atomic (zarr's LocalStore writes a temporary file and renames it).
A universe's `complete` attribute turns true only after every chunk is marked, so an
interrupted run never looks complete, and a rerun regenerates exactly the chunks
that are not marked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import zarr

from parallelverse.bars import FIELDS, PathBatch
from parallelverse.errors import StoreError
from parallelverse.store.history import COMPRESSOR, TIME_ATTRS, package_versions


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

    @property
    def n_chunks(self) -> int:
        return -(-self.n_paths // self.chunk_paths)

    def chunk_range(self, k: int) -> tuple[int, int]:
        return k * self.chunk_paths, min(self.n_paths, (k + 1) * self.chunk_paths)

    def record(self) -> dict:
        return {
            "generator": self.generator,
            "params": self.params,
            "seed": self.seed,
            "n_paths": self.n_paths,
            "chunk_paths": self.chunk_paths,
        }


@dataclass(frozen=True)
class Universe:
    """A universe for reading: its metadata, and its paths batch by batch."""

    name: str
    n_paths: int
    chunk_paths: int  # paths per stored chunk: read whole chunks
    time: np.ndarray  # (horizon_bars,) int64 ns
    attrs: Attrs  # spec, complete, fitted, versions, ...
    group: zarr.Group = field(repr=False, compare=False)

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete", False))

    @property
    def generator(self) -> str:
        """The generator family ("garch", "bootstrap", "kronos", ...) that made the universe."""
        return (self.attrs.get("spec") or {}).get("generator", "")

    def read(self, start: int = 0, stop: int | None = None) -> PathBatch:
        """Paths start..stop-1, each field (horizon_bars, stop - start), with the horizon's time stamps."""
        return PathBatch(*(self.group[f][:, start:stop] for f in FIELDS), self.time)

    def close(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Close prices of paths start..stop-1: (horizon_bars, stop - start)."""
        return self.group["close"][:, start:stop]


def universe_of(root: zarr.Group, name: str) -> Universe:
    g = root[f"universes/{name}"]
    close = g["close"]
    return Universe(name, close.shape[1], close.chunks[1], g["time"][:], Attrs(g.attrs.asdict()), g)


@dataclass(frozen=True)
class UniverseWriter:
    """A universe being written: the chunks still to write, then `finish`."""

    spec: UniverseSpec
    pending: tuple[int, ...]  # chunk indices not yet written
    complete: bool
    fitted: dict  # what a previous complete run recorded ({} otherwise)
    group: zarr.Group = field(repr=False, compare=False)

    def write_chunk(self, k: int, batch: PathBatch) -> None:
        """Write chunk k of all five fields, then mark it done."""
        g, spec = self.group, self.spec
        lo, hi = spec.chunk_range(k)
        if batch.shape != (g["close"].shape[0], hi - lo):
            raise StoreError(f"chunk {k} of {spec.name} has shape {batch.shape}, expected {(g['close'].shape[0], hi - lo)}")
        for f in FIELDS:
            g[f][:, lo:hi] = getattr(batch, f)
        g["chunk_done"][k] = True

    def finish(self, attrs: dict) -> None:
        """Record the run's metadata and mark the universe complete, only if every chunk is done."""
        done = self.group["chunk_done"][:]
        if not done.all():
            raise StoreError(f"universe {self.spec.name} still has {int((~done).sum())} unwritten chunks; rerun to finish it")
        self.group.attrs.update({**attrs, "complete": True})


def prepare_universe(root: zarr.Group, spec: UniverseSpec, horizon_time: np.ndarray) -> UniverseWriter:
    """Create universes/<name> or reopen it to resume."""
    key = f"universes/{spec.name}"
    if key in root:
        g = root[key]
        found = g.attrs.get("spec")
        if found != spec.record():
            raise StoreError(
                f"universe {spec.name!r} in this store was made with {found}; this run asks for {spec.record()}; "
                "use another --out or --overwrite"
            )
        done = g["chunk_done"][:]
        pending = tuple(k for k in range(spec.n_chunks) if not done[k])
        return UniverseWriter(spec, pending, bool(g.attrs.get("complete", False)), g.attrs.get("fitted", {}), g)
    g = root.require_group("universes").create_group(spec.name)
    t = g.create_array("time", data=horizon_time, dimension_names=("bar",))
    t.attrs.update(TIME_ATTRS)
    shape, chunks = (len(horizon_time), spec.n_paths), (len(horizon_time), spec.chunk_paths)
    for f in FIELDS:
        g.create_array(
            f, shape=shape, chunks=chunks, dtype="float64", fill_value=np.nan,
            compressors=COMPRESSOR, dimension_names=("bar", "path"),
        )
    g.create_array("chunk_done", shape=(spec.n_chunks,), chunks=(1,), dtype="bool", fill_value=False,
                   dimension_names=("chunk",))
    g.attrs.update({"spec": spec.record(), "complete": False, "versions": package_versions()})
    return UniverseWriter(spec, tuple(range(spec.n_chunks)), False, {}, g)


def list_universes(root: zarr.Group) -> list[str]:
    if "universes" not in root:
        return []
    return sorted(name for name, _ in root["universes"].groups())


def read_paths(g, start: int = 0, stop: int | None = None) -> PathBatch:
    """Paths start..stop-1 of a universe (a `Universe`, or its Zarr group opened directly), with their time stamps."""
    g = g.group if isinstance(g, Universe) else g
    return PathBatch(*(g[f][:, start:stop] for f in FIELDS), g["time"][:])
