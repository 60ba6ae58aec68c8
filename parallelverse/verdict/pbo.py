"""Probability of Backtest Overfitting by combinatorially symmetric cross-validation (CSCV).

Bailey, Borwein, Lopez de Prado & Zhu (2017): split the T x N matrix of per-period
returns (one column per configuration) into S equal blocks; for every choice of S/2
blocks as in-sample (the rest out-of-sample), find the in-sample best configuration
by Sharpe and its relative rank w out-of-sample; lambda = logit(w). PBO is the share
of splits with lambda <= 0 (the in-sample winner is below the out-of-sample median).
Under pure noise PBO is about 0.5.
"""

from __future__ import annotations

import itertools

import numpy as np


def _sharpe(block: np.ndarray) -> np.ndarray:
    sd = block.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, block.mean(axis=0) / sd, 0.0)


TIE_TOL = 1e-9  # Sharpes this close (times the largest |Sharpe|, at least 1) are equal: last-bit noise breaks no tie


def _ties(x: np.ndarray) -> float:
    return TIE_TOL * max(1.0, float(np.max(np.abs(x))))


def cscv(returns: np.ndarray, n_blocks: int = 16) -> dict:
    """returns: (T, N) per-period returns of N >= 2 configurations.

    Ties are explicit: configurations whose Sharpes differ by less than the tie tolerance
    (identical over those blocks, as grids often are) share the in-sample win, each counting
    for 1/k of the split, and share their average out-of-sample rank; so the result does not
    depend on the order of the configurations or on rounding in the last bit."""
    t, n = returns.shape
    s = min(n_blocks, (t // 8) // 2 * 2)  # even, and at least ~8 bars per block
    if n < 2 or s < 2:
        return {"pbo": float("nan"), "n_splits": 0, "n_blocks": s, "logits": []}
    blocks = np.array_split(np.arange(t - t % s), s)
    logits, below, is_best, oos_of_best = [], [], [], []
    for chosen in itertools.combinations(range(s), s // 2):
        ins = np.concatenate([blocks[i] for i in chosen])
        oos = np.concatenate([blocks[i] for i in range(s) if i not in chosen])
        sr_in, sr_out = _sharpe(returns[ins]), _sharpe(returns[oos])
        best = np.flatnonzero(sr_in >= sr_in.max() - _ties(sr_in))  # the in-sample winners, tied
        tol = _ties(sr_out)
        # average rank (1 = worst) with ties: the configurations below, plus half of those tied (itself included)
        rank = np.array([(sr_out < sr_out[b] - tol).sum() + ((np.abs(sr_out - sr_out[b]) <= tol).sum() + 1) / 2
                         for b in best])
        w = rank / (n + 1)
        lam = np.log(w / (1 - w))
        logits.append(float(lam.mean()))
        below.append(float((lam <= 0).mean()))
        is_best.append(float(sr_in[best].mean()))
        oos_of_best.append(float(sr_out[best].mean()))
    logits = np.array(logits)
    slope = float(np.polyfit(is_best, oos_of_best, 1)[0]) if len(set(is_best)) > 1 else float("nan")
    return {
        "pbo": float(np.mean(below)),
        "n_splits": int(len(logits)),
        "n_blocks": int(s),
        "logits": logits.round(6).tolist(),
        "degradation_slope": slope,  # OOS Sharpe on IS Sharpe of the IS winner
        "p_oos_loss": float((np.array(oos_of_best) < 0).mean()),
    }
