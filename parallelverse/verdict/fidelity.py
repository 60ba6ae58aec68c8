"""Generator fidelity: which universes to believe.

Per universe, against the real bars:
- stylized facts (Cont 2001) of the real context's close log returns vs the synthetic
  paths' median and [5%, 95%] band: excess kurtosis, Hill tail index (top 5% of |r|),
  skew, ACF of r and of |r| (mean over lags 1-20), leverage corr(r_t, r^2_{t+k})
  (mean over k = 1-10), excess kurtosis of 5- and 20-bar sums (aggregational
  Gaussianity);
- Wasserstein-1 and Kolmogorov-Smirnov distances of 1/5/20-bar returns, real context
  vs pooled synthetic;
- where the realized future exists: coverage of the realized close path by the 50% and
  90% fans, the PIT of its final close, the ensemble CRPS of the final log price;
- volatility forecast: the paths' mean horizon variance (sum of r^2) scored against the
  realized variance by QLIKE and the squared log error, beside EWMA (lambda 0.94) and
  HAR-RV (daily/weekly/monthly, OLS on the context) forecasts;
- drift: median synthetic drift over the horizon vs the context's own drift and the
  realized drift, annualised.

A universe is flagged (and kept out of the path-luck verdict) when the real context
falls outside the synthetic [5%, 95%] band on 3 or more of the 8 stylized facts, when
the KS distance of 1-bar returns exceeds 0.15 (and the KS test rejects at 1%), or when the 90% fan covers less than
half of the realized path.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from parallelverse.verdict.model import Calibration, Distance, Drift, FactBand, Fidelity, VolScore

FACTS = ("excess_kurtosis", "hill_tail_index", "skew", "acf_r", "acf_abs_r", "leverage", "kurtosis_5bar",
         "kurtosis_20bar")
MAX_FACTS_OUTSIDE = 2
MAX_KS_1BAR = 0.15
KS_ALPHA = 0.01  # ... and only when the KS test rejects at this level (24 one-bar paths differ by 0.15 by chance)
MIN_COVERAGE_90 = 0.5
EWMA_LAMBDA = 0.94


def acf_by_lag(x: np.ndarray, lags: range) -> np.ndarray:
    """Autocorrelation per lag and column: x (n, m) -> (n_lags, m); lags >= n are skipped."""
    if len(x) < 2:
        return np.empty((0, x.shape[1]))
    x = x - x.mean(axis=0)
    denom = (x * x).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):  # a constant column: NaN
        return np.array([(x[:-k] * x[k:]).sum(axis=0) / denom for k in lags if k < len(x)]).reshape(-1, x.shape[1])


def _acf(x: np.ndarray, lags: range) -> np.ndarray:
    """Mean autocorrelation over `lags` per column; x (n, m)."""
    return acf_by_lag(x, lags).mean(axis=0)


MIN_FACT_BARS = 20  # fewer bars than this: no stylized fact is measured (NaN, which counts as inside its band)
MIN_FACT_BARS_20BAR = 100  # the 20-bar sums' kurtosis needs at least 5 sums


def _hill(r: np.ndarray, frac: float = 0.05) -> np.ndarray:
    a = np.sort(np.abs(r), axis=0)[::-1]
    k = max(5, int(frac * len(a)))
    top, threshold = a[:k], a[k]
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 / np.mean(np.log(top / threshold), axis=0)


def _sums(r: np.ndarray, k: int) -> np.ndarray:
    n = len(r) // k * k
    return r[:n].reshape(n // k, k, r.shape[1]).sum(axis=1)  # (0, m) when there are fewer than k bars


def _leverage(r: np.ndarray) -> np.ndarray:
    """Mean over k = 1-10 of corr(r_t, r^2_{t+k}) per column; NaN for a constant column."""
    out = []
    for k in range(1, 11):
        x, y = r[:-k], r[k:] ** 2
        x, y = x - x.mean(axis=0), y - y.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append((x * y).sum(axis=0) / np.sqrt((x * x).sum(axis=0) * (y * y).sum(axis=0)))
    return np.mean(out, axis=0)


def stylized_facts(r: np.ndarray) -> dict[str, np.ndarray]:
    """Each fact per column of r (n_bars, n_paths) of log returns; NaN where there are too few bars for it
    (MIN_FACT_BARS, MIN_FACT_BARS_20BAR) or it is undefined (a constant path)."""
    nan = np.full(r.shape[1], np.nan)
    if len(r) < MIN_FACT_BARS:
        return {k: nan for k in FACTS}
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "excess_kurtosis": stats.kurtosis(r, axis=0),
            "hill_tail_index": _hill(r),
            "skew": stats.skew(r, axis=0),
            "acf_r": _acf(r, range(1, 21)),
            "acf_abs_r": _acf(np.abs(r), range(1, 21)),
            "leverage": _leverage(r),
            "kurtosis_5bar": stats.kurtosis(_sums(r, 5), axis=0),
            "kurtosis_20bar": stats.kurtosis(_sums(r, 20), axis=0) if len(r) >= MIN_FACT_BARS_20BAR else nan,
        }


def path_log_returns(close: np.ndarray, start: float) -> np.ndarray:
    """Close-to-close log returns (h, m) of paths close (h, m) that start from the price `start`."""
    return np.diff(np.log(np.vstack([np.full((1, close.shape[1]), start), close])), axis=0)


def fact_bands(r_real: np.ndarray, r_syn: np.ndarray) -> dict[str, FactBand]:
    """Each stylized fact of the real returns (n,) against its 5-50-95% band over the paths (h, m), both measured
    on the same number of bars: the context's last L and every path's first L, L = min(n, h).

    The facts' estimators depend on the sample length (a 20-lag |r| autocorrelation is pulled toward -1/L,
    kurtosis is bounded by L), so a 400-bar real value against 30-bar paths flagged generators that were right.
    A fact that cannot be measured on L bars (NaN) counts as inside."""
    n = min(len(r_real), r_syn.shape[0])
    real = {k: float(v[0]) for k, v in stylized_facts(r_real[-n:, None]).items()}
    syn = stylized_facts(r_syn[:n])
    out = {}
    for k in FACTS:
        v = syn[k][np.isfinite(syn[k])]
        q05, q50, q95 = (np.quantile(v, [0.05, 0.5, 0.95]) if len(v) else (np.nan,) * 3)
        inside = bool(q05 <= real[k] <= q95) if np.isfinite(real[k]) and len(v) else True
        out[k] = FactBand(real[k], float(q05), float(q50), float(q95), inside)
    return out


def crps_ensemble(samples: np.ndarray, y: float) -> float:
    """CRPS = E|X - y| - E|X - X'| / 2, from the sorted ensemble in O(n log n)."""
    x = np.sort(samples[np.isfinite(samples)])
    n = len(x)
    term1 = np.mean(np.abs(x - y))
    term2 = 2.0 * np.sum((2 * np.arange(1, n + 1) - n - 1) * x) / (n * n)
    return float(term1 - 0.5 * term2)


