"""Strategy files: loading, the parameter grid, calling them safely, and the look-ahead check.

A strategy is a plain Python file defining

    def positions(bars, **params):   # -> target exposure, (n_bars, n_paths) float
        ...

where `bars` (a `parallelverse.bars.PathBatch`) has `open`, `high`, `low`, `close`,
`volume` as float64 arrays shaped (n_bars, n_paths) and `time` as (n_bars,) int64 ns. The exposure decided from bars
up to t is a fraction of equity (negative = short, 0 = flat). A long-only strategy
may instead return a pair `(entries, exits)` of boolean arrays of that shape.
Optional module-level names: `name` (default: the file's stem), `warmup` (bars of
real history needed before the horizon; default 0) and `params` (a dict of lists,
expanded into the grid of configurations that run side by side).

Every problem in the file is reported in one line with `file:line` and the
configuration and paths concerned — never a numpy or numba traceback. The bars a
strategy gets are read-only (writing into them is an error naming the line), and
`sys.exit` is an error, not an exit. `load_strategy(path, limits=Limits(...))` runs
the file in its own process (sandbox.py: timeout, memory cap, os._exit, Ctrl-C);
without `limits` it runs here, in the caller's process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import itertools
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from parallelverse.bars import PathBatch
from parallelverse.errors import ParallelverseError

# |exposure| at most this: a 10x short already loses the whole book on a +10% bar; beyond it the equity goes
# negative (shorts are not capped by cash, as in vectorbt) and every metric is nonsense
MAX_EXPOSURE = 10.0


class StrategyError(ParallelverseError):
    """The strategy file could not be loaded, or its output is unusable."""


@dataclass(frozen=True)
class Output:
    """A strategy's answer for one configuration: either a target exposure or entry/exit signals."""

    target: np.ndarray | None  # (n_bars, n_paths) float64
    signal: np.ndarray | None  # (n_bars, n_paths) int8: +1 entry, -1 exit, 0 nothing (entry and exit together cancel)

    @property
    def is_signals(self) -> bool:
        return self.signal is not None


