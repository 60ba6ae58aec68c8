"""The verdict in words: the lines the terminal panel and the HTML verdict box both print.

Written once so the two cannot drift apart; `--json` carries the same numbers as fields
of the Verdict. Intervals are named for what they are: a bracket after a p-value or a
percentile is its Monte Carlo error (finite paths), not a confidence statement about
the market or the generator — that is the fidelity and calibration section's job.
"""

from __future__ import annotations

import math

from parallelverse.verdict.skill import HELD_ALL_THE_WAY, min_null_paths_for_skill
from parallelverse.verdict.stats import MIN_PSR_RETURNS

from parallelverse.verdict.model import NullTestResult, Verdict

STATES_EXPLAINED = {
    "Skill": "the real result beats markets with nothing to exploit",
    "No evidence of skill": "the nulls did not reject; this is not evidence of luck, and smaller edges can be missed",
    "Inconclusive": "more null paths are needed to decide",
    "Not testable": "there was nothing for a skill test to test",
}


def _num(x, fmt: str) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


def scored_caption(r: Verdict) -> str:
    """"" when the results cover the whole horizon; else the bars they cover, said beside every path-luck table."""
    if r.scored_bars >= r.horizon_bars:
        return ""
    return (f"; real and synthetic results over the first {r.scored_bars} of {r.horizon_bars} bars, where the real "
            "future ends")


def headline(r: Verdict) -> tuple[str, str]:
    """(state, reason)."""
    v = r.verdict.skill
    return v.label, v.reason


def test_line(t: NullTestResult) -> str:
    if not t.available:
        return f"  {t.name:<13} unavailable: {t.unavailable_because}"
    lo, hi = t.mc_interval
    return f"  {t.name:<13} p = {t.p:.4f}  [{lo:.4f}, {hi:.4f}]  B = {t.n_paths:,}  ({t.role})"


def detail_lines(r: Verdict) -> list[str]:
    """Everything under the headline, in order: combined p, power, each null, path luck, disagreement."""
    v = r.verdict.skill
    out = []
    if v.p is not None:
        out.append(f"skill: p = {v.p:.4f}, Monte Carlo interval [{v.mc_interval[0]:.4f}, {v.mc_interval[1]:.4f}] "
                   f"({v.rule} over {', '.join(v.nulls)}; statistic {r.statistic}, best of {r.n_configs} configuration(s))")
    if v.detectable_effect is not None and math.isfinite(v.detectable_effect):
        out.append(f"power: an edge of {v.detectable_effect:.2f} {r.statistic} over {r.realized_bars} bars would be "
                   f"called Skill {v.power:.0%} of the time (alpha {r.skill.alpha:g}, these null paths)")
    elif v.detectable_effect is not None and v.detectable_effect == math.inf:
        out.append(f"power: none — with these null paths no edge could be called Skill; use --n-null "
                   f"{min_null_paths_for_skill(r.skill.alpha)} or more (1000 for good power)")
    own = next((row for row in r.cost_sensitivity.rows if row.multiple == 1.0), None) if r.cost_sensitivity else None
    if v.label == "Skill" and own is not None and r.statistic != "excess_total_return" \
            and math.isfinite(own.excess_total_return) and own.excess_total_return < 0:
        out.append(f"the test is of risk-adjusted timing ({r.statistic}): on the real history the strategy returned "
                   f"{own.total_return:.1%}, {-own.excess_total_return:.1%} less than buy-and-hold")
    if v.label == "Not testable" and r.skill.tests:
        out.append("null tests, for reference only (with nothing to test, none decides):")
    for t in r.skill.tests:
        out.append(test_line(t))
    for u, d in r.path_luck.items():
        unc = f"; parameter uncertainty: {d.uncertainty}" if d.uncertainty else ""
        mc = (f" (Monte Carlo [{_num(d.mc_interval[0], '{:.1f}')}, {_num(d.mc_interval[1], '{:.1f}')}])"
              if math.isfinite(d.mc_interval[0]) else "")
        bust = r.universes[u].bust_paths
        bust = (f"; the book went bust on {bust:,} of {r.universes[u].n_paths:,} paths (their Sharpe means nothing)"
                if bust else "")
        out.append(f"path luck in {u}: real Sharpe at percentile {_num(d.percentile, '{:.1f}')}{mc} — {d.label}{unc}"
                   f"{bust}")
    if r.verdict.generators_disagree:
        out.append(r.verdict.generators_disagree)
    if r.universes_without_results:
        out.append(f"not in this verdict: {', '.join(r.universes_without_results)} (complete in the store, but not in "
                   f"the results `stress` wrote for {r.strategy}; rerun stress to include it)")
    if r.sharpe_stats is not None:
        out.extend(sharpe_lines(r))
    return out


def sharpe_lines(r: Verdict) -> list[str]:
    """PSR, DSR (and PBO) of the shown configuration, or why they are not given."""
    s = r.sharpe_stats
    pbo = f"PBO {_num(s.pbo.pbo, '{:.2f}')}" if s.pbo else ""
    k, t = s.psr.n_nonzero, s.psr.n_periods
    if k == 0:  # flat all the way: no returns to describe
        out = ["PSR and DSR are not defined here: the strategy held no position, so its returns are all zero"]
    elif k < MIN_PSR_RETURNS:
        out = [f"PSR, DSR and the minimum track record are not given: {k} of {t} bars had a non-zero return, and "
               f"PSR's normal approximation needs {MIN_PSR_RETURNS} (with fewer, a strategy with no edge gets "
               f"PSR > 0.95 11-50% of the time)"]
    else:
        out = [f"PSR {_num(s.psr.psr, '{:.3f}')}, DSR {_num(s.dsr.dsr, '{:.3f}')} (N = {s.dsr.n_trials})"
               + (f", {pbo}" if pbo else "")]
        if r.verdict.skill.label == "Not testable" and HELD_ALL_THE_WAY in r.verdict.skill.reason:
            out.append("PSR and DSR here describe the market's own drift over the horizon, not a strategy decision")
        return out
    return out + ([pbo] if pbo else [])
