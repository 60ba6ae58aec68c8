"""A self-contained HTML report: every plot is a PNG embedded as base64, no server, no CDN.

`write_html(verdict, path)` takes the Verdict from `verdict.build.build_verdict`.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import numpy as np

from parallelverse.files import PAGE_HEAD, write_text_atomic
from parallelverse.verdict.model import Calibration, Fidelity, UniversePlots, UniverseResult, Verdict
from parallelverse.verdict.words import detail_lines, headline, scored_caption

BAND = "#4c72b0"
REAL = "#d62728"


def _fig():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _fig().close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _img(b64: str, alt: str) -> str:
    return f'<figure><img class="plot" alt="{html.escape(alt)}" src="data:image/png;base64,{b64}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def _fan(ax, q: list, x=None, label="synthetic"):
    q = np.asarray(q)
    x = np.arange(q.shape[1]) if x is None else x
    ax.fill_between(x, q[0], q[4], color=BAND, alpha=0.18, label=f"{label} 5-95%")
    ax.fill_between(x, q[1], q[3], color=BAND, alpha=0.35, label=f"{label} 25-75%")
    ax.plot(x, q[2], color=BAND, lw=1.2, label=f"{label} median")


def _universe_plots(name: str, p: UniversePlots, real: dict, real_close: np.ndarray, real_equity, real_bh) -> list[str]:
    """real: metric -> the real value drawn on its histogram."""
    plt = _fig()
    out = []
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    _fan(ax, p.price_fan)
    ax.plot(np.arange(len(real_close)), real_close, color=REAL, lw=1.6, label="real")
    ax.set(title=f"{name}: close price paths", xlabel="bars after the cut", ylabel="price")
    ax.legend(fontsize=7, loc="upper left")
    out.append(_img(_png(fig), f"{name}: fan of synthetic close prices with the real path"))
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    _fan(ax, p.equity_fan, label="strategy")
    if real_equity is not None:
        ax.plot(real_equity, color=REAL, lw=1.6, label="real strategy")
        ax.plot(real_bh, color="#444", lw=1.0, ls="--", label="real buy-and-hold")
    ax.set(title=f"{name}: strategy equity", xlabel="bars after the cut", ylabel="equity")
    ax.legend(fontsize=7, loc="upper left")
    out.append(_img(_png(fig), f"{name}: fan of strategy equity with the real equity curve"))
    fig, axes = plt.subplots(1, 4, figsize=(12, 2.8))
    for ax, (m, values) in zip(axes, p.hist.items()):
        v = np.asarray(values, float)
        v = v[np.isfinite(v)]
        ax.hist(v, bins=40, color=BAND, alpha=0.8)
        if real.get(m) is not None and math.isfinite(real[m]):
            ax.axvline(real[m], color=REAL, lw=2)
        ax.set_title(m, fontsize=9)
    fig.suptitle(f"{name}: per-path metrics, real value in red", fontsize=10, y=1.06)
    out.append(_img(_png(fig), f"{name}: histograms of the main metrics with the real value"))
    fig, axes = plt.subplots(1, 2, figsize=(9, 2.8))
    for ax, key in zip(axes, ("r", "abs_r")):
        for values, shift, color, label in ((p.acf[key]["real"], -0.2, REAL, "real context"),
                                            (p.acf[key]["synthetic_median"], 0.2, BAND, "synthetic median")):
            # lags up to 20, fewer on paths shorter than 21 bars
            ax.bar(np.arange(1, len(values) + 1) + shift, values, width=0.4, color=color, label=label)
        ax.axhline(0, color="#444", lw=0.6)
        ax.set_title(f"ACF of {'r' if key == 'r' else '|r|'}", fontsize=9)
        ax.legend(fontsize=7)
    out.append(_img(_png(fig), f"{name}: autocorrelation of returns and absolute returns"))
    return out


def _null_plots(r: Verdict) -> str:
    plt = _fig()
    tests = [t for t in r.skill.tests if t.available]
    fig, axes = plt.subplots(1, max(1, len(tests)), figsize=(3.2 * max(1, len(tests)), 2.8), squeeze=False)
    for ax, t in zip(axes[0], tests):
        v = np.asarray(r.plots.nulls[t.name], float)
        v = v[np.isfinite(v)]
        ax.hist(v, bins=40, color="#888", alpha=0.85)
        ax.axvline(t.real, color=REAL, lw=2)
        ax.set_title(f"{t.name}: p = {t.p:.3f}", fontsize=9)
    fig.suptitle(f"null distributions of {r.statistic} (best of grid), real in red", fontsize=10, y=1.06)
    return _img(_png(fig), "null-test histograms with the real statistic")


def _pbo_plot(logits) -> str:
    plt = _fig()
    fig, ax = plt.subplots(figsize=(5, 2.8))
    ax.hist(logits, bins=40, color=BAND)
    ax.axvline(0, color=REAL)
    ax.set(title="CSCV: logit of the in-sample winner's out-of-sample rank", xlabel="logit")
    return _img(_png(fig), "PBO logit histogram")


def _cost_plot(rows: list) -> str:
    plt = _fig()
    x = [row.fees_bps + row.slippage_bps for row in rows]
    fig, ax = plt.subplots(figsize=(5, 2.8))
    ax.plot(x, [row.excess_total_return for row in rows], marker="o", color=BAND, label="excess total return")
    ax.plot(x, [row.total_return for row in rows], marker="s", color="#444", label="total return")
    ax.axhline(0, color=REAL, lw=0.8)
    ax.set(title="cost sensitivity (0x .. 3x)", xlabel="fees + slippage, bps")
    ax.legend(fontsize=7)
    return _img(_png(fig), "cost sensitivity")


def _table(rows: list[list], head: list[str]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _n(x, fmt="{:.3f}"):
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


CSS = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
.verdict{padding:1rem 1.2rem;border-radius:8px;border:2px solid}.Skill{border-color:#2ca02c;background:#f0fff0}
.No-evidence-of-skill{border-color:#d62728;background:#fff4f4}.Inconclusive{border-color:#e0a000;background:#fffbea}
.Not-testable{border-color:#1f77b4;background:#f2f7fc}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}td,th{border:1px solid #ddd;padding:3px 7px;text-align:right}
td:first-child,th:first-child{text-align:left}figure{display:inline-block;margin:.4rem}img.plot{max-width:100%}
figcaption{font-size:.75rem;color:#666}"""

CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = document.querySelectorAll('img.plot');
  var ok = Array.prototype.filter.call(imgs, function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-plots-rendered', ok + '/' + imgs.length);
});
</script>"""


def render_html(r: Verdict) -> str:
    plots = r.plots
    parts = [f"<h1>parallelverse: {html.escape(r.strategy)} on {html.escape(r.symbol)} after {html.escape(r.seed_window)}</h1>"]
    label, reason = headline(r)
    parts.append(f'<div class="verdict {label.replace(" ", "-")}"><b style="font-size:1.3rem">{html.escape(label)}</b>'
                 f' — {html.escape(reason)}<br>')
    parts.extend(f"{html.escape(line)}<br>" for line in detail_lines(r))
    parts.append("</div>")
    parts.append("<h2>Skill: null tests</h2>")
    if not r.skill.tests:  # Not testable before any null: the verdict above says why
        n = r.realized_bars
        parts.append(f"<p>No null test was run ({n} real bar{'' if n == 1 else 's'} after the cut).</p>")
    else:
        parts.append("<p>Deciding nulls are combined by Simes' rule; random entry is a robustness check. "
                     "Intervals are the Monte Carlo error of p (finite null paths).</p>")
    parts.append("" if not r.skill.tests else _table([[t.name, t.role, _n(t.real), _n(t.null_median), _n(t.p, "{:.4f}"),
                          f"{t.mc_interval[0]:.4f} .. {t.mc_interval[1]:.4f}" if t.available else "-",
                          f"{t.n_paths:,}", ("-" if t.role == "reference" else "yes" if t.decided else f"no (alone: ~{t.paths_to_decide:,})") if t.available
                          else f"unavailable: {t.unavailable_because}", _n(t.detectable_effect, "{:.2f}")]
                         for t in r.skill.tests],
                        ["null", "role", "real", "null median", "p", "MC 95%", "paths", "decided", "detectable (80%)"]))
    if any(t.available for t in r.skill.tests):
        parts.append(_null_plots(r))
    s = r.sharpe_stats
    if s:
        parts.append("<h2>Sharpe statistics</h2>")
        rows = [["PSR", _n(s.psr.psr)], ["DSR", _n(s.dsr.dsr)], ["min track record (bars)", _n(s.min_track_record_bars, "{:.0f}")]]
        if s.pbo:
            rows.append(["PBO", _n(s.pbo.pbo)])
        if s.spa:
            rows.append(["SPA p (consistent)", _n(s.spa.pvalues["consistent"])])
        parts.append(_table(rows, ["statistic", "value"]))
        if plots.pbo_logits:
            parts.append(_pbo_plot(plots.pbo_logits))
    c = r.cost_sensitivity
    if c:
        parts.append("<h2>Cost sensitivity</h2>")
        parts.append(_table([[f"{x.multiple:g}x", f"{x.fees_bps + x.slippage_bps:g}", _n(x.sharpe, "{:.2f}"),
                              _n(x.total_return, "{:.1%}"), _n(x.excess_total_return, "{:.1%}")] for x in c.rows],
                            ["costs", "bps", "Sharpe", "total return", "excess total return"]))
        parts.append(f"<p>breakeven total cost: {_n(c.breakeven_total_cost_bps, '{:.1f} bps')}</p>")
        parts.append(_cost_plot(c.rows))
    for u, d in r.universes.items():
        parts += _universe_section(u, d, r)
    body = "\n".join(parts)
    return (f"{PAGE_HEAD}<title>parallelverse report: {html.escape(r.strategy)}</title>"
            f"<style>{CSS}</style></head><body>{body}{CHECK}</body></html>")


def _universe_section(u: str, d: UniverseResult, r: Verdict) -> list[str]:
    f = d.fidelity
    parts = [f"<h2>Universe {html.escape(u)} ({d.n_paths:,} paths)" + (" — flagged" if f.flagged else "") + "</h2>"]
    if f.flagged:
        parts.append(f"<p><b>Kept out of the verdict:</b> {html.escape('; '.join(f.flag_reasons))}</p>")
    p = r.plots.universes[u]
    real = {m: d.metrics[m].real for m in p.hist if m in d.metrics}
    parts += _universe_plots(u, p, real, np.asarray(r.plots.real_close), r.plots.real_equity, r.plots.real_bh_equity)
    if scored_caption(r):
        parts.append(f"<p>{html.escape(scored_caption(r)[2:].capitalize())}.</p>")
    parts.append(_table([[m, _n(x.real), _n(x.q50), f"{_n(x.q05)} .. {_n(x.q95)}", _n(x.percentile, "{:.1f}")]
                         for m, x in d.metrics.items()], ["metric", "real", "median", "5% .. 95%", "percentile"]))
    parts.append(_table([[k, _n(x.real), _n(x.q50), f"{_n(x.q05)} .. {_n(x.q95)}", "yes" if x.inside else "NO"]
                         for k, x in f.stylized_facts.items()], ["stylized fact", "real context", "synthetic median", "5% .. 95%", "inside"]))
    parts.append(_table(_fidelity_rows(f), ["fidelity", "value"]))
    return parts


def _fidelity_rows(f: Fidelity) -> list[list[str]]:
    dr = f.drift
    rows = [["drift, annualised: context / synthetic median / realized",
             f"{_n(dr.context, '{:.1%}')} / {_n(dr.synthetic_median, '{:.1%}')} / {_n(dr.realized, '{:.1%}')}"]]
    rows += [[f"W1 / KS {k}", f"{_n(x.wasserstein1, '{:.4f}')} / {_n(x.ks)}"] for k, x in f.distances.items()]
    cal: Calibration | None = f.calibration
    if cal:
        rows += [["coverage 50% / 90%", f"{_n(cal.coverage_50, '{:.0%}')} / {_n(cal.coverage_90, '{:.0%}')}"],
                 ["PIT of the final close", _n(cal.pit_final, "{:.2f}")],
                 ["CRPS final log price (vs GARCH)", f"{_n(cal.crps_final_log_price, '{:.4f}')} ({_n(cal.crps_vs_garch, '{:.2f}')})"]]
        rows += [[f"vol forecast {k}: QLIKE / MSE log", f"{_n(x.qlike)} / {_n(x.mse_log)}"] for k, x in cal.vol_forecast.items()]
    else:
        rows.append(["calibration on the realized future", "not measured (it needs at least 2 real bars after the cut)"])
    return rows


def write_html(r: Verdict, path: str | Path) -> Path:
    return write_text_atomic(path, render_html(r))  # a half-written report never sits under the final name
