"""Universes and stress results as lazy xarray Datasets backed by dask, for users' own analysis.

    ds = parallelverse.open_universe("AAPL_2020-01.zarr", "garch-gjr-t")
    ds["close"]                    # (bar, path) dask array, one dask chunk per store chunk (ds.close is a method)
    ds["close"].isel(path=slice(0, 100)).mean("path").compute()

    res = parallelverse.open_results("AAPL_2020-01.zarr", "sma_crossover", "garch-gjr-t")
    res.sharpe                     # (config, path); buy-and-hold bh_* as (path,)

Nothing is read until `.compute()` / `.values`; with a dask Client connected, the
reads and the arithmetic run on its workers. Read-only: the store is never written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from parallelverse.bars import FIELDS
from parallelverse.errors import StoreError
from parallelverse.store.integrity import check_present
from parallelverse.store.root import open_universe as _complete_universe
from parallelverse.store.root import read_store


def universe_dataset(store: str | Path, name: str):
    """A complete universe: open/high/low/close/volume (bar, path) float64, coordinates time (bar) and path."""
    import dask.array as da
    import xarray as xr

    u = _complete_universe(store, name)  # refuses missing and incomplete universes with the fix
    u.check_present()  # a missing chunk is an error here, not NaN later; damaged ones fail their checksum on read
    data = {f: (("bar", "path"), da.from_zarr(u.group[f])) for f in FIELDS}
    coords = {"time": ("bar", u.time.astype("datetime64[ns]")), "path": np.arange(u.n_paths)}
    return xr.Dataset(data, coords=coords, attrs={"universe": name, **u.attrs})


def results_dataset(store: str | Path, strategy: str, universe: str):
    """A strategy's per-path metrics on one universe ("real" for the real history).

    Every metric is (config, path) with `config` labelled by the params grid ("fast=10 slow=50");
    buy-and-hold's bh_<metric> is (path,) (it has no configuration); the real history adds its
    equity curves (config, bar) and bh_equity (bar,), with time on bar."""
    import dask.array as da
    import xarray as xr

    st = read_store(store)
    if strategy not in st.result_names():
        raise StoreError(f"no results for strategy {strategy!r} in {str(store)!r}; it has: "
                         f"{', '.join(st.result_names()) or 'none'} (run `parallelverse stress` first)")
    g = zarr.open_group(str(Path(store) / "results" / strategy), mode="r")
    groups = sorted(n for n, _ in g.groups())
    if universe not in groups:
        raise StoreError(f"results of {strategy!r} have no universe {universe!r}; they have: {', '.join(groups)}")
    ug = g[universe]
    for _, arr in ug.arrays():
        check_present(arr, f"results for {strategy!r} in {str(store)!r}", "rerun `parallelverse stress` to rewrite them")
    data, coords = {}, {}
    for name, arr in sorted(ug.arrays()):
        if name == "time":
            coords["time"] = ("bar", arr[:].astype("datetime64[ns]"))
        elif name == "bh_equity":
            data[name] = (("bar",), da.from_zarr(arr)[0])
        elif name == "equity":
            data[name] = (("config", "bar"), da.from_zarr(arr))
        elif name.startswith("bh_"):
            data[name] = (("path",), da.from_zarr(arr)[0])
        else:
            data[name] = (("config", "path"), da.from_zarr(arr))
    configs = list(g.attrs.get("configs", [{}]))
    coords["config"] = [" ".join(f"{k}={v}" for k, v in c.items()) or "default" for c in configs]
    return xr.Dataset(data, coords=coords, attrs={"strategy": strategy, "universe": universe, **ug.attrs.asdict()})
