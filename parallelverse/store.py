"""The Zarr store: real history plus one group of synthetic paths per generator run.

Layout (Zarr v3, readable with plain `zarr` or `xarray`; full schema in README.md):

    <store>/                      attrs: format, identity (data, symbol, window, context, horizon)
      history/                    the real bars, 1-D over dimension "bar"
        time open high low close volume      attrs: context_end, realized_end, ...
      universes/<name>/           attrs: generator, params, seed, n_paths, fitted, versions, complete
        time                      (horizon_bars,) int64 ns
        open high low close volume  (horizon_bars, n_paths) float64, chunked along paths
        chunk_done                (n_chunks,) bool: chunk k of all five fields is written

Writes go chunk by chunk: the five field chunks first, then `chunk_done[k]`; each
file write is atomic (zarr's LocalStore writes a temporary file and renames it).
A universe's `complete` attribute turns true only after every chunk is marked, so an
interrupted run never looks complete, and a rerun regenerates exactly the chunks
that are not marked.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec, BloscShuffle

from parallelverse.bars import FIELDS, PathBatch
from parallelverse.errors import StoreError
from parallelverse.window import SeedSplit

FORMAT = "parallelverse-store/1"
_COMPRESSOR = BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.shuffle)
_TIME_ATTRS = {"units": "nanoseconds since 1970-01-01", "calendar": "proleptic_gregorian"}  # xarray decodes these
_VERSIONED = ("parallelverse", "numpy", "pandas", "scipy", "arch", "zarr", "numcodecs")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def store_identity(split: SeedSplit) -> dict:
    """What makes two runs write into the same store: the same bars, window, context and horizon."""
    h = split.history
    return {
        "source": h.source,
        "symbol": h.symbol,
        "history_sha256": h.digest(),
        "seed_window": split.window.spec,
        "context_bars": split.context_end,
        "horizon_bars": split.horizon_bars,
    }


def _describe_identity(ident: dict) -> str:
    return (
        f"{ident['symbol']} from {ident['source']}, window {ident['seed_window']}, "
        f"context {ident['context_bars']}, horizon {ident['horizon_bars']}"
    )


def open_store(path: str | Path, split: SeedSplit, overwrite: bool = False) -> zarr.Group:
    """Open the store for `split`, creating it (with its history group) if needed.

    Refuses a store made from other data, window, context or horizon unless
    `overwrite`, which deletes it and starts over. Call this only after every input
    has been validated: nothing is touched before.
    """
    path = Path(path)
    identity = store_identity(split)
    if path.exists():
        if overwrite:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        else:
            root = _open_existing(path)
            found = root.attrs.get("identity")
            if found != identity:
                diff = [k for k in identity if found.get(k) != identity[k]]
                raise StoreError(
                    f"store {str(path)!r} was made from {_describe_identity(found)}; this run has "
                    f"{_describe_identity(identity)} (differs in {', '.join(diff)}); use another --out or --overwrite"
                )
            return root
    # Build the skeleton beside the target and rename it into place: a store either
    # exists whole (history + identity) or not at all.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    root = zarr.open_group(str(tmp), mode="w")
    _write_history(root, split)
    root.attrs.update({"format": FORMAT, "identity": identity})
    os.replace(tmp, path)
    return zarr.open_group(str(path), mode="r+")


def _open_existing(path: Path) -> zarr.Group:
    try:
        root = zarr.open_group(str(path), mode="r+")
    except Exception:
        raise StoreError(
            f"{str(path)!r} exists but is not a parallelverse store; choose another --out, or --overwrite to replace it"
        ) from None
    if root.attrs.get("format") != FORMAT or "identity" not in root.attrs:
        raise StoreError(
            f"{str(path)!r} exists but is not a parallelverse store (or its creation was interrupted); "
            "choose another --out, or --overwrite to replace it"
        )
    return root


def _write_history(root: zarr.Group, split: SeedSplit) -> None:
    h = split.history
    g = root.create_group("history")
    t = g.create_array("time", data=h.time, dimension_names=("bar",))
    t.attrs.update(_TIME_ATTRS)
    for f in FIELDS:
        g.create_array(f, data=getattr(h, f), dimension_names=("bar",))
    g.attrs.update(
        {
            "symbol": h.symbol,
            "source": h.source,
            "context_end": split.context_end,  # history[:context_end] is the model context
            "realized_end": split.realized_end,  # history[context_end:realized_end] is the real future
            "has_volume": h.has_volume,
            "seed_window": {"spec": split.window.spec, "start": str(split.window.start), "end": str(split.window.end)},
        }
    )


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


def prepare_universe(root: zarr.Group, spec: UniverseSpec, horizon_time: np.ndarray) -> tuple[zarr.Group, list[int]]:
    """Create universes/<name> or reopen it to resume; return it and the chunk indices still to write."""
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
        return g, [k for k in range(spec.n_chunks) if not done[k]]
    g = root.require_group("universes").create_group(spec.name)
    t = g.create_array("time", data=horizon_time, dimension_names=("bar",))
    t.attrs.update(_TIME_ATTRS)
    shape, chunks = (len(horizon_time), spec.n_paths), (len(horizon_time), spec.chunk_paths)
    for f in FIELDS:
        g.create_array(
            f, shape=shape, chunks=chunks, dtype="float64", fill_value=np.nan,
            compressors=_COMPRESSOR, dimension_names=("bar", "path"),
        )
    g.create_array("chunk_done", shape=(spec.n_chunks,), chunks=(1,), dtype="bool", fill_value=False,
                   dimension_names=("chunk",))
    g.attrs.update({"spec": spec.record(), "complete": False, "versions": package_versions()})
    return g, list(range(spec.n_chunks))


def write_chunk(g: zarr.Group, spec: UniverseSpec, k: int, batch: PathBatch) -> None:
    """Write chunk k of all five fields, then mark it done."""
    lo, hi = spec.chunk_range(k)
    if batch.shape != (g["close"].shape[0], hi - lo):
        raise StoreError(f"chunk {k} of {spec.name} has shape {batch.shape}, expected {(g['close'].shape[0], hi - lo)}")
    for f, values in batch.as_dict().items():
        g[f][:, lo:hi] = values
    g["chunk_done"][k] = True


def finish_universe(g: zarr.Group, spec: UniverseSpec, attrs: dict) -> None:
    """Record the run's metadata and mark the universe complete, only if every chunk is done."""
    done = g["chunk_done"][:]
    if not done.all():
        raise StoreError(f"universe {spec.name} still has {int((~done).sum())} unwritten chunks; rerun to finish it")
    g.attrs.update({**attrs, "complete": True})


def open_universe(path: str | Path, name: str) -> zarr.Group:
    """A complete universe group for reading; incomplete ones are refused."""
    root = _open_existing(Path(path)) if Path(path).exists() else None
    if root is None:
        raise StoreError(f"store {str(path)!r} does not exist; create it with `parallelverse generate`")
    names = list_universes(root)
    if name not in names:
        raise StoreError(f"no universe {name!r} in {str(path)!r}; it has: {', '.join(names) or 'none'}")
    g = root[f"universes/{name}"]
    if not g.attrs.get("complete", False):
        raise StoreError(f"universe {name!r} in {str(path)!r} is incomplete (interrupted); rerun the same generate command to finish it")
    return g


def list_universes(root: zarr.Group) -> list[str]:
    if "universes" not in root:
        return []
    return sorted(name for name, _ in root["universes"].groups())


def read_paths(g: zarr.Group, start: int = 0, stop: int | None = None) -> PathBatch:
    """Paths start..stop-1 of a universe group as a PathBatch."""
    return PathBatch(*(g[f][:, start:stop] for f in FIELDS))


def store_size_bytes(path: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
