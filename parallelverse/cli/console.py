"""One small console helper: status and progress to stderr, results to stdout.

Domain errors (ParallelverseError) become one red line and exit code 2; anything
else is a bug and shows its traceback only with -v.
"""

from __future__ import annotations

import functools
import json
import sys
import time

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def print_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def handle_errors(fn):
    """Turn domain errors into one line and a non-zero exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from parallelverse.errors import ParallelverseError

        verbose = click.get_current_context().find_root().params.get("verbose", False)
        try:
            return fn(*args, **kwargs)
        except ParallelverseError as exc:
            if verbose:
                err.print_exception()
            err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
            sys.exit(2)
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/yellow]: rerun the same command to resume", soft_wrap=True)
            sys.exit(130)
        except Exception as exc:
            if verbose:
                err.print_exception()
            first = str(exc).splitlines()[0] if str(exc) else ""
            err.print(f"[red]internal error:[/red] {type(exc).__name__}: {first} (rerun with -v for the traceback)", soft_wrap=True)
            sys.exit(1)

    return wrapper


class ProgressReporter:
    """A progress bar per universe on a terminal; one plain line per update otherwise."""

    def __init__(self, enabled: bool = True, unit: str = "paths"):
        self.enabled, self.unit = enabled, unit
        self.live = enabled and err.is_terminal
        self._tasks: dict[str, int] = {}
        self._start: dict[str, tuple[float, int]] = {}
        self._progress = (
            Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                     TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=err)
            if self.live else None
        )

    def __enter__(self):
        if self._progress:
            self._progress.start()
        return self

    def __exit__(self, *exc):
        if self._progress:
            self._progress.stop()

    def __call__(self, name: str, done: int, total: int, bars: int = 0, note: str = "") -> None:
        """Report `done` of `total` units of a task; with `bars` per unit, also bars/s; `note` is shown beside."""
        if not self.enabled:
            return
        now = time.perf_counter()
        start, first_done = self._start.setdefault(name, (now, done))
        rate = f"{(done - first_done) * bars / (now - start):,.0f} bars/s" if bars and now > start and done > first_done else note
        if self._progress:
            if name not in self._tasks:
                self._tasks[name] = self._progress.add_task(name, total=total, rate="")
            self._progress.update(self._tasks[name], completed=done, rate=rate)
        else:
            err.print(f"{name}: {done}/{total} {self.unit}" + (f", {rate}" if rate else ""), soft_wrap=True)
