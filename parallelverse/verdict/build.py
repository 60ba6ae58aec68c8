"""Build the Verdict (verdict/model.py) of one strategy's stress results in a store.

Every number the terminal and HTML show (and `--json` prints) is in the returned
object, plus the arrays the HTML draws (`Verdict.plots`). The two questions are kept
apart:

- skill (verdict/skill.py): null tests (permutation, wild block bootstrap, GARCH-FHS
  with the realized drift decide; random entry is a robustness check), best of grid,
  p = (1+b)/(B+1) with Clopper-Pearson Monte Carlo intervals, combined by Simes' rule.
  States: Skill; No evidence of skill (with the effect it could have detected);
  Inconclusive (the combined p's Monte Carlo interval straddles 0.05, with the number
  of null paths that would settle it, drawn with auto_paths); Not testable (no timing
  decision on the real history, or no null could be built).
- path luck: per realistic universe that passes the fidelity checks, the real
  result's percentile (ties half) with its Monte Carlo interval, the estimation
  uncertainty the universe carries, and a flag when universes disagree.

Reads the store through `store/` and runs backtests through `backtest/`; never the
stress stage.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from parallelverse.backtest.engine import Costs, backtest, best_config, buy_and_hold, decide, metric_rows, run_grid
from parallelverse.backtest.strategy import Strategy, StrategyError, find_strategy
from parallelverse.bars import real_bars, with_warmup
from parallelverse.errors import InputError, StoreError
from parallelverse.inputs import fmt_bytes
from parallelverse.store import Results, Store, read_store
from parallelverse.verdict import pbo as pbo_mod
from parallelverse.verdict.fidelity import acf_by_lag, fidelity
from parallelverse.verdict.model import (DSR, PBO, PSR, SPA, CombinedP, Conclusion, CostRow, CostSensitivity,
                                         MetricPosition, NullTestResult, PathLuck, Plots, SharpeStats, Skill,
                                         SkillConclusion, UniversePlots, UniverseResult, Verdict)
from parallelverse.verdict.skill import DECIDING as DECIDING_NULLS
from parallelverse.verdict.skill import (AUTO_PATHS_MAX, POWER, NullTest, SkillDecision, decide_skill, paths_to_settle,
                                         run_null, skill_tests, timing_decisions)
from parallelverse.verdict.stats import dsr, min_track_record, percentile_with_ci, psr
from parallelverse.window import SeedSplit

ALPHA = 0.05
LUCK_BAND = (5.0, 95.0)
COST_MULTIPLES = (0.0, 1.0, 2.0, 3.0)
FAN_PATHS = 400  # paths per universe drawn in the fan charts
BASELINE_GENERATOR = "garch"  # CRPS is reported relative to the first universe of this family


def choose_strategy(st: Store, store: Path, name: str | None) -> str:
    have = st.result_names()
    if name:
        if name not in have:
            raise StoreError(f"no results for strategy {name!r} in {str(store)!r}; it has: {', '.join(have) or 'none'} "
                             "(run `parallelverse stress STRATEGY.py` first)")
        return name
    if len(have) == 1:
        return have[0]
    if not have:
        raise StoreError(f"no stress results in {str(store)!r}; run `parallelverse stress STRATEGY.py --store {store}` first")
    raise StoreError(f"{str(store)!r} has results for {', '.join(have)}; choose one with --strategy")


def _returns(equity: np.ndarray, init_cash: float) -> np.ndarray:
    prev = np.concatenate([[init_cash], equity[:-1]])
    return (equity - prev) / prev


DEFAULT_N_NULL = 1000  # null paths per null market


def build_verdict(store: str | Path, strategy: str | None = None, n_null: int = DEFAULT_N_NULL, seed: int = 0,
                  statistic: str = "excess_sharpe", auto_paths: bool = False, max_null_paths: int = AUTO_PATHS_MAX,
                  limits=None, results: Results | None = None) -> Verdict:
    """`results`: the strategy's results as already read from this store (else they are read)."""
    store = Path(store)
    st = read_store(store)
    name = choose_strategy(st, store, strategy)
    res = results if results is not None and results.meta.strategy == name else st.current_results(name)
    meta = res.meta
    # From any directory (the hash decides); with `limits` (a backtest.sandbox.Limits) the strategy runs in its own
    # process, stopped when `strat` is released at the end of this function.
    strat = find_strategy(meta.strategy_file, meta.strategy_sha256, store, limits)
    costs = Costs(**meta.costs)
    split = st.split()
    context_end, realized_end = split.context_end, split.realized_end
    configs = list(meta.configs)
    has_real = res.real is not None
    selected = best_config(res.real.metrics["sharpe"][:, 0] if has_real else None)  # as stress shows it

    if has_real:
        _check_reproduces(strat, split, costs, res, configs)
    _check_null_size(n_null, strat.warmup + realized_end - context_end, limits)
    fits = _null_paths_that_fit(strat.warmup + realized_end - context_end, limits)
    if fits is not None:  # --auto-paths never grows a null past what one call of the strategy may hold
        max_null_paths = max(n_null, min(max_null_paths, fits))
    skill, decision = skill_section(strat, split, costs, n_null, seed, statistic, auto_paths, max_null_paths)
    # equity at or below 0 (leverage) leaves no returns to describe: no PSR, no percentile to place
    real_bust = has_real and bool(res.real.equity[selected].min() <= 0)
    sharpe_stats, pbo_logits = _sharpe_stats(res, configs, selected, costs) if has_real and not real_bust else (None, None)
    universes, universe_plots = {}, {}
    for u in meta.universes:
        universes[u], universe_plots[u] = _universe(st, res, u, split, selected, costs, strat)
    universes = _relative_to_baseline(universes)
    path_luck = _path_luck(universes, {u: _uncertainty_label(st.universe(u).attrs.get("fitted", {}))
                                       for u in meta.universes}, real_bust)
    plots = Plots(
        universes=universe_plots,
        nulls={t.name: t.null for t in skill.tests if t.available},
        real_close=split.history.close[context_end:realized_end].tolist(),
        pbo_logits=pbo_logits,
        real_equity=res.real.equity[selected].tolist() if has_real else None,
        real_bh_equity=res.real.bh_equity[0].tolist() if has_real else None,
    )
    return Verdict(
        store=str(store), strategy=name, strategy_file=meta.strategy_file, n_configs=len(configs),
        selected_config=configs[selected], costs=meta.costs, statistic=statistic, symbol=split.history.symbol,
        seed_window=split.window.spec, realized_bars=realized_end - context_end,
        horizon_bars=split.horizon_bars, scored_bars=split.scored_bars, n_null_paths=n_null, seed=seed,
        skill=skill, sharpe_stats=sharpe_stats, universes=universes, path_luck=path_luck,
        cost_sensitivity=_costs(strat, split, costs, selected) if has_real else None,
        verdict=_conclusion(decision, path_luck, statistic), plots=plots,
        universes_without_results=tuple(u for u in st.choose_universes(None)[0] if u not in meta.universes),
    )


