"""The calibration page: self-contained HTML, every plot a PNG inlined as base64 (as report/html.py).

`write_calibrate_html(cal, doc, path)` takes the `Calibration` from `calibrate.aggregate`
and the run's summary dict; per horizon: the leaderboard, PIT histograms of every
universe (final price, realized volatility, maximum drawdown), final-close coverage
against nominal with its exact interval, and CRPS skill against the random walk over
time (windows on the x axis).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from parallelverse.calibrate.aggregate import notes as calibration_notes
from parallelverse.files import PAGE_HEAD, write_text_atomic
from parallelverse.report.html import CHECK, CSS, _fig, _img, _png

COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")


def _n(x, fmt="{:.3f}") -> str:
    return "-" if x is None or not np.isfinite(x) else fmt.format(x)


def _pit_plot(cal, h: int) -> str:
    plt = _fig()
    rows = cal.leaderboard(h)
    fig, axes = plt.subplots(len(rows), 3, figsize=(10, 2.1 * len(rows)), squeeze=False)
    for i, s in enumerate(rows):
        for j, (key, label) in enumerate((("pit_final", "final log price"), ("pit_vol", "realized volatility"),
                                          ("pit_mdd", "max drawdown"))):
            u = getattr(s, key)
            counts = np.asarray(u.hist, float)
            ax = axes[i, j]
            ax.bar(np.arange(len(counts)) / len(counts), counts, width=1 / len(counts), align="edge",
                   color=COLORS[i % len(COLORS)], alpha=0.8, edgecolor="white")
            ax.axhline(counts.sum() / len(counts), color="#222", lw=1, ls="--")
            ax.set_xlim(0, 1)
            ax.set_title(f"{s.universe}: PIT of {label}\nKS p {_n(u.ks_p)}, Berkowitz p {_n(u.berkowitz_p)} "
                         f"(n={u.n} independent)", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _img(_png(fig), f"PIT histograms at {h} bars (dashed: uniform); tests on non-overlapping windows")


def _coverage_plot(cal, h: int) -> str:
    plt = _fig()
    rows = cal.leaderboard(h)
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for i, s in enumerate(rows):
        for k, tag in enumerate(("50", "90")):
            c = s.coverage[tag]
            x = k + (i - (len(rows) - 1) / 2) * 0.12
            if c.ci is not None and c.n:
                rate = c.k / c.n
                ax.errorbar(x, rate, yerr=[[rate - c.ci[0]], [c.ci[1] - rate]], fmt="o", color=COLORS[i % len(COLORS)],
                            label=s.universe if k == 0 else None, capsize=3)
            if c.path_mean is not None:
                ax.plot(x, c.path_mean, marker="x", color=COLORS[i % len(COLORS)])
    for k, nominal in enumerate((0.5, 0.9)):
        ax.hlines(nominal, k - 0.4, k + 0.4, color="#222", ls="--", lw=1)
    ax.set_xticks([0, 1], ["50% band", "90% band"])
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("coverage")
    ax.legend(fontsize=7, loc="lower right")
    return _img(_png(fig), f"Coverage at {h} bars: final close inside the band (dots: independent windows, exact 95% "
                           "interval), share of the realized path inside (x), nominal dashed")


def _skill_plot(cal, h: int) -> str:
    plt = _fig()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for i, s in enumerate(cal.leaderboard(h)):
        pts = [(p["window"], p["skill_vs_random_walk"]) for p in s.over_time if p["skill_vs_random_walk"] is not None]
        if pts:
            ax.plot([p[0] for p in pts], [max(p[1], -2.0) for p in pts], marker="o", ms=3,
                    color=COLORS[i % len(COLORS)], label=s.universe)
    ax.axhline(0, color="#222", lw=0.8)
    ax.set_ylabel("CRPS skill vs random walk")
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    ax.legend(fontsize=7)
    return _img(_png(fig), f"CRPS skill of the final log price against the zero-drift EWMA random walk at {h} bars, per "
                           "seed window (mean over symbols; clipped at -2)")


def _leaderboard(cal, h: int) -> str:
    head = ["universe", "cells", "independent", "PIT KS p", "Berkowitz p", "uniformity", "cov 50%", "cov 90%",
            "90% CI (indep.)", "path cov 90%", "skill vs RW", f"skill vs RW, matched ({cal.matched_cells(h)} cells)",
            f"skill vs {cal.reference}", "DM p", "drift bias", "vol ratio",
            "in-sample scored" if cal.include_in_sample else "in-sample left out"]
    rows = []
    for s in cal.leaderboard(h):
        c90, ref = s.coverage["90"], s.vs_reference
        rows.append([s.universe, s.n_cells, s.n_independent, _n(s.pit_final.ks_p), _n(s.pit_final.berkowitz_p),
                     {True: "not rejected", False: "rejected", None: "too few cells"}[s.uniform], _n(s.coverage["50"].rate_all, "{:.2f}"),
                     _n(c90.rate_all, "{:.2f}"), "-" if c90.ci is None else f"{c90.ci[0]:.2f} .. {c90.ci[1]:.2f}",
                     _n(c90.path_mean, "{:.2f}"), _n(s.vs_random_walk.skill, "{:+.3f}"), _n(s.skill_matched, "{:+.3f}"),
                     "ref" if ref is None else _n(ref.skill, "{:+.3f}"), "-" if ref is None else _n(ref.dm_p),
                     _n(s.drift_bias_mean, "{:+.2f}"), _n(s.vol_ratio_median, "{:.2f}"), s.n_in_sample])
    th = "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _regimes(cal, h: int) -> str:
    rows = []
    for s in cal.leaderboard(h):
        for g in s.regimes:
            lo, hi = g["context_vol"]
            rows.append([s.universe, g["regime"], f"{_n(lo, '{:.0%}')} .. {_n(hi, '{:.0%}')}", g["n_cells"],
                         _n(g["pit_final_mean"], "{:.2f}"), _n(g["cov90_rate"], "{:.2f}"),
                         _n(g["skill_vs_random_walk"], "{:+.3f}"), _n(g["skill_vs_reference"], "{:+.3f}")])
    head = ["universe", "context vol", "range", "cells", "mean PIT", "cov 90%", "skill vs RW", f"skill vs {cal.reference}"]
    th = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def render_calibrate_html(cal, doc: dict) -> str:
    req = doc["request"]
    parts = [f"<h1>Generator calibration: {html.escape(str(req['windows']))} every {html.escape(str(req['every']))}</h1>",
             f"<p>{doc['cells_planned']} cells planned ({html.escape(', '.join(cal.universes))}): "
             f"{doc['cells_computed'] + doc['cells_reused']} run, {doc['cells_skipped_in_sample']} not run (every horizon "
             f"inside the model's training data); {req['n_paths']} paths per "
             f"cell, seed {req['seed']}, context {req['context_bars']} bars. {html.escape(cal.independence)}. "
             f"Cells whose horizon overlaps a model's training data are "
             f"{'included' if cal.include_in_sample else 'left out'}.</p>"]
    notes = calibration_notes(cal, doc.get("cells_skipped") or ())
    if notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in notes) + "</ul>")
    spans = {u: s for u, s in cal.spans.items() if s}
    if spans:
        parts.append("<p>Training spans: " + "; ".join(
            f"{html.escape(u)}: {s['start'] or 'from an unknown start'} to before {s['end']}" for u, s in spans.items()) + "</p>")
    for h in cal.horizons:
        parts += [f"<h2>{h} bars</h2>", _leaderboard(cal, h)]
        if cal.leaderboard(h):
            parts += [_pit_plot(cal, h), _coverage_plot(cal, h), _skill_plot(cal, h),
                      "<h3>By regime (terciles of the context's volatility)</h3>", _regimes(cal, h)]
    body = "\n".join(parts)
    return (f"{PAGE_HEAD}<title>parallelverse calibration</title>"
            f"<style>{CSS}</style></head><body>{body}{CHECK}</body></html>")


def write_calibrate_html(cal, doc: dict, path: str | Path) -> Path:
    return write_text_atomic(path, render_calibrate_html(cal, doc))  # never half written under the final name
