"""`parallelverse data`: which symbols, how many bars, which dates — so users see which seed windows work."""

import click

from parallelverse.inputs import DEFAULT_CONTEXT_BARS, DEFAULT_HORIZON_BARS

from parallelverse.cli.console import escape, folded, handle_errors, out, print_json, warn


@click.command()
@click.option("--data", "data_path", type=click.Path(dir_okay=False), default=None,
              help="CSV or Parquet OHLCV file (default: the bundled stocks_daily).")
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON on stdout.")
@handle_errors
def data(data_path, as_json):
    """List the symbols, bar counts and date ranges of a data file; warn about jumps that look like unadjusted splits."""
    from rich.table import Table

    from parallelverse.market import find_unadjusted_splits, load_market
    from parallelverse.window import MIN_CONTEXT_BARS

    market = load_market(data_path)
    rows = market.summary()
    splits = {s: find_unadjusted_splits(market.select(s)) for s in market.symbols}
    for found in splits.values():
        if found:  # one line per symbol: `generate` refuses these unless --accept-splits
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            warn(f"{found[0].describe()}{more}; adjust the data, or generate refuses windows over it unless --accept-splits")
    windows = {s: usable_windows(market.select(s).dates()) for s in market.symbols}
    if as_json:
        print_json({"source": market.source, "context_bars": DEFAULT_CONTEXT_BARS, "horizon_bars": DEFAULT_HORIZON_BARS,
                    "symbols": [
            {"symbol": r.symbol, "bars": r.n_bars, "first": r.first.isoformat(), "last": r.last.isoformat(),
             "first_seed_window": windows[r.symbol][0], "last_with_full_real_horizon": windows[r.symbol][1],
             "suspected_splits": [{"date": str(s.time.date()), "ratio": s.ratio, "factor": s.factor,
                                   "volume_ratio": s.volume_ratio} for s in splits[r.symbol]]}
            for r in rows
        ]})
        return
    table = Table(title=escape(f"{market.source}: {len(rows)} symbol(s)"))
    for col in ("symbol", "bars", "first", "last", "first seed window", f"last with {DEFAULT_HORIZON_BARS} real bars"):
        table.add_column(col, justify="right" if col == "bars" else "left")
    for r in rows:
        first_cut, last_full = windows[r.symbol]
        table.add_row(escape(r.symbol), f"{r.n_bars:,}", str(r.first.date()), str(r.last.date()), first_cut or "-",
                      last_full or "-")
    out.print(folded(table))
    out.print(f"A seed window's last bar (the cut) needs --context bars up to it (default {DEFAULT_CONTEXT_BARS}, at "
              f"least {MIN_CONTEXT_BARS}): the first seed window above is the earliest cut at the default. Windows "
              f"up to the last column have a full {DEFAULT_HORIZON_BARS}-bar real future to judge the strategy on; "
              "later ones have fewer real bars.", soft_wrap=True)


def usable_windows(dates) -> tuple[str | None, str | None]:
    """(earliest cut with DEFAULT_CONTEXT_BARS bars up to it, latest cut with DEFAULT_HORIZON_BARS real bars after
    it), as dates; None where the data is too short."""
    n = len(dates)
    first = str(dates[DEFAULT_CONTEXT_BARS - 1].date()) if n >= DEFAULT_CONTEXT_BARS else None
    last = str(dates[n - 1 - DEFAULT_HORIZON_BARS].date()) if n - 1 - DEFAULT_HORIZON_BARS >= DEFAULT_CONTEXT_BARS - 1 else None
    return first, last
