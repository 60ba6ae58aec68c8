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


NO_SPREAD = 1e-12  # a standard deviation below this share of |mean| is rounding (constant returns): no spread


def _sharpe_of(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """mean / sd; 0 without a spread (flat, constant or non-finite returns: nothing to rank by)."""
    spread = np.isfinite(sd) & np.isfinite(mean) & (sd > NO_SPREAD * np.abs(mean))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread & (sd > 0), mean / sd, 0.0)


def _block_moments(returns: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Each of the s equal blocks' mean, sum of squared deviations and whether it holds a non-finite return, per
    configuration ((s, N) each), and the blocks' length. A bad block's moments are 0 (it poisons its unions below)."""
    t = returns.shape[0]
    length = t // s
    blocks = returns[: s * length].reshape(s, length, -1)
    bad = ~np.isfinite(blocks).all(axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        means = blocks.mean(axis=1)
        m2 = ((blocks - means[:, None, :]) ** 2).sum(axis=1)
    return np.where(bad, 0.0, means), np.where(bad, 0.0, m2), bad.astype(float), length


def _pooled_sharpe(chosen: np.ndarray, means: np.ndarray, m2: np.ndarray, bad: np.ndarray, length: int) -> np.ndarray:
    """Sharpe (sample sd) of every configuration over the union of the blocks each row of `chosen` ((K, s) of 0/1)
    picks, (K, N): the blocks' moments pooled exactly (Chan, Golub & LeVeque), as if the periods were concatenated;
    0 where the union holds a non-finite return, as the concatenated periods' Sharpe would be."""
    k = chosen.sum(axis=1, keepdims=True)
    mean = chosen @ means / k
    dev = means[None, :, :] - mean[:, None, :]  # each block's mean from its union's
    m2_union = chosen @ m2 + length * np.einsum("ks,ksn->kn", chosen, dev * dev)
    sr = _sharpe_of(mean, np.sqrt(m2_union / (k * length - 1)))
    return np.where(chosen @ bad > 0, 0.0, sr)


TIE_TOL = 1e-9  # Sharpes this close (times the largest |Sharpe|, at least 1) are equal: last-bit noise breaks no tie


def _ties(x: np.ndarray) -> np.ndarray:
    """The tie tolerance of each row of x, (K, 1)."""
    return TIE_TOL * np.maximum(1.0, np.abs(x).max(axis=1, keepdims=True))


def cscv(returns: np.ndarray, n_blocks: int = 16) -> dict:
    """returns: (T, N) per-period returns of N >= 2 configurations.

    Ties are explicit: configurations whose Sharpes differ by less than the tie tolerance
    (identical over those blocks, as grids often are) share the in-sample win, each counting
    for 1/k of the split, and share their average out-of-sample rank; so the result does not
    depend on the order of the configurations or on rounding in the last bit.

    All C(S, S/2) splits at once from the blocks' moments (12,870 splits of 16 blocks);
    `cscv_by_split` is its twin, one split at a time as the paper writes it (the tests' oracle)."""
    t, n = returns.shape
    s = min(n_blocks, (t // 8) // 2 * 2)  # even, and at least ~8 bars per block
    if n < 2 or s < 2:
        return {"pbo": float("nan"), "n_splits": 0, "n_blocks": s, "logits": []}
    means, m2, bad, length = _block_moments(np.asarray(returns, dtype=float), s)
    combos = np.array(list(itertools.combinations(range(s), s // 2)))
    chosen = np.zeros((len(combos), s))
    np.put_along_axis(chosen, combos, 1.0, axis=1)
    parts = []
    step = max(1, 2**22 // (s * n))  # bounds the (splits, blocks, configurations) temporaries at 32 MiB
    for lo in range(0, len(chosen), step):
        c = chosen[lo : lo + step]
        parts.append(_split_outcomes(_pooled_sharpe(c, means, m2, bad, length),
                                     _pooled_sharpe(1 - c, means, m2, bad, length)))
    logits, below, is_best, oos_of_best, loss = (np.concatenate(x) for x in zip(*parts))
    slope = float(np.polyfit(is_best, oos_of_best, 1)[0]) if len(np.unique(is_best)) > 1 else float("nan")
    return {
        "pbo": float(np.mean(below)),
        "n_splits": int(len(logits)),
        "n_blocks": int(s),
        "logits": logits.round(6).tolist(),
        "degradation_slope": slope,  # OOS Sharpe on IS Sharpe of the IS winner
        "p_oos_loss": float(loss.mean()),
    }


def _split_outcomes(sr_in: np.ndarray, sr_out: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per split (row): the mean logit of the in-sample winners' out-of-sample rank, the share of them at or below
    the median, their mean in-sample and out-of-sample Sharpe, and whether that is a loss (below 0 by more than
    the tie tolerance: a mean that is 0 but for rounding is no loss)."""
    n_splits, n = sr_in.shape
    best = sr_in >= sr_in.max(axis=1, keepdims=True) - _ties(sr_in)  # the in-sample winners, tied
    rows, cols = np.nonzero(best)
    out, tol = sr_out[rows], _ties(sr_out)[rows]
    mine = out[np.arange(len(rows)), cols][:, None]
    # average rank (1 = worst) with ties: the configurations below, plus half of those tied (itself included)
    rank = (out < mine - tol).sum(axis=1) + ((np.abs(out - mine) <= tol).sum(axis=1) + 1) / 2
    w = rank / (n + 1)
    lam = np.log(w / (1 - w))
    k = np.bincount(rows, minlength=n_splits)

    def per_split(x):
        return np.bincount(rows, weights=x, minlength=n_splits) / k

    oos_of_best = per_split(out[np.arange(len(rows)), cols])
    return (per_split(lam), per_split(lam <= 0), per_split(sr_in[rows, cols]), oos_of_best,
            oos_of_best < -_ties(sr_out)[:, 0])


def cscv_by_split(returns: np.ndarray, n_blocks: int = 16) -> dict:
    """cscv() one split at a time, as Bailey et al. write it: each split's periods concatenated and every Sharpe
    computed afresh from them, ties shared alike. The twin of cscv(): its oracle in the tests, its peer in
    benchmarks/bench_pbo.py."""
    t, n = returns.shape
    s = min(n_blocks, (t // 8) // 2 * 2)
    if n < 2 or s < 2:
        return {"pbo": float("nan"), "n_splits": 0, "n_blocks": s, "logits": []}
    blocks = np.array_split(np.arange(t - t % s), s)

    def sharpe(x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            return _sharpe_of(x.mean(axis=0), x.std(axis=0, ddof=1))

    logits, below, is_best, oos_of_best, loss = [], [], [], [], []
    for chosen in itertools.combinations(range(s), s // 2):
        ins = np.concatenate([blocks[i] for i in chosen])
        oos = np.concatenate([blocks[i] for i in range(s) if i not in chosen])
        sr_in, sr_out = sharpe(returns[ins]), sharpe(returns[oos])
        best = np.flatnonzero(sr_in >= sr_in.max() - _ties(sr_in[None, :])[0, 0])
        tol = _ties(sr_out[None, :])[0, 0]
        rank = np.array([(sr_out < sr_out[b] - tol).sum() + ((np.abs(sr_out - sr_out[b]) <= tol).sum() + 1) / 2
                         for b in best])
        lam = np.log(rank / (n + 1 - rank))
        logits.append(float(lam.mean()))
        below.append(float((lam <= 0).mean()))
        is_best.append(float(sr_in[best].mean()))
        oos_of_best.append(float(sr_out[best].mean()))
        loss.append(oos_of_best[-1] < -tol)
    logits = np.array(logits)
    slope = float(np.polyfit(is_best, oos_of_best, 1)[0]) if len(set(is_best)) > 1 else float("nan")
    return {"pbo": float(np.mean(below)), "n_splits": int(len(logits)), "n_blocks": int(s),
            "logits": logits.round(6).tolist(), "degradation_slope": slope,
            "p_oos_loss": float(np.mean(loss))}
