"""One small console helper: status and progress to stderr, results to stdout.

Domain errors (ParallelverseError), bad options and OS errors (read-only path, full
disk, permission denied) become one red line and exit code 2; anything else is a
bug and shows its traceback only with -v. User text (file names, symbols, values)
is escaped before it meets rich markup, so `[red]` in a file name prints as typed.
`--json` output is strict JSON: NaN and infinities become null.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import signal
import sys
import time

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from parallelverse.cli.options import OptionError
from parallelverse.jsonsafe import strict_json

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

__all__ = ["Group", "ProgressReporter", "err", "error_line", "escape", "handle_errors", "out", "print_json",
           "strict_json", "warn"]


def folded(table):
    """A rich Table whose cells wrap instead of being cut with an ellipsis when the terminal is narrow: at 80
    columns a cut number or label is a lost one. Anything else (a line of text) is returned as it is."""
    for c in getattr(table, "columns", ()):
        c.overflow = "fold"
    return table


def print_json(obj) -> None:
    """Strict JSON on stdout: parsers that reject NaN (most of them) read it."""
    click.echo(json.dumps(strict_json(obj), indent=2, allow_nan=False))


def error_line(message: str) -> None:
    """Print one red `error:` line; `message` is user text and is printed literally."""
    err.print(f"[red]error:[/red] {escape(' '.join(str(message).split()))}", soft_wrap=True)


def warn(message: str) -> None:
    """One yellow `warning:` line on stderr, printed literally."""
    err.print(f"[yellow]warning:[/yellow] {escape(' '.join(str(message).split()))}", soft_wrap=True)


_OS_REASONS = {
    errno.ENOSPC: ("no space left on device", "free some space or write elsewhere"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write elsewhere"),
    errno.EROFS: ("read-only file system", "write to a writable location"),
    errno.EACCES: ("permission denied", "choose a path you may write, or fix its permissions"),
    errno.EPERM: ("operation not permitted", "choose a path you may write, or fix its permissions"),
    errno.ENOTDIR: ("a part of the path is not a directory", "check the path"),
    errno.EISDIR: ("is a directory", "pass a file"),
    errno.ENOENT: ("no such file or directory", "check the path"),
    errno.ENAMETOOLONG: ("file name too long", "use a shorter path"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) or close other programs"),
}


def describe_os_error(exc: OSError) -> str:
    """One line for an OS error: the path, the cause and the fix."""
    reason, fix = _OS_REASONS.get(exc.errno, (exc.strerror or type(exc).__name__, "check the path and try again"))
    path = exc.filename if exc.filename is not None else None
    where = f"{str(path)!r}: " if path is not None else ""
    also = f" (and {str(exc.filename2)!r})" if getattr(exc, "filename2", None) else ""
    return f"{where}{reason}{also}; {fix}"


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OSError that caused `exc`, if any (libraries often wrap them)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2


def _terminate_as_interrupt(signum, frame):
    """SIGTERM (a scheduler's stop, `kill`) takes Ctrl-C's path: workers stopped, temporaries cleaned, one line."""
    raise KeyboardInterrupt


class Group(click.Group):
    """The top-level group: click's usage errors (no such option, missing argument,
    a bad value) become one `error:` line naming the fix, like every other error."""

    def _given_twice(self, args: list[str]) -> str | None:
        """The first single-valued option of the subcommand given more than once (click keeps the last silently:
        `--seed-window 2020-01 --seed-window 2021-01` made the 2021 store)."""
        name = next((a for a in args if not a.startswith("-")), None)
        command = self.commands.get(name) if name else None
        if command is None:
            return None
        seen: dict[str, str] = {}
        for a in args[args.index(name) + 1:]:
            if a == "--":
                break
            flag = a.split("=", 1)[0]
            for p in command.params:
                if isinstance(p, click.Option) and not p.multiple and flag in (*p.opts, *p.secondary_opts):
                    if p.name in seen:
                        return p.opts[0] if seen[p.name] == flag else f"{p.opts[0]} ({seen[p.name]} and {flag})"
                    seen[p.name] = flag
        return None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        signal.signal(signal.SIGTERM, _terminate_as_interrupt)
        twice = self._given_twice(sys.argv[1:] if args is None else list(args))
        if twice:
            error_line(f"{twice} is given twice; keep one")
            sys.exit(2)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NO_ARGS_IS_HELP as exc:  # `parallelverse` alone: the help, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            message = exc.format_message()
            ctx = getattr(exc, "ctx", None)
            if isinstance(exc, click.UsageError) and not isinstance(exc, OptionError):  # OptionError names its fix
                path = ctx.command_path if ctx is not None else (prog_name or self.name)
                message = f"{message.rstrip('.')} (see `{path} --help`)"
            error_line(message)
            sys.exit(exc.exit_code)
        except click.Abort:
            err.print("[yellow]interrupted[/yellow]", soft_wrap=True)
            sys.exit(130)
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            # stdout closed early (`parallelverse data | head`): not an error; keep Python quiet at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        sys.exit(rv if isinstance(rv, int) else 0)


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
            error_line(str(exc))
            sys.exit(2)
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/yellow]: rerun the same command to resume", soft_wrap=True)
            sys.exit(130)
        except Exception as exc:
            if verbose:
                err.print_exception()
            os_error = _os_error_in(exc)
            if os_error is not None and os_error.errno == errno.EPIPE:
                raise os_error from None
            if os_error is not None:  # the environment, not a bug: name the path and the cause
                error_line(describe_os_error(os_error))
                sys.exit(2)
            first = str(exc).splitlines()[0] if str(exc) else ""
            err.print(f"[red]internal error:[/red] {escape(type(exc).__name__ + ': ' + first)} "
                      "(rerun with -v for the traceback)", soft_wrap=True)
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
                self._tasks[name] = self._progress.add_task(escape(name), total=total, rate="")
            self._progress.update(self._tasks[name], completed=done, rate=rate)
        else:
            err.print(escape(f"{name}: {done}/{total} {self.unit}" + (f", {rate}" if rate else "")), soft_wrap=True)
