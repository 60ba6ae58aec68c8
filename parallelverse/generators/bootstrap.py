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

Drift uncertainty (`uncertainty`, default "block-mean"): resampling the context's
bars reproduces its sample mean, so every path inherits a drift fitted on a few
hundred bars as if it were known (measured: 27% of GJR-GARCH futures in the outer
10% of refit bootstrap universes, 38% on held-out real windows). With "block-mean"
the bars are demeaned (the mean close log return is taken off all four log prices)
and each path gets its own drift: the mean of a stationary block bootstrap of the
context's close returns (same mean block length), drawn from a stream of its own,
i.e. the sampling distribution of the context mean — then moved to its posterior
under a long-run equity-premium prior (`drift_prior_sd`, see generators/drift.py;
0 = no prior): each draw's deviation from the context mean is scaled by
sd_post / se (se: the sd of 2,000 block-bootstrapped means, seeded at fit) and
recentred on the posterior mean. With it, each path also runs at its own volatility
level, its drift moved with it (`vol_regime_sd`, see generators/regime.py; 0 = the
context's level): resampled bars reproduce the context's volatility within a few per
cent, while the next year's volatility differs from the last 400 bars' by a factor of
exp(±0.38) (1 sd) on real markets, and falls come with rises. "none": the plain bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from arch.bootstrap import optimal_block_length

from parallelverse.bars import PathBatch, bars_from_relative, relative_bars
from parallelverse.errors import GeneratorError
from parallelverse.generators.drift import PRIOR_MEAN, PRIOR_SD, check_prior_sd, drift_posterior
from parallelverse.generators.regime import LEVEL_DRIFT_SLOPE, check_regime_sd, path_regimes, place_paths
from parallelverse.market import Ohlcv
from parallelverse.rng import path_rngs


UNCERTAINTY = ("block-mean", "none")
VOL_REGIME_SD = 0.3  # chosen on pre-2020 windows only (benchmarks/vol_regime_study.py)


@dataclass(frozen=True)
class Bootstrap:
    block_bars: float = 0.0  # mean block length in bars; 0 = automatic (optimal_block_length)
    uncertainty: str = "block-mean"  # each path's drift from the block-bootstrapped context mean | none
    drift_prior_sd: float = PRIOR_SD  # annual sd of the equity-premium prior on the drift (block-mean only); 0 = none
    vol_regime_sd: float = VOL_REGIME_SD  # sd of each path's log volatility level (block-mean only); 0 = the context's

    def __post_init__(self):
        check_regime_sd("bootstrap", self.vol_regime_sd)
        check_prior_sd("bootstrap", self.drift_prior_sd)
        if self.uncertainty not in UNCERTAINTY:
            raise GeneratorError(f"bootstrap uncertainty={self.uncertainty!r} is not one of {', '.join(UNCERTAINTY)}")
        if self.block_bars != 0.0 and self.block_bars < 1.0:
            raise GeneratorError(f"bootstrap block_bars={self.block_bars} must be >= 1, or 0 for automatic")

    @property
    def name(self) -> str:
        name = "bootstrap" if self.block_bars == 0.0 else f"bootstrap-b{self.block_bars:g}"
        return (name + ("-fixed-mean" if self.uncertainty == "none" else "")
                + (f"-dp{self.drift_prior_sd:g}" if self.drift_prior_sd != PRIOR_SD and self.uncertainty != "none" else "")
                + (f"-vr{self.vol_regime_sd:g}" if self.vol_regime_sd != VOL_REGIME_SD and self.uncertainty != "none" else ""))

    def prepare(self) -> None:
        """Nothing to load: a statistical model is checked when it is built."""

    def check_context(self, context_bars: int) -> None:
        """The block length against a context of `context_bars` bars, before any work (fit checks it again)."""
        n = context_bars - 1  # relative bars: the first bar has no previous close
        if self.block_bars != 0.0 and self.block_bars > n / 4:
            raise GeneratorError(f"bootstrap block_bars={self.block_bars:g} is longer than a quarter of the {n} context "
                                 f"bars; use at most {n / 4:g}, or 0 for automatic")

    def fit(self, context: Ohlcv, horizon_time: np.ndarray | None = None) -> FittedBootstrap:
        rel, volume = relative_bars(context)
        block = self.block_bars
        if block == 0.0:
            block = auto_block_length(rel[3])
        else:  # at least four blocks' worth of variety, as the automatic length keeps
            self.check_context(rel.shape[1] + 1)
        return FittedBootstrap(self, rel, volume, float(context.close[-1]), block, context.year())


def auto_block_length(r: np.ndarray) -> float:
    """Mean block length: the largest optimal_block_length of r, r**2 and |r|, within [1, n/4]; 1 where none is
    defined (a series that never moves has no dependence to keep)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lengths = np.asarray(optimal_block_length(np.column_stack([r, r**2, np.abs(r)]))["stationary"], float)
    block = float(np.max(lengths[np.isfinite(lengths)])) if np.isfinite(lengths).any() else 1.0
    return float(np.clip(block, 1.0, len(r) / 4))  # keep at least four blocks' worth of variety


@dataclass
class FittedBootstrap:
    spec: Bootstrap
    rel: np.ndarray  # (4, n) log(open, high, low, close / previous close)
    volume: np.ndarray  # (n,)
    last_close: float
    block: float  # mean block length used
    bars_per_year: float = 252.0

    def drift(self) -> tuple[float, float, float, float]:
        """(context mean, its block-bootstrap se, posterior mean, posterior sd) of the per-bar log drift."""
        n = self.rel.shape[1]
        means = self.rel[3][self.indices(path_rngs(0, "drift-se", 0, 2000), n)].mean(axis=0)
        m, se = float(self.rel[3].mean()), float(means.std())
        return (m, se, *drift_posterior(m, se, self.bars_per_year, self.spec.drift_prior_sd))

    def describe(self) -> dict:
        out = {"block_bars": self.block, "n_source_bars": int(self.rel.shape[1]), "uncertainty": self.spec.uncertainty}
        if self.spec.uncertainty == "block-mean":
            m, se, pm, ps = self.drift()
            out["drift"] = {"context_mean": m, "se": se, "prior_annual_mean": PRIOR_MEAN,
                            "prior_annual_sd": self.spec.drift_prior_sd, "posterior_mean": pm, "posterior_sd": ps,
                            "bars_per_year": self.bars_per_year}
            out["vol_regime"] = {"sd": self.spec.vol_regime_sd, "level_drift_slope": LEVEL_DRIFT_SLOPE}
        return out

    def path_drifts(self, seed: int, start: int, stop: int) -> np.ndarray:
        """(stop - start,) per-bar drift of each path: the mean of a block-bootstrapped context, moved to the posterior."""
        n = self.rel.shape[1]
        idx = self.indices(path_rngs(seed, self.spec.name + "-drift", start, stop), n)
        m, se, pm, ps = self.drift()
        # a running sum down each path's column is one fixed order whatever the number of paths; numpy's mean
        # sums a single column pairwise but many columns row by row (--chunk-paths 1 differed in the last bit)
        boot = np.cumsum(self.rel[3][idx], axis=0)[-1] / n
        return pm + (boot - m) * (ps / se if se > 0 else 1.0)

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
        if self.spec.uncertainty == "none":
            return bars_from_relative(self.rel, self.volume, idx, self.last_close)
        mean = self.rel[3].mean()
        bars = bars_from_relative(self.rel - mean, self.volume, idx, self.last_close)
        # each path's regime and its own drift, on the demeaned resampled bars (generators/regime.py)
        regimes = path_regimes(seed, self.spec.name, start, stop, self.spec.vol_regime_sd, float(self.rel[3].std()),
                               horizon_bars)
        return place_paths(bars, self.last_close, regimes.level, 0.0, self.path_drifts(seed, start, stop) + regimes.drift)