def _check_reproduces(strat: Strategy, split: SeedSplit, costs: Costs, res: Results, configs: list[dict]) -> None:
    """The strategy gives, on the real history, the results `stress` stored: every part of the report (nulls,
    costs, path luck) reruns or reads it, and they must describe one strategy. Same file, other results means
    it depends on something outside the file."""
    again = run_grid(strat, real_bars(split, strat.warmup), costs, "real history, rerun by report")
    for m in ("total_return", "sharpe", "n_trades"):
        a, b = again.metrics[m][:, 0], res.real.metrics[m][:, 0]
        same = np.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)
        if not same.all():
            i = int(np.flatnonzero(~same)[0])
            cfg = " ".join(f"{k}={v}" for k, v in configs[i].items())
            raise StrategyError(
                f"{strat.where()}: gives other results on the real history than when `stress` ran ({m} {a[i]:.6g}, "
                f"stored {b[i]:.6g}{', config ' + cfg if cfg else ''}); it depends on something outside the file (a "
                "file it reads, the clock, unseeded randomness, state kept between calls): make it deterministic, "
                "then rerun `parallelverse stress`" + ("" if res.store_identity is not None else
                " (or these results, written before parallelverse recorded the store they were made on, were "
                "copied in from another store)"))


def _null_paths_that_fit(bars: int, limits) -> int | None:
    """How many null paths of `bars` bars fit in a quarter of what one call of the strategy may allocate
    (--max-memory; the rest is for the strategy's own arrays); None without a cap."""
    cap = getattr(limits, "max_memory_bytes", None)
    return None if cap is None else int(cap / 4 // (bars * 6 * 8))  # OHLCV + time, float64 / int64


def _check_null_size(n_null: int, bars: int, limits) -> None:
    """A null market's paths go to the strategy in one call: refuse, before any work, a --n-null whose bars alone
    exceed a quarter of what that call may allocate (--max-memory), instead of the strategy process dying late."""
    fits = _null_paths_that_fit(bars, limits)
    if fits is not None and n_null > fits:
        cap = limits.max_memory_bytes
        raise InputError(f"--n-null {n_null:,} puts {fmt_bytes(n_null * bars * 6 * 8)} of bars into one call of the "
                         f"strategy, more than a quarter of --max-memory {cap / 2**30:g} GB ({fmt_bytes(cap / 4)}; the "
                         f"rest is for the strategy's own arrays); use --n-null {max(19, fits):,} or fewer, or raise "
                         "--max-memory")


def skill_section(strat: Strategy, split: SeedSplit, costs: Costs, n_null: int, seed: int, statistic: str,
                  auto_paths: bool, max_null_paths: int) -> tuple[Skill, SkillDecision]:
    """Every null test and the skill decision; auto_paths draws more paths for the null that leaves it undecided."""
    tests = skill_tests(strat, split, costs, n_null, seed, statistic)
    no_timing = timing_decisions(strat, split, costs, statistic) if tests else None
    decision = decide_skill(tests, no_timing, ALPHA, statistic, max_null_paths)
    drawn = 0
    for _ in range(3):  # each round draws every deciding null up to the paths that would settle it, or stops
        c = decision.combined
        if not (auto_paths and decision.state == "Inconclusive" and c is not None):
            break
        want = min(max_null_paths, c.paths_to_decide)
        grow = [i for i, t in enumerate(tests) if t.name in c.nulls and t.p.n < want]
        if not grow:
            break
        for i in grow:
            tests[i] = run_null(tests[i].name, strat, split, costs, want, seed, statistic, tests[i].real)
        drawn = want
        decision = decide_skill(tests, no_timing, ALPHA, statistic, max_null_paths)
    if drawn and decision.state == "Inconclusive":  # say that --auto-paths ran, and how far
        decision = dataclasses.replace(decision, reason=f"{decision.reason}; --auto-paths drew up to {drawn:,} per null "
                           f"(at most {max_null_paths:,})")
    c = decision.combined
    combined = None if c is None else CombinedP(c.rule, c.p, list(c.ci), list(c.nulls), c.attained_by,
                                                c.paths_to_decide, c.detectable_effect, POWER)
    testable = decision.state != "Not testable"
    return Skill(tuple(_test_result(t, testable) for t in tests), combined, ALPHA), decision


def _test_result(t: NullTest, testable: bool = True) -> NullTestResult:
    # with no timing decision to test nothing decides: every null is shown for reference only
    role = "reference" if not testable else "decides" if t.name in DECIDING_NULLS else "robustness"
    if not t.available:
        return NullTestResult(t.name, role, False, t.real, None, None, 0, None, None, False, 0, None,
                              t.reason, [])
    decided = t.p.decided(ALPHA)
    reference = role == "reference"  # nothing was tested: no decision, no power to state
    return NullTestResult(
        name=t.name, role=role, available=True, real=t.real, p=t.p.p, b=t.p.b, n_paths=t.p.n,
        mc_interval=list(t.p.ci), null_median=float(np.nanmedian(t.null)), decided=decided and not reference,
        paths_to_decide=0 if decided or reference else paths_to_settle([t], ALPHA),
        detectable_effect=None if reference else t.detectable_effect(ALPHA), null=np.asarray(t.null).tolist(),
    )


def _relative_to_baseline(universes: dict[str, UniverseResult]) -> dict[str, UniverseResult]:
    """Each universe's CRPS relative to the GARCH baseline's (the first universe the garch generator made)."""
    base = next((d.fidelity.calibration for d in universes.values() if d.generator == BASELINE_GENERATOR), None)
    if base is None:
        return universes
    out = {}
    for u, d in universes.items():
        cal = d.fidelity.calibration
        if cal is not None:
            b = base.crps_final_log_price
            cal = dataclasses.replace(cal, crps_vs_garch=cal.crps_final_log_price / b if b > 0 else float("nan"))
            d = dataclasses.replace(d, fidelity=dataclasses.replace(d.fidelity, calibration=cal))
        out[u] = d
    return out


def _sharpe_stats(res: Results, configs, selected, costs) -> tuple[SharpeStats, list | None]:
    """PSR, DSR, MinTRL of the shown configuration; PBO and SPA across the grid. Also the PBO logits (a plot)."""
    eq = res.real.equity
    rets = np.stack([_returns(e, costs.init_cash) for e in eq])
    r = rets[selected]
    trial_sr = np.array([x.mean() / x.std(ddof=1) if x.std(ddof=1) > 0 else np.nan for x in rets])
    pbo, spa, logits = None, None, None
    if len(configs) >= 2:
        if np.isfinite(trial_sr).sum() >= 2:  # PBO ranks configurations: flat ones (never invested) have no rank
            cscv = pbo_mod.cscv(rets.T)
            logits = cscv.pop("logits")
            pbo = PBO(**cscv)
        spa = _spa(rets, _returns(res.real.bh_equity[0], costs.init_cash))
    # every configuration tried is a trial: one never invested (no return, no risk) counts with Sharpe 0
    flat = np.array([x.std(ddof=1) == 0 and x.mean() == 0 if len(x) > 1 else False for x in rets])
    dsr_trials = np.where(flat, 0.0, trial_sr)
    return SharpeStats(PSR(**psr(r)), DSR(**dsr(r, dsr_trials)), min_track_record(r), pbo, spa), logits


def _spa(rets: np.ndarray, bh: np.ndarray) -> SPA:
    """Hansen's SPA and Romano-Wolf StepM (arch) of every configuration against buy-and-hold."""
    from arch.bootstrap import SPA as HansenSPA
    from arch.bootstrap import StepM, optimal_block_length

    import warnings

    losses, bench = -rets.T, -bh  # losses: lower is better
    diff = bench[:, None] - losses
    diff = diff[:, diff.std(axis=0) > 0]  # configurations identical to buy-and-hold carry no information here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        block = float(np.nanmean(optimal_block_length(diff)["stationary"])) if diff.shape[1] else float("nan")
    block = max(1.0, block) if np.isfinite(block) else float(len(bench)) ** (1 / 3)
    spa = HansenSPA(bench, losses, block_size=block, reps=1000, bootstrap="stationary", seed=0)
    spa.compute()
    stepm = StepM(bench, losses, size=ALPHA, block_size=block, reps=1000, bootstrap="stationary", seed=0)
    stepm.compute()
    sup = stepm.superior_models
    return SPA(block, {k: float(v) for k, v in spa.pvalues.items()}, [int(i) for i in (sup if sup is not None else [])])


def _universe(st: Store, res: Results, u, split, selected, costs, strat) -> tuple[UniverseResult, UniversePlots]:
    hist, context_end, realized_end = split.history, split.context_end, split.realized_end
    universe = st.universe(u)
    n = universe.n_paths
    k = min(n, 1000)
    closes = universe.close(0, k)
    realized = hist.close[context_end:realized_end] if realized_end > context_end else None
    fid = fidelity(hist.close[:context_end], closes, realized, costs.periods_per_year)
    metrics = {}
    for m in ("sharpe", "total_return", "max_drawdown", "excess_sharpe", "excess_total_return"):
        x = res.universes[u].metrics[m][selected]
        real = float(res.real.metrics[m][selected, 0]) if res.real is not None else float("nan")
        pct = percentile_with_ci(real, x)
        finite = x[np.isfinite(x)]
        q05, q50, q95 = (float(np.quantile(finite, q / 100)) if len(finite) else None for q in (5, 50, 95))
        metrics[m] = MetricPosition(real, pct.value, list(pct.ci), q05, q50, q95)
    fan_q = np.quantile(closes, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
    # equity fan of the selected configuration on the first FAN_PATHS paths
    m = min(n, FAN_PATHS)
    bars = with_warmup(split, strat.warmup, universe.read(0, m).head(split.scored_bars))
    _, values = backtest(decide(strat, bars, strat.configs[selected], costs.fill, f"universe {u}"), bars, strat.warmup, costs)
    plots = UniversePlots(
        price_fan=fan_q.tolist(), equity_fan=np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1).tolist(),
        hist={mm: res.universes[u].metrics[mm][selected].tolist() for mm in ("sharpe", "total_return", "max_drawdown", "excess_sharpe")},
        acf=_acf_curves(hist.close[:context_end], closes),
    )
    bust = int(np.sum(res.universes[u].metrics["max_drawdown"][selected] <= -1))  # as stress counts them
    return UniverseResult(n, metrics, fid, bust_paths=bust, generator=universe.generator), plots


def _acf_curves(context_close, closes) -> dict:
    """ACF of r and |r| at lags 1-20: the real context's and the synthetic median."""
    r_real = np.diff(np.log(context_close))[:, None]
    r_syn = np.diff(np.log(closes), axis=0)
    lags = range(1, 21)
    return {label: {"real": acf_by_lag(f(r_real), lags)[:, 0].tolist(),
                    "synthetic_median": np.median(acf_by_lag(f(r_syn), lags), axis=1).tolist()}
            for label, f in (("r", lambda x: x), ("abs_r", np.abs))}


def _uncertainty_label(fitted: dict) -> str:
    """What a universe does not take as known, from its recorded fit: "asymptotic; volatility regimes sd 0.15"."""
    label = str(fitted.get("uncertainty", ""))
    regime = fitted.get("vol_regime") or {}
    if label and regime.get("sd"):
        label += f"; volatility regimes sd {regime['sd']:g}"
    return label


def _path_luck(universes: dict[str, UniverseResult], uncertainty: dict[str, str],
               real_bust: bool = False) -> dict[str, PathLuck]:
    rows = {}
    for u, d in universes.items():
        s = d.metrics["sharpe"]
        lo, hi = s.mc_interval
        pct = s.percentile
        if not np.isfinite(pct):
            label = "no real result"
        elif real_bust:
            label = "not placed (the real book went bust: its Sharpe means nothing)"
        elif s.q05 == s.q95 == s.real:  # e.g. never invested: every path ties the real result, nothing to place
            label = "no spread (every path gives the real Sharpe)"
            lo = hi = float("nan")  # and no Monte Carlo error to show
        elif d.fidelity.flagged:  # its percentile is shown, but a universe that fails fidelity judges nothing
            label = "not judged (the universe fails fidelity)"
        elif lo > LUCK_BAND[1]:
            label = "unusually kind"
        elif hi < LUCK_BAND[0]:
            label = "unusually unkind"
        elif LUCK_BAND[0] < lo and hi < LUCK_BAND[1]:
            label = "typical"
        elif pct > 50:
            label = "kind (inconclusive)"
        else:
            label = "unkind (inconclusive)"
        rows[u] = PathLuck(pct, [lo, hi], label, d.fidelity.flagged, d.fidelity.flag_reasons, uncertainty.get(u, ""))
    return rows


def _disagreement(path_luck: dict[str, PathLuck]) -> str | None:
    """A line when the universes kept in the verdict place the real result on opposite sides or far apart."""
    kept = {u: d for u, d in path_luck.items()
            if not d.excluded and np.isfinite(d.percentile) and np.isfinite(d.mc_interval[0])
            and not d.label.startswith("not placed")}
    if len(kept) < 2:
        return None
    kind = [u for u, d in kept.items() if d.mc_interval[0] > 50]
    unkind = [u for u, d in kept.items() if d.mc_interval[1] < 50]
    hi, lo = max(kept, key=lambda u: kept[u].percentile), min(kept, key=lambda u: kept[u].percentile)
    if kind and unkind:  # a side of the median, not a label: each universe's own label says whether it is unusual
        return ("generators disagree on the side: the real result is above the median in "
                + ", ".join(f"{u} ({kept[u].percentile:.0f})" for u in kind) + " and below it in "
                + ", ".join(f"{u} ({kept[u].percentile:.0f})" for u in unkind))
    if kept[hi].mc_interval[0] - kept[lo].mc_interval[1] > 40:
        return (f"generators disagree: percentile {kept[hi].percentile:.0f} in {hi} vs {kept[lo].percentile:.0f} "
                f"in {lo}")
    return None


def _costs(strat, split, costs: Costs, selected: int) -> CostSensitivity:
    warmup = strat.warmup
    bars = real_bars(split, warmup)
    out_cfg = decide(strat, bars, strat.configs[selected], costs.fill, "real history")

    def at(mult: float) -> CostRow:
        c = Costs(costs.fees_bps * mult, costs.slippage_bps * mult, costs.fill, costs.init_cash, costs.periods_per_year)
        m, v = backtest(out_cfg, bars, warmup, c)
        bh, bhv = buy_and_hold(bars, warmup, c)
        row = metric_rows(m, v, bh, bhv, c)
        return CostRow(mult, c.fees_bps, c.slippage_bps,
                       *(float(row[k][0]) for k in ("sharpe", "total_return", "excess_total_return", "excess_sharpe")))

    rows = [at(x) for x in COST_MULTIPLES]
    breakeven = None  # total cost (fees + slippage, bps) at which the excess total return reaches 0
    base = costs.fees_bps + costs.slippage_bps
    f = lambda mult: at(mult).excess_total_return  # noqa: E731
    if base > 0 and f(0.0) > 0:
        lo, hi = 0.0, 1.0
        while f(hi) > 0 and hi < 1024:
            lo, hi = hi, hi * 2
        if f(hi) <= 0:
            for _ in range(40):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
            breakeven = base * (lo + hi) / 2
    return CostSensitivity(rows, breakeven)


def _conclusion(d: SkillDecision, path_luck: dict[str, PathLuck], statistic: str) -> Conclusion:
    c = d.combined
    if c is None:
        verdict = SkillConclusion(d.state, d.reason, unavailable_nulls=list(d.unavailable))
    else:
        verdict = SkillConclusion(d.state, d.reason, c.p, list(c.ci), c.rule, list(c.nulls), c.n_paths, c.paths_to_decide,
                                  c.detectable_effect, POWER, list(d.unavailable))
    return Conclusion(verdict, {u: x.label for u, x in path_luck.items() if not x.excluded},
                      [u for u, x in path_luck.items() if x.excluded], _disagreement(path_luck))
