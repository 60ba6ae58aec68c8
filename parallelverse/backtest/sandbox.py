"""Strategy code in its own process: whatever it does, the caller gets one line and keeps its data.

`StrategyProcess(path, limits)` forks a child that imports the strategy file and
answers `call(bars, config, ...)` requests over a pipe. The child

- receives the bars as immutable bytes, so every field is a read-only array that
  cannot be made writable: a strategy that writes into its input fails with
  `file:line` (and could not change the parent's prices anyway);
- turns `sys.exit` and `os._exit` into one-line errors (`file:line`);
- runs each call under `limits.timeout_s` (the parent stops waiting, kills the child
  and reports the call; a `signal.alarm` in the child is the backstop if the parent
  was killed first) and under an address-space cap (`RLIMIT_AS` = what the child had
  at the fork + `limits.max_memory_bytes`), so unbounded allocation is a MemoryError;
- ignores SIGINT: Ctrl-C interrupts the parent, which kills the child -- even one
  stuck inside a numba loop, which never looks at Python's signal flag;
- dies with its parent (PR_SET_PDEATHSIG), and holds none of the parent's store locks;
- leads its own process group: stopping it kills whatever the strategy started too.

Why fork: the child starts in milliseconds with every module the parent imported
(numpy, numba, the kernels), which makes a process per run cheap; it touches nothing
but numpy and the strategy, so the parent's threads (zarr's event loop) do not matter.
A child that dies anyway (a segfault, the OOM killer) is reported in one line too.
"""

from __future__ import annotations

import ctypes
import math
import os
import resource
import signal
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection, Pipe
from pathlib import Path

import numpy as np

from parallelverse.bars import FIELDS, PathBatch

DEFAULT_TIMEOUT_S = 300.0  # per call of positions(): generous for pure-Python loops over a 2,000-path batch
DEFAULT_MAX_MEMORY_GB = 4.0  # what one call may allocate on top of the process it starts from
_ALARM_GRACE_S = 10  # the child's own backstop fires this long after the parent's timeout


@dataclass(frozen=True)
class Limits:
    """What one call of a strategy may take."""

    timeout_s: float = DEFAULT_TIMEOUT_S  # wall-clock seconds per call
    max_memory_bytes: int | None = int(DEFAULT_MAX_MEMORY_GB * 2**30)  # address space on top of the baseline; None = no cap

    def describe_memory(self) -> str:
        return "no cap" if self.max_memory_bytes is None else f"{self.max_memory_bytes / 2**30:g} GB"


class _OsExit(SystemExit):
    """os._exit called by strategy code (turned into an exception in the child)."""


@dataclass(frozen=True)
class Loaded:
    """What the child found in the strategy file (the parent never imports it)."""

    name: str
    warmup: int
    configs: tuple[dict, ...]
    sha256: str
    line: int  # first line of positions()


class StrategyProcess:
    """A strategy file loaded in a child process; `call` runs positions() there. Close it when done."""

    def __init__(self, path: str | Path, limits: Limits = Limits()):
        self.path, self.limits = Path(path), limits
        self._conn, child = Pipe(duplex=True)
        self._last_bars: PathBatch | None = None
        parent = self._owner = os.getpid()
        self._pid = os.fork()
        if self._pid == 0:  # the child: never returns into the caller's stack
            code = 1
            try:
                _own_group()
                self._conn.close()
                code = _serve(child, self.path, limits, parent)
            finally:
                _REAL_EXIT(code)
        try:  # set on both sides of the fork, so the group exists whichever runs first
            os.setpgid(self._pid, self._pid)
        except OSError:
            pass
        child.close()
        reply = self._receive("loading the strategy", limits.timeout_s)
        if reply[0] == "error":
            self.close()
            from parallelverse.backtest.strategy import StrategyError

            raise StrategyError(reply[1])
        self.loaded: Loaded = reply[1]

    def call(self, bars: PathBatch, config: dict, label: str, check_from: int):
        """positions(bars, **config) in the child, validated there: an Output, or StrategyError with one line.
        `label` names the paths; the configuration is added to it in messages."""
        from parallelverse.backtest.strategy import StrategyError

        if self._pid is None:
            raise StrategyError(f"{self.path}: the strategy process was stopped after an earlier error; rerun")
        try:
            if bars is not self._last_bars:
                self._conn.send(("bars", bars.shape, bars.time is not None))
                for a in _arrays(bars):
                    self._conn.send_bytes(memoryview(a).cast("B"))
                self._last_bars = bars
            self._conn.send(("call", config, label, check_from))
        except (BrokenPipeError, ConnectionResetError, EOFError):
            pass  # the child died: _receive says how
        where = label + (", config " + " ".join(f"{k}={v}" for k, v in config.items()) if config else "")
        reply = self._receive(f"positions ({where})", self.limits.timeout_s)
        if reply[0] == "error":
            raise StrategyError(reply[1])
        return reply[1]

    def close(self) -> None:
        """Stop the child (kill it if it is busy) and reap it."""
        if self._pid is None:
            return
        pid, self._pid = self._pid, None
        if os.getpid() != self._owner:  # a forked copy of the owner: the child is not ours to stop
            return
        try:
            self._conn.close()
        except OSError:
            pass
        _kill_group(pid)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    def __enter__(self) -> StrategyProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            if getattr(self, "_pid", None):
                self.close()
        except Exception:
            pass

    def _receive(self, what: str, timeout_s: float):
        from parallelverse.backtest.strategy import StrategyError

        try:
            ready = self._conn.poll(timeout_s)
        except BaseException:  # Ctrl-C while waiting: the child goes too
            self.close()
            raise
        if not ready:
            self.close()
            raise StrategyError(
                f"{self.path}: {what} did not return within {timeout_s:g} s; make it faster, or raise --timeout"
            )
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            pass
        status = self._reap()
        raise StrategyError(f"{self.path}: the strategy process {status} during {what}; "
                            "a strategy must return its exposures (no exit, no crash)")

    def _reap(self) -> str:
        pid, self._pid = self._pid, None
        _kill_group(pid)  # what the strategy started dies with it (before the reap: the pid cannot be reused yet)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return "ended"
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            hint = " (killed: out of memory?)" if sig == signal.SIGKILL else ""
            return f"was killed by {name}{hint}"
        return f"exited with code {os.WEXITSTATUS(status)}"


