"""The `parallelverse` command. Each subcommand lives in its own module and imports
the heavy stages inside its body, so `--help` stays instant."""

import click

from parallelverse import __version__
from parallelverse.cli.console import Group
from parallelverse.cli.audit import audit
from parallelverse.cli.calibrate import calibrate
from parallelverse.cli.data import data
from parallelverse.cli.generate import generate
from parallelverse.cli.report import report
from parallelverse.cli.stress import stress
from parallelverse.cli.train import train


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="parallelverse")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks for errors.")
def main(verbose: bool) -> None:
    """Thousands of plausible market histories to stress-test a strategy against."""


main.add_command(generate)
main.add_command(data)
main.add_command(stress)
main.add_command(report)
main.add_command(train)
main.add_command(calibrate)
main.add_command(audit)
