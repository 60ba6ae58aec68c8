"""`parallelverse calibrate`: score every generator on many held-out futures, not on one."""

from __future__ import annotations

import math
from pathlib import Path

import click
from click.core import ParameterSource

from parallelverse.cli.console import ProgressReporter, err, folded, handle_errors, out, print_json, warn
from parallelverse.cli.options import CLUSTER_HELP, OutputPath, merge_sets, scenario_params_for

# CLI option name -> CalibrateRequest field (one to one)
_FIELDS = {
    "data_path": "data", "symbols": "symbols", "windows": "windows", "every": "every", "horizon": "horizons",
    "generators": "generators", "model": "model", "n_paths": "n_paths", "seed": "seed", "context": "context_bars",
    "out_dir": "out", "workers": "workers", "include_in_sample": "include_in_sample", "accept_splits": "accept_splits",
}


def _horizons(text: str) -> tuple[int, ...]:
    from parallelverse.errors import CalibrateError

    try:
        hs = tuple(int(x) for x in str(text).split(","))  # an empty item is a typo, not "skip"
    except ValueError:
        raise CalibrateError(f"--horizon {text!r} should be bar counts separated by commas, e.g. 21,63,252") from None
    if not hs:
        raise CalibrateError(f"--horizon {text!r} should be bar counts separated by commas, e.g. 21,63,252")
    return hs


def _within(path: Path, folder: Path) -> bool:
    p, f = path.resolve(), folder.resolve()
    return p == f or f in p.parents


@click.command()
@click.option("--data", "data_path", type=click.Path(dir_okay=False), help="CSV or Parquet OHLCV (default: bundled stocks_daily).")
@click.option("--symbols", help="Comma-separated symbols, or 'all' (the default).")
@click.option("--windows", help="Seed-window months START:END, END included (default 2016-01:2022-07).")
@click.option("--every", help="Spacing of the windows: 1M, 3M (default), 6M, 1Y ...")
@click.option("--horizon", help="Horizons in bars, comma-separated (default 21,63,252); the longest is generated once.")
@click.option("--generators", help="Comma-separated generators (default garch,bootstrap; GARCH is always added as the reference).")
@click.option("--set", "sets", multiple=True, metavar="GEN.PARAM=VALUE", help="Generator parameter, as in generate (repeatable).")
@click.option("--model", help="Model generators (kronos, chronos): Hub id or local directory.")
@click.option("--n-paths", "n_paths", type=int, help="Paths per cell (default 500).")
@click.option("--seed", type=int, help="Seed, with generate's semantics: a cell equals `generate` with this seed (default 0).")
@click.option("--context", type=int, help="Bars of real context up to each cut (default 400).")
@click.option("--out", "out_dir", type=click.Path(), help="Directory for the cell results (default calibration/).")
@click.option("--workers", type=int, help="Cells in parallel (default min(2, CPUs)); results do not depend on it.")
@click.option("--include-in-sample", "include_in_sample", is_flag=True, default=None,
              help="Also score cells whose horizon overlaps a model's training data.")
@click.option("--accept-splits", "accept_splits", is_flag=True, default=None,
              help="As generate: take overnight jumps that look like unadjusted splits as real moves.")
@click.option("--scenario", type=click.Path(dir_okay=False), help="TOML scenario with a [calibrate] table; options here override it.")
@click.option("--html", "html_path", type=OutputPath("--html", kind="file"),
              help="Also write a self-contained HTML page (checked before the work starts).")