def ewma_forecast(r: np.ndarray, horizon: int) -> float:
    var = np.var(r[:20])
    for x in r:
        var = EWMA_LAMBDA * var + (1 - EWMA_LAMBDA) * x * x
    return float(var * horizon)


def har_forecast(r: np.ndarray, horizon: int) -> float:
    """HAR-RV (Corsi 2009) on squared daily returns, iterated over the horizon."""
    rv = r * r
    d, w, m = rv[21:-1], np.convolve(rv, np.ones(5) / 5, "valid")[17:-1], np.convolve(rv, np.ones(22) / 22, "valid")[:-1]
    y = rv[22:]
    X = np.column_stack([np.ones_like(d), d, w, m])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    hist = list(rv)
    total = 0.0
    for _ in range(horizon):
        f = beta @ [1.0, hist[-1], np.mean(hist[-5:]), np.mean(hist[-22:])]
        f = max(f, 1e-12)
        hist.append(f)
        total += f
    return float(total)


def vol_scores(forecast: float, realized: float) -> VolScore:
    """QLIKE and squared log error of a variance forecast; NaN (undefined) unless both variances are positive (a
    realized future whose price never moved, a forecast of none)."""
    if not (forecast > 0 and realized > 0 and np.isfinite(forecast) and np.isfinite(realized)):
        return VolScore(forecast, float("nan"), float("nan"))
    ratio = realized / forecast
    return VolScore(forecast, float(ratio - np.log(ratio) - 1), float(np.log(forecast / realized) ** 2))


