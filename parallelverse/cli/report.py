"""`parallelverse report`: luck vs skill for a strategy's stress results, in the terminal and as HTML."""

from __future__ import annotations

import click

from parallelverse import inputs
from parallelverse.cli.console import err, handle_errors, out, print_json
from parallelverse.cli.options import Checked, OutputPath


@click.command()
@click.argument("store", type=click.Path())
@click.option("--strategy", help="Strategy name (default: the only one with results in the store).")
@click.option("--html", "html_path", type=OutputPath("--html", kind="file"),
              help="Also write a self-contained HTML report (its path is checked before the work).")
@click.option("--n-null", type=Checked(inputs.N_NULL), default=1000, show_default=True, help="Paths per null market.")
@click.option("--statistic", type=click.Choice(["excess_sharpe", "excess_total_return", "information_ratio", "excess_cagr"]),
              default="excess_sharpe", show_default=True, help="Skill statistic (excess over buy-and-hold).")
@click.option("--auto-paths", is_flag=True, help="Draw more null paths when a test is inconclusive (up to 20,000).")
@click.option("--seed", type=Checked(inputs.SEED), default=0, show_default=True, help="Seed of the null markets.")
@click.option("--timeout", "timeout_s", type=Checked(inputs.TIMEOUT_S), default=300.0, show_default=True,
              help="Seconds one call of the strategy may take before it is stopped.")
@click.option("--max-memory", "max_memory_gb", type=Checked(inputs.MAX_MEMORY_GB), default=4.0, show_default=True,
              help="GB of memory one call of the strategy may allocate (it runs in its own process).")
@click.option("--json", "as_json", is_flag=True, help="Print every number as JSON on stdout.")
@handle_errors
def report(store, strategy, html_path, n_null, statistic, auto_paths, seed, timeout_s, max_memory_gb, as_json):
    """Was the real result skill or luck? Null tests, path luck, Sharpe statistics, generator fidelity."""
    from parallelverse.cli.report_view import print_report
    from parallelverse.backtest.sandbox import Limits
    from parallelverse.verdict.build import build_verdict

    v = build_verdict(store, strategy, n_null=n_null, seed=seed, statistic=statistic, auto_paths=auto_paths,
                      limits=Limits(timeout_s, int(max_memory_gb * 2**30)))
    if html_path:
        from parallelverse.report.html import write_html

        write_html(v, html_path)
        err.print(f"HTML report written to {html_path}", soft_wrap=True)
    if as_json:
        print_json(v.to_json())  # the Verdict, serialised (plots left out)
        return
    print_report(v, out)
