"""The real history in the store: written once from a SeedSplit, read back as one.

    history/                     the real bars, 1-D over dimension "bar"
      time open high low close volume     attrs: symbol, source, context_end, realized_end,
                                          has_volume, seed_window {spec, start, end}, seal

history[:context_end] is the model context, history[context_end:realized_end] the real
future. The horizon's time stamps are those every universe stores (they follow the
data's calendar while real bars exist).
"""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from parallelverse.bars import FIELDS
from parallelverse.errors import StoreError
from parallelverse.market import Ohlcv
from parallelverse.store.integrity import CODECS, SEAL, check_seal, read_whole, seal_of
from parallelverse.trading_calendar import extend_calendar
from parallelverse.window import SeedSplit, SeedWindow

# The marker of a store parallelverse made (root attribute "format"); `--overwrite` replaces nothing else.
# Version 2: every chunk carries a crc32c checksum. Version 3: the root, the history and each universe carry a
# seal over their metadata (integrity.py). Stores of older versions are refused with the fix.
FORMAT = "parallelverse-store/3"
FORMAT_FAMILY = "parallelverse-store/"
TIME_ATTRS = {"units": "nanoseconds since 1970-01-01", "calendar": "proleptic_gregorian"}  # xarray decodes these
_VERSIONED = ("parallelverse", "numpy", "pandas", "scipy", "arch", "zarr", "numcodecs", "numba", "torch", "safetensors",
              "chronos-forecasting", "transformers", "dask", "distributed")  # the last ones when installed


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


def describe_identity(ident: dict) -> str:
    return (
        f"{ident['symbol']} from {ident['source']}, window {ident['seed_window']}, "
        f"context {ident['context_bars']}, horizon {ident['horizon_bars']}"
    )


def write_history(root: zarr.Group, split: SeedSplit) -> None:
    h = split.history
    g = root.create_group("history")
    t = g.create_array("time", data=h.time, dimension_names=("bar",), compressors=CODECS)
    t.update_attributes(TIME_ATTRS)
    for f in FIELDS:
        g.create_array(f, data=getattr(h, f), dimension_names=("bar",), compressors=CODECS)
    attrs = {
        "symbol": h.symbol,
        "source": h.source,
        "context_end": split.context_end,  # history[:context_end] is the model context
        "realized_end": split.realized_end,  # history[context_end:realized_end] is the real future
        "has_volume": h.has_volume,
        "bars_per_year": h.year(),  # the data's year (trading_calendar), measured on the bars up to the cut
        "seed_window": {"spec": split.window.spec, "start": str(split.window.start), "end": str(split.window.end)},
    }
    g.update_attributes({**attrs, SEAL: seal_of(history_dir(root), attrs, ("time", *FIELDS))})  # one write: sealed or not


def history_dir(root: zarr.Group) -> Path:
    return Path(root.store.root) / root.path / "history"


HISTORY_FIX = "rerun the `parallelverse generate` command that made the store (same data and options) to repair it"


def read_split(root: zarr.Group, horizon_time: np.ndarray | None = None) -> SeedSplit:
    """The SeedSplit the store was made from.

    horizon_time: the time stamps a universe stores; without one (a store with no
    universe yet) the calendar is extended from the history as `split_at_window` does.
    """
    where, fix = f"the history of store {str(Path(root.store.root))!r}", HISTORY_FIX
    check_seal(history_dir(root), "history/", where, fix)  # an edited context_end or shape is damage, not a crash
    g = root["history"]
    a = g.attrs.asdict()
    time, *fields = (read_whole(g[f], where, fix) for f in ("time", *FIELDS))
    history = Ohlcv(a["symbol"], a["source"], time, *fields, has_volume=a["has_volume"],
                    bars_per_year=a.get("bars_per_year"))  # stores before it was recorded: measured on the history
    w = a["seed_window"]
    window = SeedWindow(w["spec"], pd.Timestamp(w["start"]), pd.Timestamp(w["end"]))
    context_end, realized_end = int(a["context_end"]), int(a["realized_end"])
    ident = root.attrs["identity"]
    horizon_bars = int(ident["horizon_bars"])
    problem = (  # the history agrees with the identity the store's root records (each file is sealed on its own)
        "its bars are not the ones the store was made from" if history.digest() != ident["history_sha256"]
        else f"context_end = {context_end}, the store's context is {ident['context_bars']} bars"
        if context_end != int(ident["context_bars"])
        else f"realized_end = {realized_end}, not the {len(time)} bars stored" if realized_end != len(time)
        else f"{realized_end - context_end} real bars after the cut, more than the horizon ({horizon_bars})"
        if not 0 <= realized_end - context_end <= horizon_bars
        else f"a horizon of {len(horizon_time)} time stamps, not {horizon_bars}"
        if horizon_time is not None and len(horizon_time) != horizon_bars else None)
    if problem:
        raise StoreError(f"{where} is damaged ({problem}); {fix}")
    if horizon_time is None:
        real = history.time[context_end:realized_end]
        extra = horizon_bars - len(real)
        horizon_time = np.concatenate([real, extend_calendar(history.time, extra)]) if extra > 0 else real.copy()
    return SeedSplit(window, history, context_end, realized_end, np.asarray(horizon_time))
