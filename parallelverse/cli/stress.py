"""`parallelverse stress`: run a strategy file over the real history and every synthetic path."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from parallelverse import inputs
from parallelverse.cli.console import ProgressReporter, err, error_line, folded, handle_errors, out, print_json, warn
from parallelverse.cli.options import CLUSTER_HELP, Checked

_PERCENT = {"total_return", "cagr", "max_drawdown", "volatility", "excess_total_return", "excess_cagr",
            "excess_max_drawdown", "excess_volatility", "exposure", "hit_rate"}


def _default_store() -> str:
    from parallelverse.errors import StoreError

    stores = sorted(p for p in Path.cwd().glob("*.zarr") if p.is_dir())
    if len(stores) == 1:
        return str(stores[0])
    found = f"found {', '.join(p.name for p in stores)}" if stores else "found none"
    raise StoreError(f"pass --store STORE ({found} in the working directory)")


@click.command()
@click.argument("strategy_file", type=click.Path(dir_okay=False))
@click.option("--store", help="Store written by `generate` (default: the only *.zarr in the working directory).")
@click.option("--fees", type=Checked(inputs.FEES_BPS), default=1.0, show_default=True, help="Fees, bps of traded notional.")
@click.option("--slippage", type=Checked(inputs.SLIPPAGE_BPS), default=2.0, show_default=True,
              help="Slippage, bps of the fill price.")
@click.option("--fill", type=click.Choice(["open", "close"]), default="open", show_default=True,
              help="open: trade at the next bar's open; close: at the same bar's close.")
@click.option("--init-cash", type=Checked(inputs.INIT_CASH), default=100_000.0, show_default=True,
              help="Initial capital at the cut.")
@click.option("--universe", "universes", multiple=True, help="Only these universes (repeatable; default: all).")
@click.option("--no-lookahead-check", is_flag=True, help="Skip the look-ahead check.")
@click.option("--timeout", "timeout_s", type=Checked(inputs.TIMEOUT_S), default=300.0, show_default=True,
              help="Seconds one call of the strategy may take before it is stopped.")
@click.option("--max-memory", "max_memory_gb", type=Checked(inputs.MAX_MEMORY_GB), default=4.0, show_default=True,
              help="GB of memory one call of the strategy may allocate (it runs in its own process).")
@click.option("--cluster", help=CLUSTER_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print real vs synthetic per universe as JSON on stdout.")
@handle_errors
def stress(strategy_file, store, fees, slippage, fill, init_cash, universes, no_lookahead_check, timeout_s, max_memory_gb,
           cluster, as_json):
    """Run STRATEGY_FILE over the real history and every path of every universe."""
    from parallelverse.backtest.engine import Costs
    from parallelverse.backtest.sandbox import Limits
    from parallelverse.distributed import maybe_connect, parse_cluster
    from parallelverse.stress import StressRequest, run_stress, summarize

    if store is not None and not store.strip():
        from parallelverse.errors import StoreError

        raise StoreError("--store is empty; pass the store `generate` wrote, e.g. --store AAPL_2020-01.zarr")
    req = StressRequest(
        strategy=strategy_file, store=store if store is not None else _default_store(),
        costs=Costs(fees_bps=fees, slippage_bps=slippage, fill=fill, init_cash=init_cash),
        universes=tuple(universes) or None, lookahead_check=not no_lookahead_check,
        limits=Limits(timeout_s, int(max_memory_gb * 2**30)),
    )
    with maybe_connect(cluster and parse_cluster(cluster), say=warn) as client, ProgressReporter(enabled=not as_json) as progress:
        run = run_stress(req, progress, client)
    from parallelverse.store import read_store

    results = read_store(run.store).results(run.strategy.name)  # read once, for the summary and the verdict
    summary = summarize(run.store, run.strategy.name, results)
    summary.update({"store": str(run.store), "seconds": round(run.seconds, 3), "skipped_incomplete": list(run.skipped),
                    "replaced_results_of": run.replaced, "max_long_exposure": run.max_long,
                    "kept_earlier_results": list(run.kept), "dropped_earlier_results": list(run.dropped),
                    "damaged_earlier_results": run.damaged_earlier})
    bust = {u: d["bust_paths"] for u, d in summary["universes"].items() if d["bust_paths"]}
    real_bust = (summary["real"] or {}).get("max_drawdown", 0) <= -1
    if bust or real_bust:
        where = [f"{n:,} of {summary['universes'][u]['n_paths']:,} paths in {u}" for u, n in bust.items()]
        where += ["the real history"] if real_bust else []
        err.print(f"the book went bust (equity at or below 0, from leverage) on {', '.join(where)}; "
                  "returns, drawdowns and exposures there are past -100% and not meaningful: lower the leverage",
                  soft_wrap=True)
    if run.kept:
        err.print(f"kept this strategy's earlier results on {', '.join(run.kept)} (same file, costs, checks and universe; "
                  "not rerun)", soft_wrap=True)
    if run.dropped:
        err.print(f"dropped this strategy's earlier results on {', '.join(run.dropped)}: they came from another file, "
                  "other costs, another look-ahead setting or an older universe; run without --universe to redo them", soft_wrap=True)
    if run.damaged_earlier:
        err.print(f"this strategy's earlier results were damaged, so none were kept: the results now hold "
                  f"{', '.join(run.universes)} only; run without --universe to redo the others", soft_wrap=True)
    if run.max_long > 1 + 1e-9:  # said, never silent: on stderr, with --json too
        err.print(f"positions asked for up to {run.max_long:.4g}x long on the real history; longs are bought with the "
                  "cash there is (no borrowing, as in vectorbt), so they were filled at about 1x: return at most 1 "
                  "to see the exposure you get", soft_wrap=True)
    if run.replaced:  # on stderr, with --json too
        err.print(f"replaced the results named {run.strategy.name!r} that {run.replaced} had made (another file with "
                  "the same name; give one of them its own `name` to keep both)", soft_wrap=True)
    verdict, failed = None, None
    if summary["real"] is not None:  # the verdict panel, composed here from the verdict stage (users like it)
        from parallelverse.errors import ParallelverseError
        from parallelverse.verdict.build import DEFAULT_N_NULL, build_verdict
        from parallelverse.verdict.model import to_json

        try:
            verdict = build_verdict(run.store, run.strategy.name, limits=req.limits, results=results)
            summary["verdict"] = to_json(verdict.verdict)
        except ParallelverseError as exc:  # the results are written and valid; only the verdict is missing
            failed = str(exc)
            summary["verdict"], summary["verdict_error"] = None, failed
    if as_json:
        print_json(summary)
    else:
        _print(summary)
    if failed:
        error_line(f"the results are saved in {summary['store']}, but the verdict failed: {failed} (the null markets "
                   f"call positions on {DEFAULT_N_NULL:,} paths at once; `parallelverse report` retries the verdict)")
        sys.exit(2)
    if as_json:
        return
    if verdict is not None:
        from parallelverse.cli.report_view import verdict_panel

        out.print(verdict_panel(verdict))
        out.print(f"details: parallelverse report {summary['store']} --strategy {summary['strategy']} [--html report.html]",
                  soft_wrap=True)


def _fmt(metric: str, v) -> str:
    if v is None or v != v:
        return "-"
    if metric in _PERCENT:
        return f"{100 * v:+.1f}%" if metric.startswith("excess") else f"{100 * v:.1f}%"
    if metric == "n_trades":
        return f"{v:.0f}"
    return f"{v:+.2f}" if metric.startswith("excess") else f"{v:.2f}"


def _print(s: dict) -> None:
    from rich.table import Table

    from parallelverse.stress import MAIN_METRICS

    c = s["costs"]
    cfg = " ".join(f"{k}={v}" for k, v in s["selected_config"].items())
    head = (f"{s['strategy']}: fees {c['fees_bps']:g} bps, slippage {c['slippage_bps']:g} bps, fill at {c['fill']}, "
            f"{s['n_configs']} configuration(s)" + (f"; showing {cfg} ({s['selection']})" if cfg else ""))
    out.print(head, soft_wrap=True)
    for name, u in s["universes"].items():
        table = Table(title=f"{name}: real vs {u['n_paths']:,} synthetic paths")
        table.add_column("metric", no_wrap=True)
        for col in ("real", "median", "5% .. 95%", "percentile"):
            table.add_column(col, justify="right", no_wrap=True)
        for m in MAIN_METRICS:
            row = u["metrics"][m]
            pct = row["percentile"]
            table.add_row(m, _fmt(m, row["real"]), _fmt(m, row["q50"]),
                          f"{_fmt(m, row['q05'])} .. {_fmt(m, row['q95'])}", "-" if pct is None or pct != pct else f"{pct:.1f}")
        out.print(folded(table))
    if s["real"] is not None and s["scored_bars"] < s["horizon_bars"]:
        out.print(f"Synthetic paths scored over their first {s['scored_bars']} bars of {s['horizon_bars']}: the real "
                  "future ends there, and real and synthetic results are compared over the same bars.", soft_wrap=True)
    if s["real"] is None:
        why = (f"the store's horizon is {s['horizon_bars']} bar (generate with --horizon 2 or more for one)"
               if s["horizon_bars"] < 2 else
               f"the data holds {s['realized_bars']} bar{'' if s['realized_bars'] == 1 else 's'} after the cut")
        out.print(f"No real result: a backtest needs at least 2 bars and {why}; only synthetic results.", soft_wrap=True)
    if s["skipped_incomplete"]:
        err.print(f"skipped incomplete universes: {', '.join(s['skipped_incomplete'])}", soft_wrap=True)
    out.print(f"results in {s['store']}/results/{s['strategy']}", soft_wrap=True)
    err.print(f"done in {s['seconds']:.1f} s", style="dim")
