"""Stationary block bootstrap of whole real bars (Politis & Romano 1994).

Each context bar is kept whole, measured against the previous close:
(log open, log high, log low, log close) / previous close, plus its volume. Paths
string together blocks of consecutive context bars with geometric lengths of mean
`block_bars` (wrapping circularly), so intra-bar shape is exact and volatility
clusters survive inside blocks. The mean block length defaults to arch's
`optimal_block_length` (Politis & White 2004 with Patton, Politis & White 2009)
estimated on *squared* close returns — the series whose dependence (volatility
clustering) the blocks have to preserve; returns themselves are nearly
uncorrelated and would give blocks of one or two bars.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from arch.bootstrap import optimal_block_length

from parallelverse.bars import PathBatch, bars_from_relative, relative_bars
from parallelverse.errors import GeneratorError
from parallelverse.market import Ohlcv
from parallelverse.rng import path_rngs


@dataclass(frozen=True)
class Bootstrap:
    block_bars: float = 0.0  # mean block length in bars; 0 = automatic (optimal_block_length)

    def __post_init__(self):
        if self.block_bars != 0.0 and self.block_bars < 1.0:
            raise GeneratorError(f"bootstrap block_bars={self.block_bars} must be >= 1, or 0 for automatic")

    @property
    def name(self) -> str:
        return "bootstrap" if self.block_bars == 0.0 else f"bootstrap-b{self.block_bars:g}"

    def prepare(self) -> None:
        """Nothing to load: a statistical model is checked when it is built."""

    def fit(self, context: Ohlcv) -> FittedBootstrap:
        rel, volume = relative_bars(context)
        block = self.block_bars
        if block == 0.0:
            block = auto_block_length(rel[3])
        return FittedBootstrap(self, rel, volume, float(context.close[-1]), block)


def auto_block_length(r: np.ndarray) -> float:
    """Mean block length: the largest optimal_block_length of r, r**2 and |r|, within [1, n/4]."""
    block = float(optimal_block_length(np.column_stack([r, r**2, np.abs(r)]))["stationary"].max())
    return float(np.clip(block, 1.0, len(r) / 4))  # keep at least four blocks' worth of variety


@dataclass
class FittedBootstrap:
    spec: Bootstrap
    rel: np.ndarray  # (4, n) log(open, high, low, close / previous close)
    volume: np.ndarray  # (n,)
    last_close: float
    block: float  # mean block length used

    def describe(self) -> dict:
        return {"block_bars": self.block, "n_source_bars": int(self.rel.shape[1])}

    def indices(self, rngs: list[np.random.Generator], horizon_bars: int) -> np.ndarray:
        """(horizon, n_paths) source-bar indices: a new block starts with probability 1/block."""
        n = self.rel.shape[1]
        u = np.empty((horizon_bars, len(rngs)))
        jump = np.empty((horizon_bars, len(rngs)), np.int64)
        for j, rng in enumerate(rngs):
            u[:, j] = rng.random(horizon_bars)
            jump[:, j] = rng.integers(0, n, horizon_bars)
        idx = np.empty_like(jump)
        idx[0] = jump[0]
        new_block = u < 1.0 / self.block
        for t in range(1, horizon_bars):
            idx[t] = np.where(new_block[t], jump[t], (idx[t - 1] + 1) % n)
        return idx

    def sample(self, horizon_bars: int, seed: int, start: int, stop: int) -> PathBatch:
        idx = self.indices(path_rngs(seed, self.spec.name, start, stop), horizon_bars)
        return bars_from_relative(self.rel, self.volume, idx, self.last_close)
