"""Universes and stress results as lazy xarray Datasets backed by dask, for users' own analysis.

    ds = parallelverse.open_universe("AAPL_2020-01.zarr", "garch-gjr-t")
    ds["close"]                    # (bar, path) dask array, one dask chunk per store chunk (ds.close is a method)
    ds["close"].isel(path=slice(0, 100)).mean("path").compute()

    res = parallelverse.open_results("AAPL_2020-01.zarr", "sma_crossover", "garch-gjr-t")
    res.sharpe                     # (config, path); buy-and-hold bh_* as (path,)

A universe is lazy: nothing is read until `.compute()` / `.values`; with a dask Client
connected, the reads and the arithmetic run on its workers. Results are small and read
whole, with every check `report` makes. Read-only: the store is never written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from parallelverse.bars import FIELDS
from parallelverse.errors import StoreError
from parallelverse.store.root import open_universe as _complete_universe
from parallelverse.store.root import read_store


def universe_dataset(store: str | Path, name: str):
    """A complete universe: open/high/low/close/volume (bar, path) float64, coordinates time (bar) and path.

    Each dask chunk is one store chunk, read through the store's own reader (a task reopens the store by path,
    so it runs on any worker): a damaged chunk is one StoreError naming the universe, the chunk and the fix,
    never a codec's checksum message."""
    import dask
    import dask.array as da
    import xarray as xr

    u = _complete_universe(store, name)  # refuses missing and incomplete universes with the fix
    u.check_present()  # a missing chunk is an error here, not NaN later; damaged ones fail their checksum on read
    path, bars = str(Path(u.group.store.root)), len(u.time)
    bounds = [(lo, min(lo + u.chunk_paths, u.n_paths)) for lo in range(0, u.n_paths, u.chunk_paths)]
    data = {f: (("bar", "path"), da.concatenate(
        [da.from_delayed(dask.delayed(_block, pure=True)(path, name, f, lo, hi), (bars, hi - lo), np.float64)
         for lo, hi in bounds], axis=1)) for f in FIELDS}
    coords = {"time": ("bar", u.time.astype("datetime64[ns]")), "path": np.arange(u.n_paths)}
    return xr.Dataset(data, coords=coords, attrs={"universe": name, **u.attrs})


def _block(path: str, name: str, f: str, lo: int, hi: int) -> np.ndarray:
    return _complete_universe(path, name).field(f, lo, hi)


def results_dataset(store: str | Path, strategy: str, universe: str):
    """A strategy's per-path metrics on one universe ("real" for the real history), read and checked whole as
    `report` reads them (results are small): incomplete or damaged results are one StoreError with the fix.

    Every metric is (config, path) with `config` labelled by the params grid ("fast=10 slow=50");
    buy-and-hold's bh_<metric> is (path,) (it has no configuration); the real history adds its
    equity curves (config, bar) and bh_equity (bar,), with time on bar."""
    import xarray as xr

    res = read_store(store).current_results(strategy)
    have = (["real"] if res.real is not None else []) + list(res.universes)
    if universe not in have:
        raise StoreError(f"results of {strategy!r} have no universe {universe!r}; they have: {', '.join(have)}")
    part = res.real if universe == "real" else res.universes[universe]
    data, coords = {}, {}
    for name, arr in part.metrics.items():
        data[name] = (("path",), arr[0]) if name.startswith("bh_") else (("config", "path"), arr)
    if universe == "real":
        coords["time"] = ("bar", part.time.astype("datetime64[ns]"))
        data["equity"] = (("config", "bar"), part.equity)
        data["bh_equity"] = (("bar",), part.bh_equity[0])
    coords["config"] = [" ".join(f"{k}={v}" for k, v in c.items()) or "default" for c in res.meta.configs]
    coords["path"] = np.arange(part.n_paths)
    attrs = {"strategy": strategy, "universe": universe, **({"n_paths": part.n_paths, "spec": part.spec}
                                                            if universe != "real" else {})}
    return xr.Dataset(data, coords=coords, attrs=attrs)
