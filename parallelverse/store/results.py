"""Stress results: per-path metrics of one strategy on the real history and every universe.

    results/<strategy>/                 attrs: ResultsMeta fields, n_configs, versions, complete,
                                        data_sha256 (group/array -> digest of its values), seal
      <universe>/<metric>               (n_configs, n_paths) float64     attrs: n_paths, spec
      <universe>/bh_<metric>            (1, n_paths): buy-and-hold on the same path
      real/...                          the same for the real history (one path), plus
                                        equity (n_configs, n_bars), bh_equity (1, n_bars), time

The group is built under a temporary name inside the store (`results/.<strategy>.<pid>.partial`)
and renamed into place at the end, so a rerun with a changed strategy file or costs
replaces the old results whole and an interrupted or failed run leaves the previous
results (or none), never a mix. The swap moves the old group aside first
(`results/.<strategy>.old-<pid>`); a writer that finds one without its successor puts
it back (`restore_swapped`).

The group's seal (integrity.py) covers its attributes and every group and array below
it: an edited zarr.json is damage, named in one line, never a different result. Among
the sealed attributes, `data_sha256` holds a digest of every array's values, so a chunk
file swapped in from another array or another run (its own crc32c holds) is damage too.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import zarr
import zarr.api.asynchronous
from zarr.core.sync import sync

from parallelverse.errors import StoreError
from parallelverse.store.history import package_versions
from parallelverse.store.integrity import (CODECS, SEAL, arrays_of, check_seal, damage_named, read_wholes, seal_of,
                                          values_digest)
from parallelverse.store.names import check_name
from parallelverse.store.tree import ensure_plain_group, foreign_entries

_REAL_CURVES = ("equity", "bh_equity", "time")


@dataclass(frozen=True)
class ResultsMeta:
    """What produced a results group."""

    strategy: str
    strategy_file: str
    strategy_sha256: str
    warmup: int
    configs: tuple[dict, ...]  # the params grid, one dict per configuration
    costs: dict  # backtest.Costs.record()
    universes: tuple[str, ...]
    metrics: tuple[str, ...]  # the kernel metrics (excess ones are found among the arrays)
    lookahead_check: bool


@dataclass(frozen=True)
class PathResults:
    """Every metric of every configuration on a set of paths."""

    n_paths: int
    metrics: dict[str, np.ndarray]  # name -> (n_configs, n_paths); bh_<metric> -> (1, n_paths); sorted by name
    spec: dict | None = None  # the universe's spec (None for the real history)


@dataclass(frozen=True)
class RealResults(PathResults):
    """The real history's results (one path) and its equity curves."""

    equity: np.ndarray = field(default=None)  # (n_configs, n_bars)
    bh_equity: np.ndarray = field(default=None)  # (1, n_bars)
    time: np.ndarray = field(default=None)  # (n_bars,) int64 ns


@dataclass(frozen=True)
class Results:
    meta: ResultsMeta
    real: RealResults | None  # None when the data has no real future after the cut
    universes: dict[str, PathResults]  # in meta.universes order
    store_identity: dict | None = None  # the store stress ran on; None in results written before it was recorded


def result_names(root: zarr.Group) -> list[str]:
    """Strategies with results, from the directory listing: one damaged group never hides the others, and one
    that lost its zarr.json is listed (and named as damaged when read), never skipped."""
    d = Path(root.store.root) / "results"
    return sorted(e.name for e in d.iterdir() if not e.name.startswith(".") and e.is_dir()) if d.is_dir() else []


def read_results(path: Path, strategy: str) -> Results:
    check_name(strategy, "--strategy", "pass the name of a strategy with results in the store")
    rpath = path / "results" / strategy
    if rpath.is_dir() and not (rpath / "zarr.json").exists():
        raise StoreError(f"results for {strategy!r} in {str(path)!r} are damaged (its zarr.json is missing); rerun "
                         f"`parallelverse stress` for {strategy!r} to rewrite them")
    if not (rpath / "zarr.json").exists():
        raise StoreError(f"no results for strategy {strategy!r} in {str(path)!r}; run `parallelverse stress STRATEGY.py` first")
    fix = f"rerun `parallelverse stress` for {strategy!r} to rewrite them"
    try:
        g = zarr.open_group(str(rpath), mode="r")
        a = g.attrs.asdict()
    except Exception:
        raise StoreError(f"results for {strategy!r} in {str(path)!r} are damaged (unreadable metadata); {fix}") from None
    if a.get("complete", False) is not True:
        raise StoreError(f"results for {strategy!r} in {str(path)!r} are incomplete; rerun `parallelverse stress`")
    where = f"results for {strategy!r} in {str(path)!r}"
    with damage_named(where, fix, verb="are"):
        results = _read(g, a, where, fix)  # the likely edits, named precisely
    check_seal(rpath, f"results/{strategy}/", where, fix, verb="are")  # and any other edit
    if a.get("strategy") != strategy:
        raise StoreError(f"{where} are damaged (they were made as the results of {a.get('strategy')!r} and renamed); "
                         f"rename them back, or {fix}")
    made_on = a.get(IDENTITY)  # absent in results written before parallelverse recorded it
    if made_on is not None and made_on != zarr.open_group(str(path), mode="r").attrs.get("identity"):
        raise StoreError(f"{where} are damaged (made on another store's bars: {made_on.get('symbol')!r}, window "
                         f"{made_on.get('seed_window')!r}; copied in from another store); {fix}")
    return replace(results, store_identity=made_on)