_PR_SET_CHILD_SUBREAPER = 36


def _own_group() -> None:
    """The child leads its own process group, so that stopping it also stops whatever the strategy started; and
    (Linux) it is a subreaper, so that a process the strategy started in a session of its own (setsid, a
    double-forked daemon) stays its descendant, where `_kill_group` finds it, instead of passing to init."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1)
    except (OSError, AttributeError):
        pass


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return set()
    for e in entries:
        try:
            with open(f"/proc/{e}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(e))
    found, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), ()):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found


def _kill_group(pid: int) -> None:
    """SIGKILL the child, every process in its group and every descendant (a strategy's subprocesses, also those
    that left the group); the child alone if nothing else is there. Descendants are stopped before anything is
    killed, so none forks or is orphaned away meanwhile."""
    try:
        os.kill(pid, signal.SIGSTOP)  # the child first: it forks nothing more while its tree is walked
    except ProcessLookupError:
        pass
    stopped: set[int] = set()
    for _ in range(8):  # until no new descendant appears (each round stops the ones found)
        new = _descendants(pid) - stopped
        if not new:
            break
        for d in new:
            try:
                os.kill(d, signal.SIGSTOP)
            except (ProcessLookupError, PermissionError):
                pass
        stopped |= new
    for d in stopped:
        try:
            os.kill(d, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(pid, signal.SIGKILL)
        return
    except (ProcessLookupError, PermissionError):
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _arrays(bars: PathBatch) -> list[np.ndarray]:
    out = [np.ascontiguousarray(getattr(bars, f), dtype=np.float64) for f in FIELDS]
    if bars.time is not None:
        out.append(np.ascontiguousarray(bars.time, dtype=np.int64))
    return out


# ---- the child ------------------------------------------------------------------------------------------

_REAL_EXIT = os._exit


def _forbidden_exit(code=0):
    raise _OsExit(code)


def _serve(conn: Connection, path: Path, limits: Limits, parent: int) -> int:
    """Load the strategy, then answer requests until the parent closes the pipe. Returns the exit code."""
    from parallelverse.backtest.strategy import StrategyError, load_strategy

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the backstop alarm terminates
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the CLI's SIGTERM-as-Ctrl-C is the parent's, not the strategy's
    _die_with_parent(parent)
    sys.stdout = sys.stderr  # a print() in the strategy never mixes into --json output,
    try:
        os.dup2(2, 1)  # nor does a subprocess's or os.write(1, ...)'s: file descriptor 1 is stderr here too
    except OSError:
        pass
    if limits.max_memory_bytes is not None:
        cap = _address_space() + limits.max_memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    os._exit = _forbidden_exit
    try:
        signal.alarm(math.ceil(limits.timeout_s) + _ALARM_GRACE_S)
        try:
            s = load_strategy(path)
        finally:
            signal.alarm(0)
        conn.send(("ok", Loaded(s.name, s.warmup, s.configs, s.sha256, s.line)))
    except StrategyError as exc:
        conn.send(("error", str(exc)))
        return 0
    except KeyboardInterrupt as exc:
        conn.send(("error", _raised_interrupt(exc, path, "while importing the strategy")))
        return 0
    bars = None
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return 0
        if msg[0] == "bars":
            _, (n_bars, n_paths), has_time = msg
            fields = [np.frombuffer(conn.recv_bytes(), np.float64).reshape(n_bars, n_paths) for _ in FIELDS]
            time = np.frombuffer(conn.recv_bytes(), np.int64) if has_time else None
            bars = PathBatch(*fields, time)  # read-only: backed by immutable bytes
            continue
        _, config, label, check_from = msg
        signal.alarm(math.ceil(limits.timeout_s) + _ALARM_GRACE_S)
        try:
            reply = ("ok", s.call(bars, config, label, check_from))
        except StrategyError as exc:
            reply = ("error", str(exc))
        except KeyboardInterrupt as exc:  # SIGINT is ignored here: the strategy raised it itself
            reply = ("error", _raised_interrupt(exc, path, f"positions ({label})"))
        finally:
            signal.alarm(0)
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("error", f"{path}: positions' output does not fit in --max-memory {limits.describe_memory()} "
                                f"({label}); use less memory or raise --max-memory"))


def _raised_interrupt(exc: BaseException, path: Path, where: str) -> str:
    from parallelverse.backtest.strategy import _exception_site

    return (f"{_exception_site(exc, path)}: KeyboardInterrupt raised by the strategy ({where}); a strategy must "
            "return its exposures, not raise KeyboardInterrupt")


def _address_space() -> int:
    """Bytes of address space this process maps now (VmSize)."""
    try:
        with open(f"/proc/{os.getpid()}/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when its parent dies (a killed `stress` leaves no strategy running)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        _REAL_EXIT(1)
