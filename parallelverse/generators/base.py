"""The one interface every generator implements.

A generator is a frozen dataclass of its parameters (the spec). `prepare()` does the
expensive checks (loading a model) before anything is written; `fit(context, horizon_time)`
returns a fitted model (`generate.fit_generator` is the one place that fits one);
`fitted.sample(horizon_bars, seed, start, stop)` returns the bars of paths
start..stop-1 as a PathBatch, each field (horizon_bars, stop - start). Path i draws
only from its own random stream (`parallelverse.rng`), so any chunking of
[0, n_paths) gives the same paths. `describe()` returns the fitted quantities as
plain JSON-safe values for the store's attributes.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np

from parallelverse.bars import PathBatch
from parallelverse.errors import GeneratorError
from parallelverse.market import Ohlcv


class Fitted(Protocol):
    def sample(self, horizon_bars: int, seed: int, start: int, stop: int) -> PathBatch: ...

    def describe(self) -> dict: ...


class Generator(Protocol):
    @property
    def name(self) -> str: ...  # universe name, encoding the generator and its key parameters

    def prepare(self) -> None: ...  # expensive checks (loading a model) before anything is written

    # horizon_time: int64 ns stamps of the bars to sample (None: continue the context's calendar);
    # generators that condition on calendar features (Kronos) use them, the others ignore them
    def fit(self, context: Ohlcv, horizon_time: np.ndarray | None = None) -> Fitted: ...


def params_of(spec) -> dict:
    """The spec's parameters as a plain dict (what the store records)."""
    return dataclasses.asdict(spec)


def spec_from_params(cls, generator: str, params: dict):
    """Build a spec dataclass from user-supplied params, with one-line errors for unknown keys and wrong types."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in params.items():
        if key not in known:
            raise GeneratorError(
                f"unknown {generator} parameter {key!r}; known: {', '.join(known)}"
            )
        want = type(known[key].default)
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            params = {**params, key: float(value)}
        elif want is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            params = {**params, key: str(value)}  # `--set garch.dist=1`: the spec's own check names the choices
        elif not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
            how = {bool: "true or false", int: "a whole number, e.g. 5", float: "a number, e.g. 0.5",
                   str: "a word"}.get(want, want.__name__)
            raise GeneratorError(f"{generator} parameter {key}={value!r} should be {how} (default "
                                 f"{str(known[key].default).lower() if want is bool else repr(known[key].default)})")
    return cls(**params)