@click.option("--cluster", help=CLUSTER_HELP + " Replaces --workers.")
@click.option("--json", "as_json", is_flag=True, help="Print every number as JSON on stdout.")
@click.pass_context
@handle_errors
def calibrate(ctx, scenario, sets, html_path, cluster, as_json, **options):
    """Score every generator across many seed windows: PIT, coverage, CRPS skill, leaderboard."""
    from pathlib import Path

    from parallelverse.calibrate import CalibrateRequest, aggregate, plan_calibrate, run_calibrate
    from parallelverse.calibrate.aggregate import notes
    from parallelverse.distributed import maybe_connect, parse_cluster
    from parallelverse.errors import CalibrateError
    from parallelverse.scenario import load_calibrate_scenario

    fields = load_calibrate_scenario(scenario) if scenario else {}
    for opt, value in options.items():
        if value is None or ctx.get_parameter_source(opt) == ParameterSource.DEFAULT and scenario:
            continue
        if opt in ("generators", "symbols"):
            raw, value = value, tuple(g.strip() for g in value.split(","))
            if not all(value):  # "garch,,bootstrap", "" or "AAPL,": a typo, not "skip" (nor "all")
                raise CalibrateError(f"--{opt} {raw!r} has an empty item; list names separated by single commas")
            if opt == "symbols" and [v.lower() for v in value] == ["all"]:
                value = None
        if opt == "horizon":
            value = _horizons(value)
        fields[_FIELDS[opt]] = value
    if scenario:
        cli_generators = ctx.get_parameter_source("generators") != ParameterSource.DEFAULT and options.get("generators")
        fields["generator_params"] = scenario_params_for(fields, bool(cli_generators))
    if sets:
        fields["generator_params"] = merge_sets(fields.get("generator_params", {}), sets)
    if html_path and not Path(html_path).resolve().parent.is_dir():
        raise CalibrateError(f"--html {html_path!r}: the folder {str(Path(html_path).parent)!r} does not exist; create it first")

    cluster = cluster and parse_cluster(cluster)  # a malformed --cluster fails before any work
    plan = plan_calibrate(CalibrateRequest(**fields))
    if html_path and _within(Path(html_path), plan.out):
        raise CalibrateError(f"--html {html_path!r} is {'--out' if Path(html_path).resolve() == plan.out.resolve() else 'inside --out'} "
                             f"({str(plan.out)!r}, where the cells go); choose another --html, e.g. --html calibration.html")
    with maybe_connect(cluster, say=warn) as client, ProgressReporter(enabled=not as_json, unit="cells") as progress:
        run = run_calibrate(plan, progress, client)
    cal = aggregate(run.records, plan.request.horizons, plan.every_months, plan.reference, plan.spans,
                    plan.request.include_in_sample, run.skipped)
    doc = {
        "out": str(plan.out), "cells_planned": len(plan.cells), "cells_computed": run.computed, "cells_reused": run.reused,
        "cells_damaged": run.damaged,
        "cells_skipped_in_sample": run.skipped_in_sample, "cells_skipped": list(run.skipped), "seconds": round(run.seconds, 3), "workers": plan.workers,
        "request": {k: v for k, v in plan.request.__dict__.items()}, **cal.to_json(),
    }
    doc["notes"] = notes(cal, run.skipped)  # in-sample cells (left out or scored), cells not run, the ranking's basis
    if run.damaged:  # said with --json too (on stderr)
        err.print(f"{run.damaged} cell file(s) under {plan.out} were damaged (changed since written, or unreadable) "
                  "and were recomputed", soft_wrap=True)
    if html_path:
        from parallelverse.report.calibrate_html import write_calibrate_html

        write_calibrate_html(cal, doc, html_path)
        err.print(f"HTML page written to {html_path}", soft_wrap=True)
    if as_json:
        from parallelverse.jsonsafe import strict_json

        for line in doc["notes"]:  # said with --json too (on stderr), as after the tables
            err.print(line, soft_wrap=True)
        print_json(strict_json(doc))
        return
    _print(cal, doc)


# PIT uniformity at 1% (KS and Berkowitz on independent cells): not rejecting it is not proof of calibration
_UNIFORMITY = {True: "not rejected", False: "[red]rejected[/red]", None: "too few cells"}


def _f(x, fmt="{:.2f}") -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


def _print(cal, doc) -> None:
    from rich.console import Console
    from rich.table import Table

    con = out if out.is_terminal else Console(width=220, highlight=False)  # piped: never squeeze the table

    for h in cal.horizons:
        t = Table(title=f"Calibration at {h} bars: {doc['request']['windows']} every {doc['request']['every']}, "
                        f"{doc['request']['n_paths']} paths per cell")
        matched = any(s.n_unmatched for s in cal.leaderboard(h))  # the ranking's basis differs from each row's own
        for c in ("universe", "cells", "indep.", "PIT KS p", "Berkowitz p", "uniformity", "cov 50%", "cov 90% [95% CI]",
                  "path cov 90%", "skill vs RW", *(["matched"] if matched else []), f"skill vs {cal.reference}", "DM p",
                  "drift bias", "vol ratio"):
            t.add_column(c, justify="left" if c == "universe" else "right", no_wrap=c == "universe")
        for s in cal.leaderboard(h):
            c90 = s.coverage["90"]
            ci = f" [{c90.ci[0]:.2f}, {c90.ci[1]:.2f}]" if c90.ci else ""
            ref = s.vs_reference
            t.add_row(s.universe, str(s.n_cells), str(s.n_independent), _f(s.pit_final.ks_p, "{:.3f}"),
                      _f(s.pit_final.berkowitz_p, "{:.3f}"), _UNIFORMITY[s.uniform],
                      _f(s.coverage["50"].rate_all), _f(c90.rate_all) + ci, _f(c90.path_mean),
                      _f(s.vs_random_walk.skill, "{:+.3f}"), *([_f(s.skill_matched, "{:+.3f}")] if matched else []),
                      "ref" if ref is None else _f(ref.skill, "{:+.3f}"),
                      "-" if ref is None else _f(ref.dm_p, "{:.3f}"), _f(s.drift_bias_mean, "{:+.2f}"),
                      _f(s.vol_ratio_median))
        con.print(folded(t))
    for line in doc["notes"]:
        err.print(line, soft_wrap=True)
    err.print(f"cells: {doc['cells_computed']} computed, {doc['cells_reused']} reused from {doc['out']}; "
              f"{doc['seconds']:.1f} s with {doc['workers']} worker(s). Tests use non-overlapping windows per symbol "
              "(indep.); coverage CI is exact (Clopper-Pearson) on them.", style="dim", soft_wrap=True)
