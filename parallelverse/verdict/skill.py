"""Skill: does the strategy beat markets that have nothing to exploit?

Statistic: the strategy's excess over buy-and-hold on the same path (by default the
difference of Sharpe ratios), so market drift is not mistaken for skill. With a
params grid, the whole grid runs on every null path and the best configuration is
taken — on the real history too — so the search is inside the null.

p = (1 + b) / (B + 1) with a Clopper-Pearson interval, per null.

Which nulls decide (`DECIDING`): the market nulls (permutation, wild block bootstrap,
GARCH-FHS with the realized drift) replace the whole market by one with nothing to exploit, and
the strategy is re-run on it, so their p-values are valid for any strategy when the
market is in their class (measured: size <= 5% for SMA grids, RSI and random fixed
entries on i.i.d. Student-t and zero-mean GARCH markets, tests/test_verdict_size.py).
Random entry keeps the real market and shuffles the strategy's own holding periods;
that is not a draw from "no edge" for a strategy whose timing depends on the path
(measured: p piles up at 1 for SMA crossovers, 8.5% size for RSI reversion), so it is
reported as a robustness check and never decides. A null that cannot be built (too
few bars, a GARCH fit that does not converge) is `available=False` with its reason;
the others still decide.

Combination (`combine`): Simes' rule over the deciding nulls, p = min_i k p_(i) / i.
It rejects whenever the largest-p rule (intersection-union) does — p_(k) <= alpha is
one of its conditions — so its power is at least that rule's; its size is at most
alpha for positively dependent p-values (Sarkar 1998), which these are: every null
ranks the same real statistic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from parallelverse.backtest.engine import Costs, backtest, decide, decision_lag, execution_arrays, fill_prices, metric_rows, run_executed, run_grid
from parallelverse.backtest.strategy import Strategy
from parallelverse.bars import PathBatch, real_bars, with_warmup
from parallelverse.errors import GeneratorError
from parallelverse.rng import path_rngs
from parallelverse.window import SeedSplit
from parallelverse.verdict.nulls import MIN_GARCH_BARS, NULLS, null_paths
from parallelverse.verdict.stats import MonteCarloP, mc_p_value

STATISTICS = ("excess_sharpe", "excess_total_return", "information_ratio", "excess_cagr")
DECIDING = NULLS  # the market nulls; random-entry is a robustness check only
ROBUSTNESS = ("random-entry",)
POWER = 0.8  # the power at which the minimum detectable effect is stated
MIN_REAL_BARS = 20
AUTO_PATHS_MAX = 20_000  # the most null paths --auto-paths draws
SETTLE_CHANCE = 0.8  # the stated null paths settle an Inconclusive verdict this often if each p is as estimated now
SETTLE_SIMS = 400  # binomial draws per candidate path count
SETTLE_LIMIT = 10_000_000  # past this no count is searched: "more than --auto-paths draws"
EXPOSURE_TOL = 1e-6  # exposures closer than this are one exposure (no timing decision between them)


@dataclass(frozen=True)
class NullTest:
    name: str
    real: float  # best-of-grid statistic on the real history
    null: np.ndarray  # (B,) best-of-grid statistic on each null path; empty when unavailable
    p: MonteCarloP | None  # None when unavailable
    available: bool = True
    reason: str = ""  # why the null could not be built

    @property
    def decides(self) -> bool:
        return self.available and self.name in DECIDING

    def detectable_effect(self, alpha: float = 0.05, power: float = POWER) -> float:
        """The shift of the statistic this null detects with `power` at level alpha (same units as the statistic).

        Shift alternative: the real statistic is a null draw plus delta. It is rejected when it
        exceeds the null's (1 - alpha) quantile, so delta = q_{1-alpha} - q_{1-power} of the null sample.
        """
        x = self.null[np.isfinite(self.null)] if self.available else np.empty(0)
        if len(x) < 2:
            return float("nan")
        return float(np.quantile(x, 1 - alpha) - np.quantile(x, 1 - power))


def unavailable(name: str, real: float, reason: str) -> NullTest:
    return NullTest(name, real, np.empty(0), None, False, reason)


def grid_statistic(strategy: Strategy, bars: PathBatch, costs: Costs, statistic: str, label: str) -> np.ndarray:
    """(n_configs, n_paths) statistic of every configuration on every path of `bars`."""
    return run_grid(strategy, bars, costs, label).metrics[statistic]


def best_of_grid(stat: np.ndarray) -> np.ndarray:
    """Best configuration per path; NaN-safe."""
    return np.nanmax(np.where(np.isfinite(stat), stat, -np.inf), axis=0)


def null_test(kind: str, strategy: Strategy, split: SeedSplit, costs: Costs, n_paths: int, seed: int, statistic: str,
              real: float) -> NullTest:
    ce, re = split.context_end, split.realized_end
    base = split.history.slice(ce - 1, re)  # the bar before the horizon, then the realized horizon
    if kind == "garch" and re - ce < MIN_GARCH_BARS:
        return unavailable(kind, real, f"{re - ce} realized bars; a GARCH fit needs {MIN_GARCH_BARS}")
    try:
        paths = null_paths(kind, base, n_paths, seed).on(split.history.time[ce:re])
    except GeneratorError as exc:
        return unavailable(kind, real, f"the GARCH fit to the realized bars failed ({str(exc).split(';')[0]})")
    bars = with_warmup(split, strategy.warmup, paths)
    stat = best_of_grid(grid_statistic(strategy, bars, costs, statistic, f"{kind} null"))
    return NullTest(kind, real, stat, mc_p_value(real, stat))


def _runs(x: np.ndarray) -> list[np.ndarray]:
    """Split a 1-D series into its maximal runs of equal values."""
    cut = np.flatnonzero(x[1:] != x[:-1]) + 1
    return np.split(x, cut)


def _held_exposure(out, bars: PathBatch, warmup: int, fill: str) -> np.ndarray:
    """The exposure actually held through each horizon bar (signals become 1 in / 0 out)."""
    target, signal, use_signals, _, _ = execution_arrays(out, bars, warmup, fill)
    if not use_signals:
        return np.nan_to_num(target[:, 0], nan=0.0)
    held, state = np.empty(signal.shape[0]), 0.0
    for t, s in enumerate(signal[:, 0]):
        state = 1.0 if s == 1 else 0.0 if s == -1 else state
        held[t] = state
    return held


def random_entry_test(strategy: Strategy, bars: PathBatch, costs: Costs, n_paths: int, seed: int, statistic: str,
                      real: float) -> NullTest:
    """The real market, with each configuration's own holding periods shuffled in time.

    Keeps the exposure levels, the number of position changes and every holding length;
    only the timing becomes random.
    """
    warmup = strategy.warmup
    price, close = fill_prices(bars, warmup, costs.fill)
    h = close.shape[0]
    rngs = path_rngs(seed, "null-random-entry", 0, n_paths)
    wide = lambda a: np.ascontiguousarray(np.repeat(a, n_paths, axis=1))  # noqa: E731
    bh, bh_values = run_executed(np.ones((h, n_paths)), np.zeros((1, n_paths), np.int8), False, wide(price), wide(close), costs)
    rows = []
    for config in strategy.configs:
        held = _held_exposure(decide(strategy, bars, config, costs.fill, "real history"), bars, warmup, costs.fill)
        runs = _runs(held)
        target = np.empty((h, n_paths))
        for j, rng in enumerate(rngs):
            target[:, j] = np.concatenate([runs[k] for k in rng.permutation(len(runs))])
        metrics, values = run_executed(target, np.zeros((1, n_paths), np.int8), False, wide(price), wide(close), costs)
        rows.append(metric_rows(metrics, values, bh, bh_values, costs)[statistic])
    stat = best_of_grid(np.stack(rows))
    return NullTest("random-entry", real, stat, mc_p_value(real, stat))


def real_statistic(strategy: Strategy, split: SeedSplit, costs: Costs, statistic: str) -> float:
    """The best-of-grid statistic on the real history."""
    bars = real_bars(split, strategy.warmup)
    return float(best_of_grid(grid_statistic(strategy, bars, costs, statistic, "real history"))[0])


def run_null(kind: str, strategy: Strategy, split: SeedSplit, costs: Costs, n_paths: int, seed: int, statistic: str,
             real: float) -> NullTest:
    """One null test by name (the market nulls, or random-entry)."""
    if kind == "random-entry":
        return random_entry_test(strategy, real_bars(split, strategy.warmup), costs, n_paths, seed, statistic, real)
    return null_test(kind, strategy, split, costs, n_paths, seed, statistic, real)


def skill_tests(strategy: Strategy, split: SeedSplit, costs: Costs, n_paths: int = 1000, seed: int = 0,
                statistic: str = "excess_sharpe", nulls: tuple[str, ...] = DECIDING + ROBUSTNESS) -> list[NullTest]:
    """Every null test (unavailable ones with their reason); empty with fewer than MIN_REAL_BARS real bars."""
    n_real = split.realized_end - split.context_end
    if n_real < MIN_REAL_BARS:
        return []
    real = real_statistic(strategy, split, costs, statistic)
    return [run_null(kind, strategy, split, costs, n_paths, seed, statistic, real) for kind in nulls]


# --- what the real history lets us test ----------------------------------------------------------


HELD_ALL_THE_WAY = "all the way"  # in the reason of a book held at one non-zero exposure (its PSR is the market's)


def timing_decisions(strategy: Strategy, split: SeedSplit, costs: Costs, statistic: str = "excess_sharpe") -> str | None:
    """None when the configuration that sets the real best-of-grid statistic changed its exposure over the real
    horizon; else why there is nothing to test.

    A real market that never moved leaves nothing to time, and a book that went bust (equity at or
    below 0) has no returns to test. A configuration that holds one exposure all the way (always
    long, or never invested) made no timing decision: its excess over buy-and-hold is fixed by that
    exposure, null markets give it the same value, and every null's p-value would come from ties,
    not from a test.
    """
    h = split.history
    moves = np.concatenate([h.open[split.context_end:split.realized_end], h.close[split.context_end - 1:split.realized_end]])
    if np.ptp(np.log(moves)) < 1e-12:  # every null market is the same flat line: p-values from ties only
        return (f"the price did not move over the {split.realized_end - split.context_end} real bars after the cut: "
                "there was no market move to time")
    bars = real_bars(split, strategy.warmup)
    stat = grid_statistic(strategy, bars, costs, statistic, "real history")[:, 0]
    best = int(np.argmax(np.where(np.isfinite(stat), stat, -np.inf)))
    out = decide(strategy, bars, strategy.configs[best], costs.fill, "real history")
    if backtest(out, bars, strategy.warmup, costs)[1].min() <= 0:
        return ("the book went bust on the real history (equity at or below 0, from leverage): its returns and "
                "Sharpe mean nothing, and there is nothing to test")
    held = _held_exposure(out, bars, strategy.warmup, costs.fill)
    # longs above 1x are filled with the cash there is, at about 1x (as in vectorbt): a book asking for 1x on some
    # days and 1.5x on others trades like buy-and-hold. Differences below EXPOSURE_TOL are no decision either.
    held = np.minimum(held, 1.0)
    # with warmup shorter than the decision lag, the first bar(s) are flat by construction, not by a decision
    lead = max(0, decision_lag(costs.fill) - strategy.warmup)
    undecided = lead > 0 and len(held) > lead and np.any(np.abs(held[:lead] - held[lead]) > EXPOSURE_TOL)
    held = held[lead:]
    if len(held) == 0 or np.ptp(held) > EXPOSURE_TOL:
        return None
    config = strategy.configs[best]
    who = (f"the best configuration ({', '.join(f'{k}={v}' for k, v in config.items())})"
           if len(strategy.configs) > 1 else "the strategy")
    level = float(np.round(np.median(held), 6)) + 0.0
    if level == 0.0:
        return f"{who} was never invested over the real horizon: there was no timing decision to test"
    what = f"stayed long {HELD_ALL_THE_WAY}, identical to buy-and-hold" if level == 1.0 else \
        f"held a fixed exposure of {level:g} {HELD_ALL_THE_WAY}"
    if undecided:
        what += (f" from its first decision (warmup = {strategy.warmup} leaves the first bar without one: set "
                 f"warmup = {decision_lag(costs.fill)} to trade it)")
    others = np.delete(stat, best)
    others = others[np.isfinite(others) & (others < stat[best] - 1e-12)]
    if len(others):  # the grid did time the market; those configurations lost to the one that did not
        return (f"{who} {what}; the grid's {len(others)} other configuration(s) that traded did worse on the real "
                f"history (the best of them: {statistic} {others.max():+.2f}), so the best of the grid made no timing "
                "decision to test")
    return f"{who} {what}: there was no timing decision to test"


# --- the decision -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Combined:
    """The deciding nulls combined by Simes' rule, with the Monte Carlo interval carried through."""

    p: float
    ci: tuple[float, float]  # from the nulls' Clopper-Pearson endpoints (Simes is monotone in each p)
    nulls: tuple[str, ...]  # the nulls that decided
    attained_by: str  # the null whose ordered p sets the Simes minimum
    paths_to_decide: int  # null paths per null that settle it SETTLE_CHANCE of the time at today's p's (0 if decided)
    detectable_effect: float  # excess statistic the verdict calls Skill with POWER (verdict_detectable_effect)
    n_paths: int  # null paths of attained_by
    rule: str = "simes"