def _read(g: zarr.Group, a: dict, where: str, fix: str) -> Results:
    meta = ResultsMeta(a["strategy"], a["strategy_file"], a["strategy_sha256"], a["warmup"], tuple(a["configs"]),
                       a["costs"], tuple(a["universes"]), tuple(a["metrics"]), a["lookahead_check"])
    read = {}
    real = None
    if "real" in g:
        arrays = read["real"] = _arrays(g["real"], where, fix)
        real = RealResults(1, {k: x for k, x in arrays.items() if k not in _REAL_CURVES}, None,
                           **{k: arrays[k] for k in _REAL_CURVES})
    universes = {}
    for name in meta.universes:
        u = g[name]
        arrays = read[name] = _arrays(u, where, fix)
        universes[name] = PathResults(int(u.attrs["n_paths"]), arrays, u.attrs.get("spec"))
    _check(meta, a, real, universes, where, fix)  # the likely edits first, named precisely
    digests = a.get(DIGESTS)  # absent in results written before parallelverse recorded them
    for group, arrays in read.items():
        _check_digests(group, arrays, digests, where, fix)
    return Results(meta, real, universes)


IDENTITY = "store_identity"  # the identity of the store stress ran on (its bars, window, context and horizon)
DIGESTS = "data_sha256"  # group/array -> sha256 of its values as stress wrote them (sealed with the attributes)


def _check_digests(group: str, arrays: dict[str, np.ndarray], digests, where: str, fix: str) -> None:
    """Each array holds the values stress wrote there: a chunk file swapped in from another array or another run
    passes its own checksum, not this."""
    if digests is None:
        return
    for name, x in arrays.items():
        if not isinstance(digests, dict) or digests.get(f"{group}/{name}") != values_digest(x):
            label = "real history" if group == "real" else group
            raise StoreError(f"{where} are damaged ({label}: {name} holds other values than stress wrote there: "
                             f"chunk files edited, swapped or copied in); {fix}")


def _check(meta: ResultsMeta, a: dict, real: RealResults | None, universes: dict, where: str, fix: str) -> None:
    """What the metadata says agrees with the arrays: one row per configuration, one column per path, every
    metric there; costs are numbers. An edited zarr.json is damage, never a different grid."""
    n = len(meta.configs)
    if a.get("n_configs") != n or not all(isinstance(c, dict) for c in meta.configs):
        raise StoreError(f"{where} are damaged ({n} configurations listed, {a.get('n_configs')!r} recorded); {fix}")
    costs = meta.costs if isinstance(meta.costs, dict) else {}
    for k in ("fees_bps", "slippage_bps", "init_cash", "periods_per_year"):
        v = costs.get(k)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise StoreError(f"{where} are damaged (costs.{k} = {v!r}); {fix}")
    if costs.get("fill") not in ("open", "close"):
        raise StoreError(f"{where} are damaged (costs.fill = {costs.get('fill')!r}); {fix}")
    need = set(meta.metrics) | {f"bh_{m}" for m in meta.metrics}
    for label, res in ([("real history", real)] if real is not None else []) + list(universes.items()):
        missing = sorted(need - set(res.metrics))
        if missing:
            raise StoreError(f"{where} are damaged ({label}: {missing[0]} is missing); {fix}")
        for m, x in res.metrics.items():
            want = (1 if m.startswith("bh_") else n, res.n_paths)
            if x.shape != want:
                raise StoreError(f"{where} are damaged ({label}: {m} has shape {x.shape}, not {want}); {fix}")


def _arrays(g: zarr.Group, where: str, fix: str) -> dict[str, np.ndarray]:
    arrays = arrays_of(g)
    return dict(zip(arrays, read_wholes(list(arrays.values()), where, fix)))


