"""`parallelverse generate`: sample universes of synthetic futures into a Zarr store."""

from __future__ import annotations

import click
from click.core import ParameterSource

from parallelverse import inputs
from parallelverse.cli.console import ProgressReporter, err, escape, folded, handle_errors, out, print_json, warn
from parallelverse.cli.options import CLUSTER_HELP, Checked, CheckedList, merge_sets, scenario_params_for

# CLI option name -> GenerateRequest field (one to one)
_FIELDS = {
    "data_path": "data",
    "symbol": "symbol",
    "seed_window": "seed_window",
    "context": "context_bars",
    "horizon": "horizon_bars",
    "n_paths": "n_paths",
    "generators": "generators",
    "seed": "seed",
    "out_path": "out",
    "overwrite": "overwrite",
    "chunk_paths": "chunk_paths",
    "model": "model",
    "temperature": "temperatures",
    "top_k": "top_k",
    "top_p": "top_p",
    "device": "device",
    "accept_splits": "accept_splits",
}


@click.command()
@click.option("--seed-window", "seed_window", help="YYYY, YYYY-MM, YYYY-MM-DD or START:END; futures start after its last bar.")
@click.option("--data", "data_path", type=click.Path(dir_okay=False), help="CSV or Parquet OHLCV (default: bundled stocks_daily).")
@click.option("--symbol", help="Symbol to use (default: AAPL for the bundled data).")
@click.option("--context", type=Checked(inputs.CONTEXT_BARS), default=inputs.DEFAULT_CONTEXT_BARS, show_default=True, help="Bars of real context up to the cut.")
@click.option("--horizon", type=Checked(inputs.HORIZON_BARS), default=inputs.DEFAULT_HORIZON_BARS, show_default=True, help="Bars per synthetic path.")
@click.option("--n-paths", "n_paths", type=Checked(inputs.N_PATHS), default=2000, show_default=True, help="Paths per generator.")
@click.option("--generators", help="Comma-separated generator names (default: garch,bootstrap; add kronos for the shipped Kronos model, e.g. kronos,garch,bootstrap).")
@click.option("--set", "sets", multiple=True, metavar="GEN.PARAM=VALUE", help="Generator parameter, e.g. garch.dist=skewt (repeatable).")
@click.option("--seed", type=Checked(inputs.SEED), default=0, show_default=True, help="Seed: the same seed gives the same paths.")
@click.option("--out", "out_path", type=click.Path(), help="Store path (default: <SYMBOL>_<WINDOW>.zarr).")
@click.option("--overwrite", is_flag=True, help="Delete an existing store and start over.")
@click.option("--chunk-paths", "chunk_paths", type=Checked(inputs.CHUNK_PATHS), default=500, show_default=True, help="Paths per stored chunk.")
@click.option("--model", help="Model generators (kronos, chronos): Hub id or local directory.")
@click.option("--temperature", type=CheckedList(inputs.TEMPERATURE), help="Model generators: sampling temperature(s), comma-separated; one universe each.")
@click.option("--top-k", "top_k", type=Checked(inputs.TOP_K), help="Model generators: keep the k most likely tokens (0 = off).")
@click.option("--top-p", "top_p", type=Checked(inputs.TOP_P), help="Model generators: nucleus sampling mass (1 = off); composes with --top-k.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Model generators: where to run (default auto for kronos, cpu for chronos).")
@click.option("--accept-splits", "accept_splits", is_flag=True,
              help="Take overnight jumps that look like unadjusted stock splits as real moves.")