def simes(p: list[float]) -> tuple[float, int, int]:
    """Simes' combined p, the index (into p) of the ordered p-value that attains it, and its rank (1-based)."""
    order = np.argsort(p, kind="stable")
    k = len(p)
    vals = [k * p[j] / (i + 1) for i, j in enumerate(order)]
    best = len(vals) - 1 - int(np.argmin(vals[::-1]))  # the highest rank among ties
    return float(min(1.0, vals[best])), int(order[best]), best + 1


def combine(tests: list[NullTest], alpha: float = 0.05) -> Combined | None:
    """Simes over the available deciding nulls; None when none is available."""
    use = [t for t in tests if t.decides]
    if not use:
        return None
    p, at, _ = simes([t.p.p for t in use])
    lo = simes([t.p.ci[0] for t in use])[0]
    hi = simes([t.p.ci[1] for t in use])[0]
    decided = not (lo <= alpha <= hi)
    more = 0 if decided else paths_to_settle(use, alpha)
    mde = verdict_detectable_effect(use, alpha)
    return Combined(p, (lo, hi), tuple(t.name for t in use), use[at].name, int(more), mde, use[at].p.n)


def paths_to_settle(use: list[NullTest], alpha: float = 0.05, chance: float = SETTLE_CHANCE) -> int:
    """Null paths per null (every null in `use` drawn to that count) after which the decision rule itself — Simes
    over the nulls' Clopper-Pearson ends — leaves alpha outside its interval with probability `chance`, if each
    null's exceedance probability is its p-value now ((1 + b) / (B + 1)); always more than the most paths a null
    has. SETTLE_LIMIT when no count up to it would: p sits at the threshold. The chance is conditional on that
    plug-in: a p close to the threshold may need many more (the count is a guide, not a promise)."""
    from scipy import stats

    q = np.array([t.p.p for t in use])[:, None]  # (k, 1)
    k = len(use)
    ranks = np.arange(1, k + 1)[:, None]
    u = np.random.default_rng(0).random((k, SETTLE_SIMS))  # common random numbers: the share moves smoothly with n

    def settles(n: int) -> bool:
        b = stats.binom.ppf(u, n, q)  # (k, sims) exceedance counts at n paths per null
        lo = np.where(b > 0, stats.beta.ppf(alpha / 2, np.maximum(b, 1), n - b + 1), 0.0)
        hi = np.where(b < n, stats.beta.ppf(1 - alpha / 2, b + 1, np.maximum(n - b, 1)), 1.0)
        s_lo = (k * np.sort(lo, axis=0) / ranks).min(axis=0)
        s_hi = (k * np.sort(hi, axis=0) / ranks).min(axis=0)
        return bool(np.mean((s_lo > alpha) | (s_hi < alpha)) >= chance)

    below, n = max(t.p.n for t in use), max(t.p.n for t in use) + 1
    while not settles(n):  # doubling, then bisection to about 2%
        if n >= SETTLE_LIMIT:
            return SETTLE_LIMIT
        below, n = n, min(2 * n, SETTLE_LIMIT)
    while n - below > max(1, n // 50):
        mid = (below + n) // 2
        below, n = (below, mid) if settles(mid) else (mid, n)
    unit = 10 ** max(0, len(str(n)) - 2)
    return -(-n // unit) * unit  # rounded up to two significant digits: the count is a guide


def verdict_detectable_effect(use: list[NullTest], alpha: float = 0.05, power: float = POWER) -> float:
    """The shift of the statistic that the verdict itself calls Skill with `power`, whichever deciding null
    describes the market: the rule as decided, not one null at p <= alpha. For each null in turn, shift
    alternative on it: the real statistic is each of its draws plus delta; for each, every null's b and
    Clopper-Pearson upper end, Simes over those, Skill when below alpha. Bisection on delta (the share is monotone
    in it); the largest delta over the nulls is stated, so the claim holds under each of them (nulls that sit in
    different places would otherwise lend a shift of one null's draws the others' rejections). inf when no shift
    can reach Skill with these null paths (too few for the Monte Carlo interval to clear alpha)."""
    nulls = [np.sort(t.null[np.isfinite(t.null)]) for t in use]
    if any(len(x) < 2 for x in nulls):
        return float("nan")
    k = len(nulls)
    upper = [_cp_upper(len(x)) for x in nulls]
    ranks = np.arange(1, k + 1)[:, None]

    def share(base: np.ndarray, delta: float) -> float:
        real = base + delta
        his = np.stack([u[len(x) - np.searchsorted(x, real, side="left")] for x, u in zip(nulls, upper)])
        return float(((k * np.sort(his, axis=0) / ranks).min(axis=0) < alpha).mean())

    def effect(base: np.ndarray) -> float:
        lo, hi = 0.0, float(max(x[-1] for x in nulls) - base[0]) + 1e-9  # at hi every null has b = 0
        if share(base, hi) < power:
            return float("inf")
        if share(base, lo) >= power:
            return 0.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if share(base, mid) >= power else (mid, hi)
        return hi

    return max(effect(base) for base in nulls)


def _cp_upper(n: int, alpha: float = 0.05) -> np.ndarray:
    """Clopper-Pearson upper ends for b = 0..n of n (stats.clopper_pearson's, vectorised)."""
    from scipy import stats

    b = np.arange(n + 1)
    out = np.ones(n + 1)
    out[:-1] = stats.beta.ppf(1 - alpha / 2, b[:-1] + 1, n - b[:-1])
    return out


def min_null_paths_for_skill(alpha: float = 0.05, k_of_m: float = 1.0) -> int:
    """The fewest null paths at which a real result beyond every null path (b = 0) can be called Skill: the
    Clopper-Pearson upper end of 0/B, 1 - (alpha/2)^(1/B), below alpha * k_of_m (Simes with k of m deciding
    nulls at b = 0 and the others anywhere: below alpha k / m)."""
    level = alpha * k_of_m
    return int(math.floor(math.log(alpha / 2) / math.log(1 - level))) + 1


def nulls_needed_for_skill(n_null: int, m: int, alpha: float = 0.05) -> int:
    """The fewest of m deciding nulls that must have b = 0 (no null path reaching the real result) for the verdict
    to say Skill at B = n_null: the smallest k with m u0 / k < alpha, u0 the Clopper-Pearson upper end of 0/B;
    m + 1 when not even all m are enough."""
    u0 = 1 - (alpha / 2) ** (1 / n_null)
    return next((k for k in range(1, m + 1) if m * u0 / k < alpha), m + 1)


@dataclass(frozen=True)
class SkillDecision:
    """The skill state and why. state: Skill | No evidence of skill | Inconclusive | Not testable."""

    state: str
    reason: str
    combined: Combined | None = None
    unavailable: tuple[str, ...] = field(default=())  # nulls that could not be built


def decide_skill(tests: list[NullTest], no_timing: str | None, alpha: float = 0.05,
                 statistic: str = "excess_sharpe", max_paths: int = AUTO_PATHS_MAX) -> SkillDecision:
    """The four states. `no_timing` is `timing_decisions(...)`'s reason, or None. max_paths: the most null paths
    --auto-paths may draw here (less than AUTO_PATHS_MAX where --max-memory caps a call of the strategy)."""
    gone = tuple(t.name for t in tests if not t.available)
    if no_timing is not None:
        return SkillDecision("Not testable", no_timing, None, gone)
    if not tests:
        return SkillDecision("Not testable", f"fewer than {MIN_REAL_BARS} real bars after the cut: no skill test possible",
                             None, gone)
    c = combine(tests, alpha)
    if c is None:
        return SkillDecision("Not testable", "no null market could be built: "
                             + "; ".join(f"{t.name}: {t.reason}" for t in tests if not t.available), None, gone)
    names = ", ".join(c.nulls)
    if c.ci[1] < alpha:
        alone = [t for t in tests if t.decides and t.p.p > alpha]  # Simes rejects "every null holds", not each one
        but = ("; not beaten alone by " + ", ".join(f"the {t.name} null (p = {t.p.p:.3g})" for t in alone)
               if alone else "")
        return SkillDecision("Skill", f"the real result beats markets with nothing to exploit "
                             f"(Simes over {names}: p = {c.p:.3g}){but}", c, gone)
    if c.ci[0] > alpha:
        power = (f"an edge of {c.detectable_effect:.2f} {statistic} would have been detected {POWER:.0%} of the time "
                 "— a smaller one could be missed" if math.isfinite(c.detectable_effect) else
                 f"with {c.n_paths:,} null paths no edge could have been called Skill (use --n-null "
                 f"{min_null_paths_for_skill(alpha)} or more; 1000 for good power)")
        return SkillDecision("No evidence of skill", f"the nulls ({names}) do not reject at {alpha:g} (p = {c.p:.3g}); "
                             + power, c, gone)
    how = ("(--auto-paths)" if c.paths_to_decide <= max_paths else
           f"(more than --auto-paths draws, {AUTO_PATHS_MAX:,}: p sits that close to the threshold)"
           if max_paths >= AUTO_PATHS_MAX else
           f"(more than --auto-paths draws here, {max_paths:,}: --max-memory caps the null paths per call)")
    many = (f"about {c.paths_to_decide:,}" if c.paths_to_decide < SETTLE_LIMIT else
            f"more than {SETTLE_LIMIT:,}")
    return SkillDecision("Inconclusive", f"p = {c.p:.3g} and its Monte Carlo interval straddles {alpha:g}; {many} "
                         f"null paths per null would settle it {SETTLE_CHANCE:.0%} of the time if p is near its "
                         f"estimate {how}", c, gone)
