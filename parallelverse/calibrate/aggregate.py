"""From cell records to per generator x horizon calibration: tests, intervals, leaderboard, regimes.

Overlap: windows closer than the horizon share part of their futures, so their PITs
and hits are not independent. Every test here is run on the **non-overlapping
subset**: per symbol, windows in time order, a window kept only when its horizon
starts after the last kept one's horizon ended. Symbols are pooled; they move together
(the bundled six are all large US tech stocks), so even that subset's p-values are
optimistic, and the mean cross-symbol correlation of the PITs' normal scores is shown
beside them. Rates over *all* cells are reported as point estimates only.

- uniformity of PITs: Kolmogorov-Smirnov against U(0, 1), and the Berkowitz (2001)
  likelihood-ratio test that z = Phi^-1(u) has mean 0 and variance 1 (chi-square, 2 df;
  more powerful than KS against a wrong scale on small samples);
- coverage of the final close by the 50% / 90% bands: hits k of n with the exact
  Clopper-Pearson interval;
- CRPS skill 1 - sum(CRPS) / sum(CRPS of the baseline), against the reference GARCH on
  the same cells and against the zero-drift EWMA random walk; Diebold-Mariano on the
  per-window mean (over symbols) CRPS difference with Newey-West (Bartlett) HAC
  variance (bandwidth: the overlap ceil(h / bars between windows) - 1 plus floor(4 (T/100)^(2/9))) and the
  Harvey-Leybourne-Newbold
  small-sample correction, p from t(T - 1);
- regimes: the same on terciles of the context's volatility.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from parallelverse.verdict.stats import clopper_pearson

PIT_BINS = 10
ALPHA = 0.01  # a PIT test with p below this says "not uniform"
MIN_UNIFORMITY_CELLS = 10  # fewer independent cells: no verdict on uniformity (the tests have next to no power)
MIN_BARS_PER_MONTH = 19  # the fewest trading days a month has (February; 21 on average): windows this close overlap


@dataclass(frozen=True)
class Uniformity:
    n: int  # independent (non-overlapping) cells tested
    ks_stat: float | None
    ks_p: float | None
    berkowitz_p: float | None
    hist: list  # PIT_BINS counts over all cells
    ks_p_all_cells: float | None  # the same KS on every cell: too small when cells overlap; shown, not used


@dataclass(frozen=True)
class Coverage:
    nominal: float
    rate_all: float | None  # final-close hit rate over all cells
    path_mean: float | None  # mean share of realized closes inside the pointwise band, all cells
    k: int  # hits in the independent subset
    n: int
    ci: tuple | None  # Clopper-Pearson 95% interval of k / n

    @property
    def consistent(self) -> bool | None:
        return None if self.ci is None else bool(self.ci[0] <= self.nominal <= self.ci[1])


@dataclass(frozen=True)
class Comparison:
    skill: float | None  # 1 - sum CRPS / sum CRPS of the baseline, matched cells
    dm_stat: float | None
    dm_p: float | None
    lag: int
    n_windows: int


@dataclass(frozen=True)
class Summary:
    universe: str
    horizon: int
    n_cells: int
    n_independent: int
    n_in_sample: int  # cells whose horizon lies inside the model's training data (run or not): left out of every
    # number unless Calibration.include_in_sample, then among n_cells
    pit_final: Uniformity
    pit_vol: Uniformity
    pit_mdd: Uniformity
    cross_symbol_corr: float | None  # mean pairwise correlation of Phi^-1(PIT) across symbols, same window
    coverage: dict  # "50" / "90" -> Coverage
    crps_mean: float | None
    vs_reference: Comparison | None  # None for the reference itself
    vs_random_walk: Comparison
    drift_bias_mean: float | None  # synthetic median minus realized log return, per year (the data's calendar)
    vol_ratio_median: float | None
    first_gap_std_ratio_mean: float | None
    first_gap_ks_p: float | None
    facts_inside_share: float | None  # share of (cell, fact) pairs with the context inside the paths' band
    regimes: list = field(default_factory=list)  # per context-vol tercile
    over_time: list = field(default_factory=list)  # per window: skill vs the random walk, mean over symbols
    in_sample_windows: list = field(default_factory=list)  # "SYMBOL WINDOW" of the in-sample cells
    skill_matched: float | None = None  # skill vs the random walk on the cells every ranked universe has (the ranking)
    n_unmatched: int = 0  # of n_cells, those some other ranked universe lacks: outside the ranking's comparison

    @property
    def uniform(self) -> bool | None:
        """False: a PIT test rejects uniformity at ALPHA; True: neither does (not rejected -- never a proof of
        calibration); None: fewer than MIN_UNIFORMITY_CELLS independent cells, too few to say either."""
        u = self.pit_final
        if u.ks_p is None or u.berkowitz_p is None or u.n < MIN_UNIFORMITY_CELLS:
            return None
        return bool(u.ks_p > ALPHA and u.berkowitz_p > ALPHA)


@dataclass(frozen=True)
class Calibration:
    horizons: list
    reference: str
    universes: list
    summaries: list  # Summary per universe x horizon
    spans: dict  # universe -> training span (None: fitted on the context only)
    include_in_sample: bool
    matched: dict = field(default_factory=dict)  # str(horizon) -> {"cells": shared by every ranked universe,
    # "unmatched": {universe: its cells outside them}}
    independence: str = ("tests on non-overlapping windows per symbol (horizons do not overlap); symbols pooled, "
                         "cross-symbol correlation shown")

    def summary(self, universe: str, horizon: int) -> Summary | None:
        return next((s for s in self.summaries if s.universe == universe and s.horizon == horizon), None)

    def leaderboard(self, horizon: int) -> list[Summary]:
        """Universes at a horizon, best CRPS skill against the random walk first, on matched cells: the cells every
        ranked universe has (the in-sample guard or a failed window can leave one universe fewer). Only when they
        share no cell at all is each ranked on its own cells (`matched_cells` says 0)."""
        rows = [s for s in self.summaries if s.horizon == horizon and s.n_cells]
        matched = self.matched_cells(horizon) > 0

        def skill(s: Summary) -> float:
            x = s.skill_matched if matched else s.vs_random_walk.skill
            return x if x is not None else -1e9

        return sorted(rows, key=lambda s: -skill(s))

    def matched_cells(self, horizon: int) -> int:
        """Cells (symbol x window) every ranked universe at `horizon` has: what the leaderboard compares on."""
        return int(self.matched.get(str(horizon), {}).get("cells", 0))

    def to_json(self) -> dict:
        d = asdict(self)
        for s, sd in zip(self.summaries, d["summaries"]):
            sd["uniform"] = s.uniform
            for k, c in s.coverage.items():
                sd["coverage"][k]["consistent"] = c.consistent
        d["leaderboard"] = {str(h): [s.universe for s in self.leaderboard(h)] for h in self.horizons}
        d["leaderboard_basis"] = {str(h): ("matched cells" if self.matched_cells(h) else "each universe's own cells "
                                           "(they share none)") for h in self.horizons}
        return d


def _f(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _mean(xs) -> float | None:
    v = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else None


def berkowitz_p(u: np.ndarray, n_paths: int) -> float | None:
    """LR test of z = Phi^-1(u) ~ N(0, 1) against N(mu, s^2): chi-square with 2 df. u clipped half a path inside."""
    if len(u) < 3:
        return None
    eps = 0.5 / n_paths
    z = stats.norm.ppf(np.clip(u, eps, 1 - eps))
    mu, var = z.mean(), z.var()
    if var <= 0:
        return 0.0
    lr = len(z) * (np.log(1.0 / var) + var + mu * mu - 1.0)  # 2 (ll1 - ll0) in closed form
    return float(stats.chi2.sf(lr, 2))


def uniformity(u_all: np.ndarray, u_ind: np.ndarray, n_paths: int) -> Uniformity:
    hist = np.histogram(u_all, bins=PIT_BINS, range=(0, 1))[0].tolist() if len(u_all) else [0] * PIT_BINS
    ks = stats.kstest(u_ind, "uniform") if len(u_ind) >= 2 else None
    ks_all = stats.kstest(u_all, "uniform").pvalue if len(u_all) >= 2 else None
    return Uniformity(len(u_ind), _f(ks.statistic) if ks else None, _f(ks.pvalue) if ks else None,
                      berkowitz_p(u_ind, n_paths), hist, _f(ks_all))


def independent_subset(records: list[dict], horizon: int) -> set:
    """(symbol, window) pairs whose horizons do not overlap, greedily in time order per symbol."""
    keep, by_symbol = set(), defaultdict(list)
    for r in records:
        by_symbol[r["symbol"]].append(r)
    for sym, rs in by_symbol.items():
        last_end = None
        for r in sorted(rs, key=lambda r: r["horizon_start"]):
            if last_end is None or r["horizon_start"] > last_end:
                keep.add((sym, r["window"]))
                last_end = r["horizons"][str(horizon)]["end"]
    return keep


def newey_west_var(d: np.ndarray, lag: int) -> float:
    """Long-run variance of d with Bartlett weights up to `lag`."""
    x = d - d.mean()
    v = float(x @ x) / len(x)
    for k in range(1, lag + 1):
        v += 2 * (1 - k / (lag + 1)) * float(x[k:] @ x[:-k]) / len(x)
    return v


def diebold_mariano(d: np.ndarray, lag: int) -> tuple[float | None, float | None]:
    """DM statistic (HLN-corrected) and two-sided p for mean(d) = 0; d ordered in time, overlapping `lag` steps.

    Bartlett weights shrink the overlap's autocovariances, so the Newey-West bandwidth is the overlap plus the
    usual floor(4 (T/100)^(2/9)); the HLN factor uses the overlap (forecast horizon = lag + 1)."""
    t = len(d)
    if t < 3:
        return None, None
    var = newey_west_var(d, min(lag + int(4 * (t / 100) ** (2 / 9)), t - 2))
    if var <= 0:
        return None, None
    dm = d.mean() / math.sqrt(var / t)
    h = lag + 1
    dm *= math.sqrt(max(t + 1 - 2 * h + h * (h - 1) / t, 1e-12) / t)
    return float(dm), float(2 * stats.t.sf(abs(dm), t - 1))


def _compare(rows: list[tuple[str, str, float, float]], lag_for: int) -> Comparison:
    """rows: (window, symbol, crps, crps_baseline) on matched cells."""
    if not rows:
        return Comparison(None, None, None, 0, 0)
    a = sum(r[2] for r in rows)
    b = sum(r[3] for r in rows)
    by_w = defaultdict(list)
    for w, _, x, y in rows:
        by_w[w].append(x - y)
    d = np.array([np.mean(by_w[w]) for w in sorted(by_w)])
    lag = int(min(max(lag_for, 0), max(len(d) - 2, 0)))
    dm, p = diebold_mariano(d, lag)
    return Comparison(_f(1 - a / b) if b > 0 else None, dm, p, lag, len(d))


def _cross_corr(recs: list[dict]) -> float | None:
    z = pd.DataFrame([(r["window"], r["symbol"], r["h"]["pit_final"]) for r in recs], columns=["w", "s", "u"])
    if z["s"].nunique() < 2:
        return None
    n_paths = max(r["n_paths"] for r in recs)
    z["z"] = stats.norm.ppf(np.clip(z["u"], 0.5 / n_paths, 1 - 0.5 / n_paths))
    c = z.pivot_table(index="w", columns="s", values="z").corr(min_periods=3).to_numpy()
    off = c[~np.eye(len(c), dtype=bool)]
    off = off[np.isfinite(off)]
    return float(off.mean()) if len(off) else None


def _summary(universe: str, h: int, recs: list[dict], n_in: int, ref: dict, lag: int, edges, is_ref: bool,
             in_windows: list, common: set | None) -> Summary:
    ind = independent_subset(recs, h)
    ind_recs = [r for r in recs if (r["symbol"], r["window"]) in ind]
    n_paths = max((r["n_paths"] for r in recs), default=2)

    def arr(rs, key):
        return np.array([r["h"][key] for r in rs], float)

    unis = {k: uniformity(arr(recs, k), arr(ind_recs, k), n_paths) for k in ("pit_final", "pit_vol", "pit_mdd")}
    cov = {}
    for tag in ("50", "90"):
        k = int(sum(r["h"][f"final_hit{tag}"] for r in ind_recs))
        n = len(ind_recs)
        cov[tag] = Coverage(int(tag) / 100, _mean([r["h"][f"final_hit{tag}"] for r in recs]),
                            _mean([r["h"][f"path_cov{tag}"] for r in recs]), k, n,
                            tuple(float(x) for x in clopper_pearson(k, n)) if n else None)
    rw_rows = [(r["window"], r["symbol"], r["h"]["crps_final"], r["h"]["crps_rw_ewma"]) for r in recs]
    ref_rows = [(r["window"], r["symbol"], r["h"]["crps_final"], ref[(r["symbol"], r["window"])])
                for r in recs if (r["symbol"], r["window"]) in ref]
    facts = [v for r in recs for v in (r.get("facts_inside") or {}).values() if v is not None]
    gaps = np.array([r["first_gap_pit"] for r in ind_recs], float)

    regimes = []
    if edges is not None:
        for label, lo, hi in (("low", -np.inf, edges[0]), ("mid", edges[0], edges[1]), ("high", edges[1], np.inf)):
            rr = [r for r in recs if lo < r["context_vol"] <= hi]
            rind = [r for r in rr if (r["symbol"], r["window"]) in ind]
            regimes.append({
                "regime": label, "context_vol": [_f(lo), _f(hi)], "n_cells": len(rr),
                "pit_final_mean": _mean([r["h"]["pit_final"] for r in rr]),
                "cov90_rate": _mean([r["h"]["final_hit90"] for r in rr]),
                "pit_ks_p": _f(stats.kstest(arr(rind, "pit_final"), "uniform").pvalue) if len(rind) >= 2 else None,
                "skill_vs_random_walk": _compare([x for x in rw_rows if (x[1], x[0]) in {(r["symbol"], r["window"]) for r in rr}], lag).skill,
                "skill_vs_reference": None if is_ref else
                _compare([x for x in ref_rows if (x[1], x[0]) in {(r["symbol"], r["window"]) for r in rr}], lag).skill,
            })
    over_time = []
    by_w = defaultdict(list)
    for r in recs:
        by_w[r["window"]].append(r)
    for w in sorted(by_w):
        a = sum(r["h"]["crps_final"] for r in by_w[w])
        b = sum(r["h"]["crps_rw_ewma"] for r in by_w[w])
        over_time.append({"window": w, "skill_vs_random_walk": _f(1 - a / b) if b > 0 else None,
                          "pit_final_mean": _mean([r["h"]["pit_final"] for r in by_w[w]])})
    return Summary(
        universe, h, len(recs), len(ind_recs), n_in, unis["pit_final"], unis["pit_vol"], unis["pit_mdd"],
        _cross_corr(recs) if recs else None, cov, _mean([r["h"]["crps_final"] for r in recs]),
        None if is_ref else _compare(ref_rows, lag), _compare(rw_rows, lag),
        _mean([r["h"]["drift_bias"] for r in recs]),
        _f(np.median([r["h"]["vol_ratio"] for r in recs if r["h"]["vol_ratio"] is not None])) if recs else None,
        _mean([r["first_gap_std_ratio"] for r in recs]),
        _f(stats.kstest(gaps, "uniform").pvalue) if len(gaps) >= 2 else None,
        float(np.mean(facts)) if facts else None, regimes, over_time, in_windows,
        _compare([x for x in rw_rows if (x[1], x[0]) in common], lag).skill if common else None,
        sum(1 for r in recs if (r["symbol"], r["window"]) not in (common or set())),
    )


def aggregate(records, horizons, every_months: int, reference: str, spans: dict | None = None,
              include_in_sample: bool = False, skipped=()) -> Calibration:
    """Per universe x horizon summaries of cell records (as stored).

    `skipped`: the cells not run because every horizon lies inside the model's training data (CalibrateRun.skipped:
    universe, symbol, window and the horizons with realized bars); they count as in-sample cells wherever a record
    would have, so the counts say the same whether a cell was skipped or run and left out."""
    universes = list(dict.fromkeys([*(r["universe"] for r in records), *(k["universe"] for k in skipped)]))
    summaries, matched = [], {}
    for h in sorted(horizons):
        scored = [{**r, "h": r["horizons"][str(h)]} for r in records if r["horizons"].get(str(h))]
        usable = [r for r in scored if include_in_sample or not r["h"]["in_sample"]]
        ctx_vol = {(r["symbol"], r["window"]): r["context_vol"] for r in usable}
        edges = np.quantile(list(ctx_vol.values()), [1 / 3, 2 / 3]) if len(ctx_vol) >= 3 else None
        ref = {(r["symbol"], r["window"]): r["h"]["crps_final"] for r in usable if r["universe"] == reference}
        # Diebold-Mariano runs on every window with a Newey-West lag that covers their overlap: a horizon spans
        # the next windows' starts when they come sooner than it ends (short months included)
        lag = math.ceil(h / (MIN_BARS_PER_MONTH * every_months)) - 1
        cells = {u: {(r["symbol"], r["window"]) for r in usable if r["universe"] == u} for u in universes}
        ranked = [c for c in cells.values() if c]
        common = set.intersection(*ranked) if ranked else set()
        matched[str(h)] = {"cells": len(common), "unmatched": {u: len(c - common) for u, c in cells.items() if c}}
        for u in universes:
            recs = [r for r in usable if r["universe"] == u]
            ins = sorted({f"{r['symbol']} {r['window']}" for r in scored if r["universe"] == u and r["h"]["in_sample"]}
                         | {f"{k['symbol']} {k['window']}" for k in skipped if k["universe"] == u and h in k["horizons"]})
            summaries.append(_summary(u, h, recs, len(ins), ref, lag, edges, u == reference, ins, common))
    return Calibration(sorted(horizons), reference, universes, summaries, dict(spans or {}), include_in_sample, matched)


def _listed(items: list, most: int = 4) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


def _span(cal, universe: str) -> str:
    span = cal.spans.get(universe) or {}
    return f", which ends before {span['end']}" if span.get("end") else ""


def notes(cal, skipped=()) -> list[str]:
    """What the tables alone do not say, the same on the terminal and in the HTML page: which cells are in-sample
    (left out, or scored with --include-in-sample), which were not run, and what the ranking compares."""
    lines = []
    for s in cal.summaries:
        if not s.n_in_sample:
            continue
        where = f"{_listed(s.in_sample_windows)}: horizon inside the model's training data{_span(cal, s.universe)}"
        if cal.include_in_sample:
            lines.append(f"{s.universe} at {s.horizon} bars: {s.n_in_sample} in-sample cell(s) scored "
                         f"(--include-in-sample; {where}): those scores are not out of sample")
        else:
            lines.append(f"{s.universe} at {s.horizon} bars: {s.n_in_sample} in-sample cell(s) left out ({where}); "
                         "--include-in-sample scores them")
    if skipped:
        cells = [f"{k['universe']} {k['symbol']} {k['window']}" for k in skipped]
        lines.append(f"{len(skipped)} cell(s) not run, every horizon inside the model's training data: {_listed(cells)}"
                     " (--include-in-sample runs and scores them)")
    for h in cal.horizons:
        board = cal.leaderboard(h)
        if len(board) < 2:
            continue
        unmatched = {u: n for u, n in cal.matched.get(str(h), {}).get("unmatched", {}).items() if n}
        if not cal.matched_cells(h):
            lines.append(f"at {h} bars the generators share no cell: each is ranked on its own cells, which differ "
                         "(not a like-for-like comparison)")
        elif unmatched:
            lines.append(f"at {h} bars the ranking compares skill vs RW on the {cal.matched_cells(h)} cell(s) every "
                         "generator has (column 'matched'); cells outside it: "
                         + ", ".join(f"{u} {n}" for u, n in unmatched.items()))
    return lines