def fidelity(context_close: np.ndarray, synthetic_close: np.ndarray, realized_close: np.ndarray | None,
             ppy: float = 252.0) -> Fidelity:
    """All fidelity numbers for one universe.

    context_close: (n,) real closes up to the cut; synthetic_close: (h, m) paths after
    it; realized_close: (k,) real closes after the cut (k may be < h) or None.
    """
    last = context_close[-1]
    r_real = np.diff(np.log(context_close))
    r_syn = path_log_returns(synthetic_close, last)
    facts = fact_bands(r_real, r_syn)
    outside = sum(not f.inside for f in facts.values())
    distances, ks1_p = {}, 1.0
    for k in (1, 5, 20):
        a, b = _sums(r_real[:, None], k).ravel(), _sums(r_syn, k).ravel()
        if len(a) >= 5 and len(b) >= 5:
            ks = stats.ks_2samp(a, b)
            distances[f"{k}bar"] = Distance(float(stats.wasserstein_distance(a, b)), float(ks.statistic))
            ks1_p = float(ks.pvalue) if k == 1 else ks1_p

    ctx_drift = float(np.mean(r_real) * ppy)
    syn_drift = float(np.median(r_syn.mean(axis=0)) * ppy)
    calib, realized_drift = None, None
    if realized_close is not None and len(realized_close) >= 2:
        k = len(realized_close)
        syn = synthetic_close[:k]
        bands = {p: np.quantile(syn, [0.5 - p / 2, 0.5 + p / 2], axis=1) for p in (0.5, 0.9)}
        cover = {p: float(np.mean((realized_close >= b[0]) & (realized_close <= b[1]))) for p, b in bands.items()}
        final = np.log(syn[-1])
        y = float(np.log(realized_close[-1]))
        r_realized = np.diff(np.log(np.concatenate([[last], realized_close])))
        rv = float(np.sum(r_realized ** 2))
        syn_var = float(np.mean(np.sum(r_syn[:k] ** 2, axis=0)))
        calib = Calibration(
            coverage_50=cover[0.5],
            coverage_90=cover[0.9],
            pit_final=float(np.mean(final <= y)),
            crps_final_log_price=crps_ensemble(final, y),
            realized_bars=int(k),
            realized_variance=rv,
            vol_forecast={
                "generator": vol_scores(syn_var, rv),
                "ewma": vol_scores(ewma_forecast(r_real, k), rv),
                "har_rv": vol_scores(har_forecast(r_real, k), rv),
            },
        )
        realized_drift = float(np.mean(r_realized) * ppy)
    ks1 = distances["1bar"].ks if "1bar" in distances else 0.0
    reasons = []
    if outside > MAX_FACTS_OUTSIDE:
        reasons.append(f"{outside} of {len(FACTS)} stylized facts outside the synthetic 5-95% band")
    if ks1 > MAX_KS_1BAR and ks1_p < KS_ALPHA:  # a large distance that few bars (a short horizon) cannot explain
        reasons.append(f"KS distance of 1-bar returns {ks1:.2f} > {MAX_KS_1BAR}")
    if calib is not None and calib.coverage_90 < MIN_COVERAGE_90:
        reasons.append(f"90% fan covers {100 * calib.coverage_90:.0f}% of the realized path")
    return Fidelity(facts, outside, distances, Drift(ctx_drift, syn_drift, realized_drift), calib, bool(reasons), reasons)