class ResultsWriter:
    """Writes results/.<strategy>.<pid>.partial, then swaps it into place on `commit`.

    Use as a context manager: whatever happens, the partial group is removed on exit.
    """

    def __init__(self, root: zarr.Group, path: Path, strategy: str):
        check_name(strategy, "strategy name", "set `name` in the strategy file to a plain name, e.g. name = \"sma\"")
        self._root, self._path, self._strategy = root, path, strategy
        target = path / "results" / strategy
        foreign = foreign_entries(target, ("results", strategy)) if target.is_dir() else []
        if foreign:  # they are replaced whole: never with something of the user's in them
            raise StoreError(f"results/{strategy} in {str(path)!r} holds files parallelverse did not write "
                             f"({', '.join(f'results/{strategy}/{e}' for e in foreign[:3])}); move them out and rerun")
        ensure_plain_group(path / "results")  # it holds nothing but the results: a damaged zarr.json is rewritten
        self._tmp = path / "results" / f".{strategy}.{os.getpid()}.partial"
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._out = zarr.open_group(str(self._tmp), mode="w")
        self._digests: dict[str, str] = {}

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def write_real(self, real: RealResults) -> None:
        g = self._out.create_group("real")
        _write_metrics(g, real.metrics)
        # the real history keeps its equity curves for the report
        g.create_array("equity", data=real.equity, dimension_names=("config", "bar"), compressors=CODECS)
        g.create_array("bh_equity", data=real.bh_equity, dimension_names=("bh", "bar"), compressors=CODECS)
        g.create_array("time", data=real.time, dimension_names=("bar",), compressors=CODECS)
        self._digest("real", {**real.metrics, **{k: getattr(real, k) for k in _REAL_CURVES}})

    def write_universe(self, name: str, res: PathResults) -> None:
        g = self._out.create_group(name)
        _write_metrics(g, res.metrics)
        g.update_attributes({"n_paths": res.n_paths, "spec": res.spec})
        self._digest(name, res.metrics)

    def _digest(self, group: str, arrays: dict[str, np.ndarray]) -> None:
        for name, x in arrays.items():  # zarr stores each with its own dtype and shape: it reads back the same
            self._digests[f"{group}/{name}"] = values_digest(np.asarray(x))

    def commit(self, meta: ResultsMeta) -> None:
        record = asdict(meta)
        record.update(configs=list(meta.configs), universes=list(meta.universes), metrics=list(meta.metrics))
        attrs = {**record, "n_configs": len(meta.configs), "versions": package_versions(), "complete": True,
                 IDENTITY: self._root.attrs.get("identity"), DIGESTS: dict(sorted(self._digests.items()))}
        children = sorted(p.parent.relative_to(self._tmp).as_posix() for p in self._tmp.rglob("zarr.json")
                          if p.parent != self._tmp)
        self._out.update_attributes({**attrs, SEAL: seal_of(self._tmp, attrs, children)})
        self._swap_into_place(self._path / "results" / self._strategy)

    def _swap_into_place(self, target: Path) -> None:
        """Replace results/<strategy> by the freshly written group in (almost) one rename."""
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        if target.exists():
            os.replace(target, old)
        os.replace(self._tmp, target)
        shutil.rmtree(old, ignore_errors=True)


def _write_metrics(g: zarr.Group, metrics: dict[str, np.ndarray]) -> None:
    """Every metric array of `g`, written concurrently on zarr's event loop (one round trip to it, not one per array).

    Buy-and-hold has one row, not one per configuration: its own dimension name, so plain xarray opens a grid's
    results."""

    async def every():
        ag = await zarr.api.asynchronous.open_group(store=g.store, path=g.path, mode="r+")
        await asyncio.gather(*(ag.create_array(name, data=a, compressors=CODECS,
                                               dimension_names=("bh" if name.startswith("bh_") else "config", "path"))
                               for name, a in metrics.items()))

    sync(every())


_OLD = re.compile(r"^\.(?P<name>.+)\.old-\d+$")


def restore_swapped(path: Path) -> None:
    """Put back results moved aside by a swap that a kill interrupted; drop those already replaced.

    Call only with the store's writer lock held (no swap is in progress)."""
    rdir = path / "results"
    if not rdir.is_dir():
        return
    for p in sorted(rdir.iterdir()):
        m = _OLD.match(p.name)
        if not m or not p.is_dir():
            continue
        target = rdir / m["name"]
        if target.exists():
            shutil.rmtree(p, ignore_errors=True)
        else:
            os.replace(p, target)