@click.option("--scenario", type=click.Path(dir_okay=False), help="TOML scenario file; options given here override it.")
@click.option("--cluster", help=CLUSTER_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.pass_context
@handle_errors
def generate(ctx, scenario, sets, as_json, cluster, **options):
    """Sample synthetic futures after a seed window and write them to a Zarr store."""
    import time

    from parallelverse.errors import WindowError
    from parallelverse.distributed import maybe_connect, parse_cluster
    from parallelverse.generate import GenerateRequest, plan_generate, run_generate
    from parallelverse.scenario import load_scenario
    from parallelverse.store import store_size_bytes

    fields = load_scenario(scenario) if scenario else {}
    for opt, value in options.items():
        if scenario and ctx.get_parameter_source(opt) == ParameterSource.DEFAULT:
            continue
        if value is None:
            continue
        if opt == "generators":
            value = tuple(g.strip() for g in value.split(",") if g.strip())
        fields[_FIELDS[opt]] = value
    if scenario:
        cli_generators = ctx.get_parameter_source("generators") != ParameterSource.DEFAULT and options.get("generators")
        fields["generator_params"] = scenario_params_for(fields, bool(cli_generators))
        for opt in ("model", "temperature", "top_k", "top_p", "device"):  # the command line overrides the file
            if options.get(opt) not in (None, ()) and ctx.get_parameter_source(opt) != ParameterSource.DEFAULT:
                for table in fields["generator_params"].values():
                    table.pop(opt, None)
    if sets:
        fields["generator_params"] = merge_sets(fields.get("generator_params", {}), sets)
    if "seed_window" not in fields:
        raise WindowError(f"{scenario}: no seed_window; add seed_window = \"2020-01\" to it or pass --seed-window"
                          if scenario else "--seed-window is required (e.g. --seed-window 2020-01), or give a "
                          "--scenario file")

    cluster = cluster and parse_cluster(cluster)  # a malformed --cluster fails before any work
    plan = plan_generate(GenerateRequest(**fields))
    _warn_in_sample(plan)
    _warn_gaps(plan)
    _warn_split_sized(plan)
    t0 = time.perf_counter()
    with maybe_connect(cluster, say=warn) as client, ProgressReporter(enabled=not as_json) as progress:
        generated = run_generate(plan, progress, client)
    reports = generated.universes
    total = time.perf_counter() - t0
    split = plan.split
    summary = {
        "store": str(plan.out),
        "store_bytes": store_size_bytes(plan.out),
        "symbol": split.history.symbol,
        "source": split.history.source,
        "seed_window": split.window.spec,
        "context": [str(split.context.dates()[0].date()), str(split.context.dates()[-1].date())],
        "horizon_start": str(split.history.dates()[split.context_end].date()) if split.realized_end > split.context_end else None,
        "realized_bars": split.realized_end - split.context_end,
        "history_repaired": generated.history_repaired,
        "seconds": round(total, 3),
        "universes": [
            {
                "name": r.name,
                "paths": r.n_paths,
                "bars": r.horizon_bars,
                "seconds": round(r.seconds, 3),
                "paths_per_s": round(r.n_paths / r.seconds, 1) if r.chunks_written and r.seconds > 0 else None,
                "chunks_written": r.chunks_written,
                "status": r.status,
                "chunks_repaired": r.repaired,
            }
            for r in reports
        ],
    }
    _say_repairs(summary)  # with --json too (on stderr)
    if as_json:
        print_json(summary)
        return
    _print_summary(summary)


def _warn_gaps(plan) -> None:
    """One stderr line per gap in the context (e.g. months missing from the file)."""
    import numpy as np

    from parallelverse.window import context_gaps

    for before, after in context_gaps(plan.split):
        days = int((after - before) / np.timedelta64(1, "D"))
        warn(f"the context has a gap of {days} days between {str(before)[:10]} and {str(after)[:10]}: the bars either "
             "side are read as consecutive; fill the data, or choose a seed window after the gap")


def _warn_split_sized(plan) -> None:
    """One stderr line per jump of a split's exact ratio taken as real because volume did not follow."""
    from parallelverse.market import split_sized_moves

    for s in split_sized_moves(plan.split.history):
        warn(f"{s.describe()}, taken as a real move because volume did not follow; if your prices are unadjusted "
             "and only the volume was adjusted, adjust the prices too")


def _warn_in_sample(plan) -> None:
    """One stderr line per model generator whose training data overlaps the horizon (the contamination guard)."""
    import pandas as pd

    from parallelverse.generators.training_span import horizon_warning

    t = plan.split.horizon_time
    for _, g in plan.generators:
        line = horizon_warning(g, pd.Timestamp(t[0]), pd.Timestamp(t[-1]))
        if line:
            warn(line)  # escaped: model ids and paths may hold square brackets


def _say_repairs(s: dict) -> None:
    repaired = [u for u in s["universes"] if u["chunks_repaired"]]
    if s["history_repaired"] or repaired:
        what = (["the real bars (history)"] if s["history_repaired"] else []) + [
            f"{u['name']} ({u['chunks_repaired']} chunk(s))" for u in repaired]
        err.print(escape(f"repaired: {', '.join(what)} were missing or damaged and were rewritten, byte for byte as made"),
                  soft_wrap=True)


def _print_summary(s: dict) -> None:
    from rich.table import Table

    table = Table(title=escape(f"{s['symbol']} ({s['source']}), seed window {s['seed_window']}, "
                               f"context {s['context'][0]} to {s['context'][1]}"))
    for col in ("universe", "paths", "bars", "seconds", "paths/s", "status"):
        table.add_column(col, justify="left" if col in ("universe", "status") else "right")
    for u in s["universes"]:
        pps = f"{u['paths_per_s']:,.0f}" if u["paths_per_s"] else "-"
        table.add_row(escape(u["name"]), f"{u['paths']:,}", str(u["bars"]), f"{u['seconds']:.2f}", pps, u["status"])
    out.print(folded(table))
    out.print(
        escape(f"store {s['store']} ({s['store_bytes'] / 1e6:.1f} MB); real future stored for {s['realized_bars']} bars"
               + (f" from {s['horizon_start']}" if s["horizon_start"] else "")),
        soft_wrap=True,
    )
    err.print(f"done in {s['seconds']:.1f} s", style="dim")
