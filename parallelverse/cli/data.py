"""`parallelverse data`: which symbols, how many bars, which dates — so users see which seed windows work."""

import click

from parallelverse.cli.console import handle_errors, out, print_json


@click.command()
@click.option("--data", "data_path", type=click.Path(dir_okay=False), default=None,
              help="CSV or Parquet OHLCV file (default: the bundled stocks_daily).")
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON on stdout.")
@handle_errors
def data(data_path, as_json):
    """List the symbols, bar counts and date ranges of a data file."""
    from rich.table import Table

    from parallelverse.market import load_market
    from parallelverse.window import MIN_CONTEXT_BARS

    market = load_market(data_path)
    rows = market.summary()
    if as_json:
        print_json({"source": market.source, "symbols": [
            {"symbol": r.symbol, "bars": r.n_bars, "first": r.first.isoformat(), "last": r.last.isoformat()} for r in rows
        ]})
        return
    table = Table(title=f"{market.source}: {len(rows)} symbol(s)")
    for col in ("symbol", "bars", "first", "last"):
        table.add_column(col, justify="right" if col == "bars" else "left")
    for r in rows:
        table.add_row(r.symbol, f"{r.n_bars:,}", str(r.first.date()), str(r.last.date()))
    out.print(table)
    out.print(f"A seed window needs --context bars (default 400, at least {MIN_CONTEXT_BARS}) before its last bar.")