@dataclass(frozen=True)
class Strategy:
    path: Path
    name: str
    warmup: int
    configs: tuple[dict, ...]  # the expanded params grid; one empty dict without params
    sha256: str
    fn: object  # the positions function (None when the strategy runs in its own process)
    line: int = 0  # first line of positions()
    process: object = field(default=None, repr=False, compare=False)  # sandbox.StrategyProcess, when contained

    def where(self) -> str:
        line = self.line or getattr(getattr(self.fn, "__code__", None), "co_firstlineno", 0)
        return f"{self.path}:{line}"

    def call(self, bars: PathBatch, config: dict, context: str, check_from: int = 0) -> Output:
        """Run positions(bars, **config) and validate what it returns.

        `context` names the data ("universe garch-gjr-t, paths 0-499") for messages;
        bars before `check_from` are not traded, so NaN there is allowed.
        """
        label = f"{context}{', config ' + _fmt(config) if config else ''}"
        if self.process is not None:  # the process's own Strategy adds the configuration to the label
            return self.process.call(bars, config, context, check_from)
        try:
            out = self.fn(read_only(bars), **config)
        except SystemExit as exc:
            how = "os._exit" if type(exc).__name__ == "_OsExit" else "sys.exit"
            raise StrategyError(f"{_exception_site(exc, self.path)}: positions called {how}({exc.code!r}) ({label}); "
                                "a strategy must return its exposures, never exit") from None
        except MemoryError as exc:
            raise StrategyError(f"{_exception_site(exc, self.path)}: MemoryError: positions ran out of memory ({label}); "
                                "use less memory (smaller arrays), or raise --max-memory") from None
        except Exception as exc:
            site, first = _exception_site(exc, self.path), _first_line(exc)
            if isinstance(exc, ValueError) and ("read-only" in first or "readonly" in first):
                raise StrategyError(f"{site}: positions writes into its input bars ({first}; {label}); the bars are "
                                    "read-only: work on a copy, e.g. close = bars.close.copy()") from None
            hint = ""
            if isinstance(exc, TypeError) and "positions()" in first and "argument" in first:
                if site == str(self.path):  # raised by the call itself: point at the def
                    site = self.where()
                hint = ("; every params key must be an argument of positions" if "keyword argument" in first else
                        "; positions gets the bars first, then one keyword argument per params key: "
                        "def positions(bars, **params)")
            raise StrategyError(f"{site}: {type(exc).__name__}: {first} (in positions, {label}){hint}") from None
        except KeyboardInterrupt:
            raise  # Ctrl-C, or the strategy's own (the sandbox names that one)
        except BaseException as exc:  # GeneratorExit or a BaseException subclass of the strategy's
            raise StrategyError(f"{_exception_site(exc, self.path)}: {type(exc).__name__}: {_first_line(exc)} (in "
                                f"positions, {label}); a strategy must return its exposures") from None
        return self._validate(out, bars.shape, label, check_from)

    def close(self) -> None:
        """Stop the strategy's process, if it has one."""
        if self.process is not None:
            self.process.close()

    def _validate(self, out, shape, label: str, check_from: int) -> Output:
        where = self.where()
        if isinstance(out, tuple):
            if len(out) != 2:
                raise StrategyError(f"{where}: positions returned a tuple of {len(out)}; return exposures, or (entries, exits) ({label})")
            entries, exits = (_as_array(x, where, label, nm) for x, nm in zip(out, ("entries", "exits")))
            for nm, a in (("entries", entries), ("exits", exits)):
                if a.shape != shape:
                    raise StrategyError(f"{where}: {nm} has shape {a.shape} but bars are {shape}; return one value per bar and path ({label})")
                if a.dtype != bool:
                    raise StrategyError(f"{where}: {nm} has dtype {a.dtype}; entries and exits must be boolean arrays ({label})")
            signal = entries.astype(np.int8) - exits.astype(np.int8)
            return Output(None, signal)
        a = _as_array(out, where, label)
        if a.shape != shape:
            raise StrategyError(
                f"{where}: positions returned shape {a.shape} but bars are {shape}; return one exposure per bar and path ({label})"
            )
        if a.dtype == bool:
            a = a.astype(np.float64)
        if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            raise StrategyError(f"{where}: positions returned dtype {a.dtype}; return real numbers (fractions of equity) "
                                f"({label})")
        a = np.ascontiguousarray(a, dtype=np.float64)
        bad = ~np.isfinite(a[check_from:])
        if bad.any():
            t, j = (int(x[0]) for x in np.nonzero(bad))
            raise StrategyError(
                f"{where}: positions returned {a[check_from + t, j]} at bar {check_from + t}, path {j} ({label}); "
                "exposures must be finite — return 0 for flat, or raise `warmup` if indicators are not ready"
            )
        big = np.abs(a[check_from:]) > MAX_EXPOSURE
        if big.any():
            t, j = (int(x[0]) for x in np.nonzero(big))
            raise StrategyError(
                f"{where}: positions returned {float(a[check_from + t, j])!r} at bar {check_from + t}, path {j} "
                f"({label}); exposures are fractions of equity from -{MAX_EXPOSURE:g} to {MAX_EXPOSURE:g} (1 = fully "
                "long; a long above 1 is filled only up to the cash, with no borrowing)"
            )
        return Output(a, None)


def read_only(bars: PathBatch) -> PathBatch:
    """The same bars as read-only views: a strategy cannot change the prices the next configuration sees."""
    def view(a):
        if a is None:
            return None
        v = a.view()
        v.flags.writeable = False
        return v

    return PathBatch(*(view(getattr(bars, f)) for f in ("open", "high", "low", "close", "volume")), view(bars.time))


def _fmt(config: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in config.items())


def _first_line(exc: BaseException) -> str:
    try:  # the strategy's own exception class: its __str__ may itself raise
        text = str(exc).strip()
    except BaseException:
        return "(its message could not be printed)"
    return text.splitlines()[0] if text else ""


def _exception_site(exc: BaseException, path: Path) -> str:
    """file:line of the deepest frame inside the strategy file."""
    site = f"{path}"
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            site = f"{path}:{frame.lineno}"
    return site


