"""Rich rendering of a Verdict (from verdict.build.build_verdict): verdict panel and tables."""

from __future__ import annotations

import math

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from parallelverse.cli.console import folded
from parallelverse.verdict.model import Verdict
from parallelverse.verdict.words import detail_lines, headline, scored_caption

STYLE = {"Skill": "bold green", "No evidence of skill": "bold red", "Inconclusive": "bold yellow",
         "Not testable": "bold blue"}


def _f(x, fmt="{:.3f}") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return fmt.format(x)


def _pct(x) -> str:
    return _f(x, "{:.1%}")


def verdict_panel(r: Verdict) -> Panel:
    label, reason = headline(r)
    lines = [f"[{STYLE[label]}]{label}[/]  — {escape(reason)}", *(escape(x) for x in detail_lines(r))]
    cfg = " ".join(f"{k}={v}" for k, v in r.selected_config.items())
    title = f"{r.strategy} on {r.symbol} after {r.seed_window}" + (f" ({cfg})" if cfg else "")
    return Panel("\n".join(lines), title=title, border_style=STYLE[label].split()[-1])


def _nulls(r: Verdict) -> Table:
    t = Table(title=f"Skill: {r.statistic} of the real history vs null markets (best of grid); "
                    "intervals are Monte Carlo error")
    for c in ("null", "role", "real", "p", "MC 95%", "paths", "decided", "detectable (80%)"):
        t.add_column(c, justify="left" if c in ("null", "role") else "right")
    for x in r.skill.tests:
        if not x.available:
            t.add_row(x.name, x.role, _f(x.real), "-", "-", "-", escape(f"unavailable: {x.unavailable_because}"), "-")
            continue
        t.add_row(x.name, x.role, _f(x.real), f"{x.p:.4f}",
                  f"{x.mc_interval[0]:.4f} .. {x.mc_interval[1]:.4f}", f"{x.n_paths:,}",
                  "-" if x.role == "reference" else "yes" if x.decided else f"no (alone: ~{x.paths_to_decide:,})",
                  _f(x.detectable_effect, "{:.2f}"))
    return t


def _luck(r: Verdict) -> Table:
    t = Table(title="Path luck: the real result among realistic universes (percentile, ties half; "
                    "MC 95% = Monte Carlo error of the percentile)" + scored_caption(r))
    for c in ("universe", "metric", "real", "median", "5% .. 95%", "percentile", "MC 95%"):
        t.add_column(c, justify="left" if c in ("universe", "metric") else "right")
    for u, d in r.universes.items():
        for m, x in d.metrics.items():
            pctfmt = _pct if "return" in m or "drawdown" in m else _f
            t.add_row(u, m, pctfmt(x.real), pctfmt(x.q50), f"{pctfmt(x.q05)} .. {pctfmt(x.q95)}",
                      _f(x.percentile, "{:.1f}"), f"{_f(x.mc_interval[0], '{:.1f}')} .. {_f(x.mc_interval[1], '{:.1f}')}")
    return t


def _sharpe(r: Verdict) -> Table | None:
    s = r.sharpe_stats
    if not s:
        return None
    t = Table(title="Sharpe statistics of the real result (per-period Sharpe, raw kurtosis)")
    t.add_column("statistic")
    t.add_column("value", justify="right")
    t.add_column("inputs")
    p, d = s.psr, s.dsr
    t.add_row("PSR (SR* = 0)", _f(p.psr), f"SR {_f(p.sharpe_per_period, '{:.4f}')}, skew {_f(p.skew)}, kurtosis {_f(p.kurtosis)}, "
              f"T {p.n_periods}, {p.n_nonzero} non-zero")
    t.add_row("DSR", _f(d.dsr), f"N {d.n_trials}, V[SR] {d.var_trial_sharpe:.2e}, SR0 {d.sr0:.4f}")
    t.add_row("min track record", _f(s.min_track_record_bars, "{:.0f} bars"), "for PSR >= 0.95")
    if s.pbo:
        b = s.pbo
        t.add_row("PBO (CSCV)", _f(b.pbo), f"{b.n_blocks} blocks, {b.n_splits:,} splits, slope {_f(b.degradation_slope, '{:.2f}')}")
    if s.spa:
        a = s.spa
        t.add_row("SPA p (consistent)", _f(a.pvalues["consistent"]),
                  f"lower {a.pvalues['lower']:.3f}, upper {a.pvalues['upper']:.3f}, block {a.block_size:.1f}; "
                  f"StepM superior: {a.stepm_superior or 'none'}")
    return t


def _fidelity(r: Verdict) -> list[Table]:
    facts = Table(title="Generator fidelity: real context vs synthetic paths")
    for c in ("universe", "facts outside 5-95%", "KS 1/5/20-bar", "W1 1-bar", "drift: context / synthetic / realized", "flag"):
        facts.add_column(c, justify="left" if c in ("universe", "flag") else "right")
    calib = Table(title="Calibration on the realized future (volatility QLIKE: lower is better)")
    for c in ("universe", "cover 50% / 90%", "PIT", "CRPS vs GARCH", "QLIKE gen / EWMA / HAR"):
        calib.add_column(c, justify="left" if c == "universe" else "right")
    for u, d in r.universes.items():
        f = d.fidelity
        dist = f.distances
        ks = "/".join(_f(dist[k].ks, "{:.2f}") if k in dist else "-" for k in ("1bar", "5bar", "20bar"))
        dr = f.drift
        facts.add_row(u, f"{f.facts_outside_band}/8", ks, _f(dist["1bar"].wasserstein1, "{:.4f}"),
                      f"{_pct(dr.context)} / {_pct(dr.synthetic_median)} / {_pct(dr.realized)}",
                      "[red]flagged[/]: " + "; ".join(f.flag_reasons) if f.flagged else "ok")
        c = f.calibration
        if c:
            vf = c.vol_forecast
            calib.add_row(u, f"{_pct(c.coverage_50)} / {_pct(c.coverage_90)}", _f(c.pit_final, "{:.2f}"),
                          _f(c.crps_vs_garch, "{:.2f}"),
                          " / ".join(_f(vf[k].qlike, "{:.2f}") for k in ("generator", "ewma", "har_rv")))
    if calib.row_count == 0:  # a table of headers says nothing; say why instead
        return [facts, Text(f"Calibration on the realized future: not measured ({r.realized_bars} real bar"
                            f"{'' if r.realized_bars == 1 else 's'} after the cut; it needs at least 2)")]
    return [facts, calib]


def _costs(r: Verdict) -> Table | None:
    c = r.cost_sensitivity
    if not c:
        return None
    t = Table(title="Cost sensitivity on the real history" + (
        f" — breakeven at {c.breakeven_total_cost_bps:.1f} bps total" if c.breakeven_total_cost_bps else ""))
    for col in ("costs", "fees+slippage bps", "Sharpe", "total return", "excess total return"):
        t.add_column(col, justify="right")
    for row in c.rows:
        t.add_row(f"{row.multiple:g}x", f"{row.fees_bps + row.slippage_bps:g}", _f(row.sharpe, "{:.2f}"),
                  _pct(row.total_return), _pct(row.excess_total_return))
    return t


def print_report(r: Verdict, console: Console) -> None:
    console.print(verdict_panel(r))
    nulls = _nulls(r) if r.skill.tests else None  # Not testable: the panel above says why
    parts = [nulls, _luck(r), _sharpe(r), *_fidelity(r), _costs(r)]
    console.print(Group(*[folded(p) for p in parts if p is not None]))
