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
from scipy import stats


def _sharpe(block: np.ndarray) -> np.ndarray:
    sd = block.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, block.mean(axis=0) / sd, 0.0)


def cscv(returns: np.ndarray, n_blocks: int = 16) -> dict:
    """returns: (T, N) per-period returns of N >= 2 configurations."""
    t, n = returns.shape
    s = min(n_blocks, (t // 8) // 2 * 2)  # even, and at least ~8 bars per block
    if n < 2 or s < 2:
        return {"pbo": float("nan"), "n_splits": 0, "n_blocks": s, "logits": []}
    blocks = np.array_split(np.arange(t - t % s), s)
    logits, is_best, oos_of_best = [], [], []
    for chosen in itertools.combinations(range(s), s // 2):
        ins = np.concatenate([blocks[i] for i in chosen])
        oos = np.concatenate([blocks[i] for i in range(s) if i not in chosen])
        sr_in, sr_out = _sharpe(returns[ins]), _sharpe(returns[oos])
        best = int(np.argmax(sr_in))
        rank = stats.rankdata(sr_out)[best]  # 1 = worst
        w = rank / (n + 1)
        logits.append(float(np.log(w / (1 - w))))
        is_best.append(float(sr_in[best]))
        oos_of_best.append(float(sr_out[best]))
    logits = np.array(logits)
    slope = float(np.polyfit(is_best, oos_of_best, 1)[0]) if len(set(is_best)) > 1 else float("nan")
    return {
        "pbo": float((logits <= 0).mean()),
        "n_splits": int(len(logits)),
        "n_blocks": int(s),
        "logits": logits.round(6).tolist(),
        "degradation_slope": slope,  # OOS Sharpe on IS Sharpe of the IS winner
        "p_oos_loss": float((np.array(oos_of_best) < 0).mean()),
    }