def _as_array(x, where: str, label: str, signal: str = "") -> np.ndarray:
    """An array of what positions returned: numpy arrays and what converts to one (pandas, lists); never a scalar,
    None, a mapping, text or a coroutine, and masked values are NaN (never traded at their hidden values)."""
    if inspect.iscoroutine(x) or inspect.isgenerator(x):
        x.close()  # no 'never awaited' warning
        raise StrategyError(f"{where}: positions returned a {type(x).__name__} ({label}); define it with a plain "
                            "`def` that returns the array (not async def, not yield)")
    scalar_like = not hasattr(x, "__array__") and (x is None or isinstance(x, (str, bytes, dict)) or np.ndim(x) == 0)
    if scalar_like:
        raise StrategyError(f"{where}: positions returned {type(x).__name__}, not an array ({label}); return one "
                            "exposure per bar and path, e.g. np.ones_like(bars.close)")
    try:
        if isinstance(x, np.ma.MaskedArray):
            x = np.ma.filled(x.astype(np.float64), np.nan)
        a = np.asarray(x)
    except Exception:
        raise StrategyError(f"{where}: positions returned {type(x).__name__}, not an array ({label})") from None
    if signal and a.dtype != bool:
        raise StrategyError(f"{where}: {signal} has dtype {a.dtype}; entries and exits must be boolean arrays ({label})")
    if a.dtype.kind not in "biuf":  # timedelta64, datetime64, object, text: not exposures
        raise StrategyError(f"{where}: positions returned dtype {a.dtype}; return real numbers (fractions of equity) "
                            f"({label})")
    return a


def load_strategy(path: str | Path, limits=None) -> Strategy:
    """Import a strategy file and check its contract; errors name file:line.

    limits: a `sandbox.Limits` to run the file in its own process (then call `close()`
    when done); None runs it in this process."""
    path = Path(path)
    if not path.exists():
        raise StrategyError(f"strategy file {str(path)!r} does not exist; see strategies/ for examples")
    if not path.is_file():
        what = "a directory" if path.is_dir() else "not a regular file (a device, pipe or socket)"
        raise StrategyError(f"strategy file {str(path)!r} is {what}; pass a .py file defining positions(bars) "
                            "(see strategies/)")
    if path.suffix != ".py":  # Python imports only .py files
        raise StrategyError(f"strategy file {str(path)!r} is not a .py file; a strategy is Python code defining "
                            "positions(bars) (see strategies/), saved with a .py name")
    if limits is not None:
        from parallelverse.backtest.sandbox import StrategyProcess

        proc = StrategyProcess(path, limits)
        got = proc.loaded
        return Strategy(path, got.name, got.warmup, got.configs, got.sha256, None, got.line, proc)
    source = path.read_bytes()
    module_name = f"parallelverse_strategy_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        sys.modules[module_name] = module  # numba and dataclasses look modules up by name
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        at = f"{path}:{exc.lineno}" if exc.lineno else str(path)
        raise StrategyError(f"{at}: SyntaxError: {exc.msg}; fix the strategy file") from None
    except SystemExit as exc:
        raise StrategyError(f"{_exception_site(exc, path)}: the strategy file exits while it is imported "
                            f"({exc.code!r}); remove the exit") from None
    except Exception as exc:
        raise StrategyError(f"{_exception_site(exc, path)}: {type(exc).__name__}: {_first_line(exc)} (while importing the strategy)") from None
    fn = getattr(module, "positions", None)
    if not callable(fn):
        raise StrategyError(f"{path}: defines no function `positions(bars, ...)`; add one that returns exposures (see README)")
    if not hasattr(fn, "__code__"):  # a class, functools.partial, a builtin or numba dispatcher
        fn = _plain_function(fn, path)
    name = getattr(module, "name", path.stem)
    if not isinstance(name, str) or not name or "/" in name:  # `stress` applies the store's full rule for names
        raise StrategyError(f"{path}: name = {name!r} must be a non-empty string without '/'")
    warmup = getattr(module, "warmup", 0)
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise StrategyError(f"{path}: warmup = {warmup!r} must be a non-negative integer number of bars")
    params = _check_params(getattr(module, "params", {}), path)
    keys = list(params)
    configs = tuple(dict(zip(keys, combo)) for combo in itertools.product(*(params[k] for k in keys))) or ({},)
    return Strategy(path, name, warmup, configs, hashlib.sha256(source).hexdigest(), fn,
                    getattr(getattr(fn, "__code__", None), "co_firstlineno", 0))


MAX_CONFIGS = 10_000  # every configuration runs on every path (and enters PBO/DSR); beyond this, narrow the grid


