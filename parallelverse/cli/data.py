"""`parallelverse data`: which symbols, how many bars, which dates — so users see which seed windows work."""

import click

from parallelverse.cli.console import escape, handle_errors, out, print_json, warn


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
    if as_json:
        print_json({"source": market.source, "symbols": [
            {"symbol": r.symbol, "bars": r.n_bars, "first": r.first.isoformat(), "last": r.last.isoformat(),
             "suspected_splits": [{"date": str(s.time.date()), "ratio": s.ratio, "factor": s.factor,
                                   "volume_ratio": s.volume_ratio} for s in splits[r.symbol]]}
            for r in rows
        ]})
        return
    table = Table(title=escape(f"{market.source}: {len(rows)} symbol(s)"))
    for col in ("symbol", "bars", "first", "last"):
        table.add_column(col, justify="right" if col == "bars" else "left")
    for r in rows:
        table.add_row(escape(r.symbol), f"{r.n_bars:,}", str(r.first.date()), str(r.last.date()))
    out.print(table)
    out.print(f"A seed window needs --context bars (default 400, at least {MIN_CONTEXT_BARS}) before its last bar.")
