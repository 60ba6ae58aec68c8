"""Scores of one universe against the one future that really came (one cell, one horizon).

Every score compares an ensemble of synthetic paths, each field (h, n_paths), with the
realized bars after the cut:
- PIT u = F(y) of the final log price, of the realized volatility (root of the summed
  squared close log returns) and of the maximum drawdown, with F the ensemble's
  empirical CDF and ties counted half (mid-rank): u = (#{x < y} + #{x == y} / 2) / n.
  A calibrated generator gives u ~ Uniform(0, 1) across independent windows.
- coverage: the share of realized closes inside the pointwise 50% and 90% central
  bands, and whether the final close is inside them (0/1: a binomial hit);
- CRPS of the final log price (`crps_ensemble`, the sorted O(n log n) form) and of a
  zero-drift random walk with EWMA (lambda 0.94) volatility, in closed form for its
  normal forecast distribution — the skill baseline that needs no generator;
- drift bias: synthetic median minus realized log return, per year of the data's calendar
  (`trading_calendar.bars_per_year`: 252 daily bars on a five-day week);
- volatility ratio: median synthetic realized volatility / realized volatility;
- first bar: the PIT of the realized opening gap among the paths' first gaps, and the
  paths' gap dispersion over the context's (a generator that ignores gaps shows ~0).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from parallelverse.verdict.fidelity import crps_ensemble, ewma_forecast, fact_bands, path_log_returns

BANDS = (0.5, 0.9)


def pit(samples: np.ndarray, y: float) -> float:
    """Mid-rank PIT of y among the finite samples: (#{x < y} + #{x == y} / 2) / n."""
    x = np.asarray(samples, float)
    x = x[np.isfinite(x)]
    return float((np.sum(x < y) + 0.5 * np.sum(x == y)) / len(x))


def crps_normal(mu: float, sigma: float, y: float) -> float:
    """CRPS of N(mu, sigma^2) at y (Gneiting & Raftery 2007, eq. 21)."""
    z = (y - mu) / sigma
    return float(sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi)))


def max_drawdown(close: np.ndarray, start: float) -> np.ndarray:
    """Largest fall from a running peak, as a positive fraction, per column; close (h, m) after a start price."""
    c = np.vstack([np.full((1, close.shape[1]), start), close])
    return 1.0 - np.min(c / np.maximum.accumulate(c, axis=0), axis=0)


def realized_vol(close: np.ndarray, start: float) -> np.ndarray:
    """Root of summed squared close log returns over the horizon, per column; close (h, m)."""
    r = path_log_returns(close, start)
    return np.sqrt(np.sum(r * r, axis=0))


def score_horizon(context_close: np.ndarray, syn_close: np.ndarray, real_close: np.ndarray, bars_per_year: float) -> dict:
    """Scores at one horizon h. context_close (n,); syn_close (h, m); real_close (h,)."""
    h = len(real_close)
    last = float(context_close[-1])
    x = np.log(syn_close[-1])
    y = float(np.log(real_close[-1]))
    out = {"pit_final": pit(x, y)}
    rv_syn, rv_real = realized_vol(syn_close, last), float(realized_vol(real_close[:, None], last)[0])
    out["pit_vol"] = pit(rv_syn, rv_real)
    out["pit_mdd"] = pit(max_drawdown(syn_close, last), float(max_drawdown(real_close[:, None], last)[0]))
    for p in BANDS:
        lo, hi = np.quantile(syn_close, [0.5 - p / 2, 0.5 + p / 2], axis=1)
        tag = int(round(100 * p))
        out[f"path_cov{tag}"] = float(np.mean((real_close >= lo) & (real_close <= hi)))
        out[f"final_hit{tag}"] = int(lo[-1] <= real_close[-1] <= hi[-1])
    r_ctx = np.diff(np.log(context_close))
    out["crps_final"] = crps_ensemble(x, y)
    out["crps_rw_ewma"] = crps_normal(np.log(last), np.sqrt(ewma_forecast(r_ctx, h)), y)
    out["realized_log_return"] = y - np.log(last)
    out["drift_bias"] = float((np.median(x) - y) * bars_per_year / h)
    out["vol_ratio"] = float(np.median(rv_syn) / rv_real) if rv_real > 0 else None
    return out


def first_bar_scores(context_open: np.ndarray, context_close: np.ndarray, syn_open0: np.ndarray,
                     real_open0: float) -> dict:
    """The first synthetic bar's opening gap log(open / last close) against the context's gaps and the real one."""
    last = float(context_close[-1])
    ctx_gaps = np.log(context_open[1:] / context_close[:-1])
    syn = np.log(syn_open0 / last)
    sd = float(np.std(ctx_gaps))
    return {"first_gap_pit": pit(syn, float(np.log(real_open0 / last))),
            "first_gap_std_ratio": float(np.std(syn) / sd) if sd > 0 else None}


def facts_inside(context_close: np.ndarray, syn_close: np.ndarray) -> dict:
    """Per stylized fact: the context inside the paths' [5%, 95%] band (the fidelity rule, verdict.fidelity.fact_bands,
    both on the same number of bars), or None where the fact cannot be measured."""
    bands = fact_bands(np.diff(np.log(context_close)), path_log_returns(syn_close, context_close[-1]))
    return {k: (f.inside if np.isfinite(f.real) and np.isfinite(f.q05) else None) for k, f in bands.items()}