def _plain_function(fn, path: Path):
    """positions as something with code: a numba dispatcher's Python function is fine; a class or partial is not."""
    inner = getattr(fn, "py_func", None)
    if inner is not None and hasattr(inner, "__code__"):
        return fn
    raise StrategyError(f"{path}: positions is a {type(fn).__name__}, not a function; define it with "
                        "`def positions(bars, ...):` (see README)")


def _check_params(params, path: Path) -> dict:
    """params as plain values that the results can record: a dict of non-empty lists of numbers, text, booleans
    or None (numpy scalars become Python ones), no value twice in a list, at most MAX_CONFIGS combinations."""
    if not isinstance(params, dict) or not all(isinstance(v, (list, tuple)) and v for v in params.values()):
        raise StrategyError(f"{path}: params must be a dict of non-empty lists, e.g. {{'fast': [10, 20], 'slow': [50, 100]}}")
    out = {}
    for key, values in params.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise StrategyError(f"{path}: params key {key!r} must be the name of an argument of positions")
        clean = []
        for v in values:
            if isinstance(v, np.generic) and v.dtype.kind in "biuf":
                v = v.item()
            ok = v is None or isinstance(v, (bool, int, str)) or (isinstance(v, float) and np.isfinite(v))
            if not ok:
                raise StrategyError(f"{path}: params[{key!r}] holds {v!r} ({type(v).__name__}); values must be finite "
                                    "numbers, text, booleans or None (they are recorded with the results)")
            if any((type(v) is bool) == (type(c) is bool) and v == c for c in clean):  # 2 and 2.0 alike; True not 1
                raise StrategyError(f"{path}: params[{key!r}] lists {v!r} twice; list each value once")
            clean.append(v)
        out[key] = clean
    n = int(np.prod([len(v) for v in out.values()], dtype=np.float64)) if out else 1
    if n > MAX_CONFIGS:
        raise StrategyError(f"{path}: params expand to {n:,} configurations, more than {MAX_CONFIGS:,} (each runs on "
                            "every path); narrow the grid")
    return out


def _first_difference(a: Output, b: Output) -> tuple[int, int] | None:
    """(bar, path) of the first value where two outputs differ, or None."""
    x, y = _values(a), _values(b)
    if a.is_signals != b.is_signals or x.shape != y.shape:
        return (0, 0)
    same = _same(x, y)
    if same.all():
        return None
    t, j = (int(v[0]) for v in np.nonzero(~same))
    return t, j


def check_lookahead(strategy: Strategy, bars: PathBatch, config: dict, context: str, rng: np.random.Generator,
                    n_cuts: int = 3, check_from: int = 0, fresh: Strategy | None = None) -> None:
    """A decision at bar t may use bars up to t only: raises StrategyError naming the first bar whose value
    changes when later bars change — a strategy that peeks at the future.

    Three checks: the same bars twice give the same output; with `fresh` (the same file in a process that has
    seen no call, so nothing cached answers for it), one call on a batch holding, for every cut after the
    warm-up (up to MAX_FUTURE_CUTS in all), each path with the bars from the cut on mirrored about the close
    before it (rises become falls), must give the output on the unchanged bars before the cut; and outputs on
    `n_cuts` random prefixes must equal the prefix of the output on all bars.
    """
    full = strategy.call(bars, config, context, check_from)
    twice = strategy.call(bars, config, context + " (again)", check_from)
    diff = _first_difference(full, twice)
    if diff is not None:  # else every prefix would look like look-ahead
        t, j = diff
        raise StrategyError(
            f"{strategy.where()}: gives another output on the same bars when called again (bar {t}, path {j}; "
            f"{context}{', config ' + _fmt(config) if config else ''}); results must depend on the bars and params "
            "only: seed any randomness (np.random.default_rng(0)) and keep no state between calls")
    n = bars.shape[0]
    lo = check_from + 2  # prefixes shorter than the warm-up are not meaningful
    if n - lo < 2:
        return
    if fresh is not None:
        cut_of, path_of = _future_cuts(n, bars.shape[1], lo, rng)
        part = fresh.call(mirrored_after(bars, cut_of, path_of), config, context + " (later bars mirrored)", check_from)
        before = np.arange(n)[:, None] < cut_of[None, :]
        _same_or_raise(strategy, bars, config, context, _values(full)[:, path_of], _values(part), before,
                       lambda k: f"bars from bar {cut_of[k]} on are mirrored", path_of)
    cuts = sorted(set(rng.integers(lo, n, size=n_cuts).tolist()))
    for cut in cuts:
        part = strategy.call(bars.head(cut), config, context + f" (first {cut} bars)", min(check_from, cut))
        _same_or_raise(strategy, bars, config, context, _values(full)[:cut], _values(part), None,
                       lambda k, cut=cut: f"bars after bar {cut - 1} are removed", None)


MAX_FUTURE_CUTS = 256  # columns of the mirrored-future batch, over all paths


def _values(out: Output) -> np.ndarray:
    return out.signal if out.is_signals else out.target


def _same(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Elementwise: equal outputs (exposures within floating-point noise, NaN equal to NaN; signals exactly)."""
    return np.isclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True) if x.dtype.kind == "f" else x == y


def _future_cuts(n: int, m: int, lo: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(cut, path) of each column: every cut in [lo, n) of every path, or a seeded sample of them per path."""
    per_path = max(1, MAX_FUTURE_CUTS // m)
    cut_of, path_of = [], []
    for j in range(m):
        cuts = np.arange(lo, n) if n - lo <= per_path else np.sort(rng.choice(np.arange(lo, n), per_path, replace=False))
        cut_of.append(cuts)
        path_of.append(np.full(len(cuts), j))
    return np.concatenate(cut_of), np.concatenate(path_of)


def mirrored_after(bars: PathBatch, cut_of: np.ndarray, path_of: np.ndarray) -> PathBatch:
    """Column k: path path_of[k] with every bar from cut_of[k] on mirrored in log price about the close before it
    (high and low swap roles; volume kept). Bars before the cut are unchanged."""
    after = np.arange(bars.shape[0])[:, None] >= cut_of[None, :]
    anchor = bars.close[cut_of - 1, path_of][None, :] ** 2

    def col(f: str, mirror: str) -> np.ndarray:
        x = getattr(bars, f)[:, path_of]
        return np.ascontiguousarray(np.where(after, anchor / getattr(bars, mirror)[:, path_of], x))

    return PathBatch(col("open", "open"), col("high", "low"), col("low", "high"), col("close", "close"),
                     np.ascontiguousarray(bars.volume[:, path_of]), bars.time)


def _same_or_raise(strategy: Strategy, bars: PathBatch, config: dict, context: str, a: np.ndarray, b: np.ndarray,
                   where: np.ndarray | None, how, path_of: np.ndarray | None) -> None:
    same = _same(a, b)
    if where is not None:
        same |= ~where
    if same.all():
        return
    t, k = (int(x[0]) for x in np.nonzero(~same))
    j = k if path_of is None else int(path_of[k])
    when = str(np.datetime64(int(bars.time[t]), "ns"))[:19].replace("T00:00:00", "")
    raise StrategyError(
        f"{strategy.where()}: looks ahead — its output at bar {t} ({when}, path {j}) changes when {how(k)} "
        f"({context}{', config ' + _fmt(config) if config else ''}); a decision at bar t may use bars up to t only"
    )


def find_strategy(recorded: str, sha256: str, near: Path, limits=None) -> Strategy:
    """Load the strategy file that produced results, wherever the caller runs from.

    Looks at the recorded path, then for a file of that name in the working directory
    and beside `near` (the store); the first whose sha256 matches the recorded one is
    the strategy. A file found with other contents means it changed since `stress`."""
    rec = Path(recorded)
    candidates = [rec]
    if not rec.is_absolute():
        candidates.append(near.parent / rec)
    candidates += [Path.cwd() / rec.name, near.parent / rec.name, near / rec.name]
    changed = None
    for c in candidates:
        try:
            data = c.read_bytes() if c.is_file() else None
        except OSError:
            data = None
        if data is None:
            continue
        if hashlib.sha256(data).hexdigest() == sha256:
            return load_strategy(c, limits)
        changed = changed or c
    if changed is not None:
        raise StrategyError(f"{changed} changed since `stress` wrote these results; rerun "
                            f"`parallelverse stress {changed} --store {near}` first")
    raise StrategyError(f"strategy file {recorded} (which `stress` ran) is not there any more, nor {rec.name} in the "
                        f"working directory or beside the store; put it back, or rerun `parallelverse stress` with it")
