"""Strict inputs: the bounds of every number a user can give, and the checks on output paths.

One `Bound` per option, written once here and used by the CLI (as a click type, in
cli/options.py), by scenario files and by `plan_generate` for callers of the API,
so `--temperature nan` is refused the same way wherever it comes from. Every check
raises an InputError with one line: the option, the offending value and the fix.

A leaf module (standard library only) so `--help` stays instant.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from parallelverse.errors import InputError
from parallelverse.files import is_our_page

MIN_CONTEXT_BARS = 100  # below this GARCH fits and block-length estimates are unreliable
DEFAULT_CONTEXT_BARS = 400
DEFAULT_HORIZON_BARS = 252  # one trading year: through the 2020 crash and recovery


@dataclass(frozen=True)
class Bound:
    """A numeric option: its type, its valid range, and an example for the fix."""

    option: str  # "--temperature": how the user spells it on the command line
    kind: type  # int or float
    example: str  # a good value, shown in the fix
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # True: lo itself is excluded
    hi_open: bool = False
    meaning: str = ""  # what the value is, e.g. "bars per synthetic path"

    def describe(self) -> str:
        what = "a whole number" if self.kind is int else "a finite number"
        if self.lo is not None and self.hi is not None and not self.lo_open and not self.hi_open:
            rng = f" from {self.lo:,g} to {self.hi:,g}" if self.kind is float else f" from {int(self.lo):,} to {int(self.hi):,}"
        elif self.lo is not None and self.hi is not None:
            rng = f" in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"
        elif self.lo is not None:
            rng = f" {'>' if self.lo_open else '>='} {self.lo:g}"
        elif self.hi is not None:
            rng = f" {'<' if self.hi_open else '<='} {self.hi:g}"
        else:
            rng = ""
        return what + rng + (f" ({self.meaning})" if self.meaning else "")

    def parse(self, text: str) -> int | float:
        """A command-line string -> the checked value."""
        raw = str(text).strip()
        try:
            value = int(raw.replace("_", "")) if self.kind is int else float(raw)
        except ValueError:
            raise self._error(f"{self.option} {raw!r}", f"is not {'a whole number' if self.kind is int else 'a number'}",
                              *self._in_digits(raw)) from None
        return self.check(value, f"{self.option} {raw}")

    def check(self, value, label: str | None = None, example: str | None = None) -> int | float:
        """A parsed value (CLI, scenario file or API) -> the value as `kind`; raise InputError if outside the bound.

        `label` names where the value came from, e.g. "covid.toml: temperature = nan";
        by default "--option value"; `example` replaces "--option EXAMPLE" in the fix (a value given another way,
        e.g. --set kronos.temperature=1.0)."""
        label = label or f"{self.option} {value}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._error(label, example=example, problem=f"is not {'a whole number' if self.kind is int else 'a number'}")
        if self.kind is int and isinstance(value, float):
            if not value.is_integer():
                raise self._error(label, example=example, problem="is not a whole number")
            value = int(value)
        if not math.isfinite(value):
            raise self._error(label, example=example, problem="is not a finite number")
        value = self.kind(value)
        below = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        above = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        if below or above:
            raise self._error(label, example=example, problem="is out of range")
        return value

    def _in_digits(self, raw: str) -> tuple[str, str | None]:
        """For a whole number in float notation (1e3, 1e9): say so, and suggest it in digits (or the bound it passes)."""
        try:
            f = float(raw)
        except ValueError:
            return "", None
        if self.kind is not int or not math.isfinite(f) or not f.is_integer():
            return "", None
        v = int(f)
        for bound, side, beyond in ((self.hi, "above the largest", v > (self.hi or 0)),
                                    (self.lo, "below the smallest", v < (self.lo or 0))):
            if bound is not None and beyond:
                return f" written in digits, and {v:,} is {side} allowed, {int(bound):,}", f"{self.option} {int(bound)}"
        return " written in digits", f"{self.option} {v}"

    def _error(self, label: str, problem: str, detail: str = "", example: str | None = None) -> InputError:
        return InputError(f"{label} {problem}{detail}; use {self.describe()}, e.g. "
                          f"{example or f'{self.option} {self.example}'}")


# generate (and scenario files: their keys map onto these options)
CONTEXT_BARS = Bound("--context", int, "400", lo=MIN_CONTEXT_BARS, hi=1_000_000, meaning="bars of real context")
HORIZON_BARS = Bound("--horizon", int, "252", lo=1, hi=100_000, meaning="bars per synthetic path")
N_PATHS = Bound("--n-paths", int, "2000", lo=1, meaning="paths per generator")  # disk space is checked separately
CHUNK_PATHS = Bound("--chunk-paths", int, "500", lo=1, hi=1_000_000, meaning="paths per stored chunk")
SEED = Bound("--seed", int, "0", lo=0, hi=2**63 - 1)
# Below 0.01 float32 logits / T overflow to inf (NaN probabilities); above 100 sampling is uniform noise.
TEMPERATURE = Bound("--temperature", float, "1.0", lo=0.01, hi=100.0, meaning="sampling temperature")
TOP_K = Bound("--top-k", int, "50", lo=0, hi=1_000_000, meaning="0 = off")
TOP_P = Bound("--top-p", float, "0.9", lo=0.0, hi=1.0, lo_open=True, meaning="1 = off")


def check_sampling(generator: str, temperature, top_k, top_p) -> None:
    """A model generator's sampling settings, however they arrived (--temperature, --set, a scenario, the API):
    the same bounds as the options."""
    for bound, key, value in ((TEMPERATURE, "temperature", temperature), (TOP_K, "top_k", top_k),
                              (TOP_P, "top_p", top_p)):
        bound.check(value, f"{generator} {key}={value}", example=f"--set {generator}.{key}={bound.example}")

# Ready for stress, report, train and calibrate: apply as `type=Checked(inputs.FEES_BPS)` in their CLI modules.
# costs above 10% of notional per trade are not a market; a book below 1 currency unit trades below the
# backtester's absolute tolerance (1e-12, vectorbt's) and silently stops trading
FEES_BPS = Bound("--fees", float, "1", lo=0.0, hi=1_000.0, meaning="bps of traded notional")
SLIPPAGE_BPS = Bound("--slippage", float, "2", lo=0.0, hi=1_000.0, meaning="bps of the fill price")
INIT_CASH = Bound("--init-cash", float, "100000", lo=1.0, hi=1e15, meaning="currency units")
N_NULL = Bound("--n-null", int, "1000", lo=19, hi=1_000_000, meaning="paths per null market; p >= 1/(B+1)")
N_PLANT = Bound("--n-plant", int, "60", lo=2, hi=10_000, meaning="planted futures per universe")
EDGE_SHARPE = Bound("--edge", float, "1.5", lo=0.0, hi=100.0, meaning="planted edge, annualised Sharpe")
TIMEOUT_S = Bound("--timeout", float, "60", lo=0.0, lo_open=True, hi=86_400.0, meaning="seconds per strategy call")
MAX_MEMORY_GB = Bound("--max-memory", float, "4", lo=0.1, hi=1e6, meaning="GB a strategy call may allocate")
LOOKBACK = Bound("--lookback", int, "90", lo=1, hi=100_000, meaning="bars of context per training window")
PREDICT = Bound("--predict", int, "10", lo=1, hi=100_000, meaning="bars predicted per training window")
STRIDE = Bound("--stride", int, "5", lo=1, hi=100_000, meaning="bars between window starts")
STEPS = Bound("--steps", int, "2000", lo=1, hi=100_000_000, meaning="optimiser steps per stage")
BATCH_SIZE = Bound("--batch-size", int, "32", lo=1, hi=1024, meaning="windows per optimiser step")  # more: GBs of activations
EVAL_EVERY = Bound("--eval-every", int, "200", lo=1, hi=100_000_000)
LR_TOKENIZER = Bound("--lr-tokenizer", float, "2e-3", lo=0.0, lo_open=True, hi=1.0, meaning="learning rate")
LR_PREDICTOR = Bound("--lr-predictor", float, "1e-3", lo=0.0, lo_open=True, hi=1.0, meaning="learning rate")
PATIENCE = Bound("--patience", int, "0", lo=0, hi=1_000_000, meaning="evaluations without improvement; 0 = off")
THREADS = Bound("--threads", int, "2", lo=1, hi=1024, meaning="torch CPU threads")
WORKERS = Bound("--workers", int, "2", lo=1, hi=1024, meaning="cells in parallel")

# Fields per stored bar (open, high, low, close, volume) x 8 bytes of float64.
BYTES_PER_BAR = 5 * 8
FILE_BLOCK_BYTES = 4096  # the smallest a file takes on disk on common file systems
MAX_CHUNK_FIELD_BYTES = 512 * 2**20  # one field of one chunk in memory: keeps a chunk's five fields ~2.5 GB


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def existing_ancestor(path: Path) -> Path:
    """The nearest existing path at or above `path` (absolute)."""
    p = Path(os.path.abspath(path))
    while not p.exists() and not p.is_symlink() and p != p.parent:
        p = p.parent
    return p


def _reason(code: int) -> str:
    return {
        errno.EROFS: "is on a read-only file system",
        errno.EACCES: "is not writable (permission denied)",
        errno.ENOTDIR: "is not a directory",
        errno.ENOSPC: "is on a virtual file system with no storage (like /sys or /proc)",
    }.get(code, os.strerror(code))


def check_output_path(path: str | Path, option: str, kind: str, inputs: tuple[str | Path, ...] = (),
                      example: str | None = None) -> Path:
    """Refuse an output path that cannot or must not be written, before any work.

    `kind` is "dir" (a store or checkpoint directory) or "file" (an HTML report).
    Refused: the working directory or a directory above it, any input file, a place
    inside a store or inside the installed package, an existing path of the wrong kind,
    a parent that is a file, and a location that is read-only or not writable. Returns
    the path as given."""
    example = example or ("out.zarr" if kind == "dir" else "report.html")  # what this command writes
    if str(path).strip() == "":
        raise InputError(f"{option} is empty; pass a path, e.g. {option} {example}")
    check_outside_stores(path, option, kind, example)
    check_outside_package(path, option, example)
    path = Path(path)
    # A page is written through a symbolic link (the link stays, what it names is checked and replaced).
    target = Path(os.path.realpath(path) if kind == "file" else os.path.abspath(path))
    fix = f"choose another {option}"
    cwd = Path.cwd().resolve()
    resolved = target.resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise InputError(f"{option} {str(path)!r} is the working directory or one above it; {fix}, e.g. {option} {example}")
    for i in inputs:
        if i is not None and Path(i).exists() and Path(i).resolve() == resolved:
            raise InputError(f"{option} {str(path)!r} is the input data file; {fix}")
    if target.exists():
        if kind == "dir" and not target.is_dir():
            raise InputError(f"{option} {str(path)!r} is an existing file, not a directory; {fix}")
        if kind == "file" and target.is_dir():
            raise InputError(f"{option} {str(path)!r} is a directory; pass a file name, e.g. {option} report.html")
        if kind == "file" and not is_our_page(target):  # only a page we wrote is replaced
            raise InputError(f"{option} {str(path)!r} exists and is not a page parallelverse wrote; {fix} "
                             "(it is left as it is)")
    base = existing_ancestor(target.parent)
    if not base.is_dir():
        raise InputError(f"{option} {str(path)!r}: {str(base)!r} {_reason(errno.ENOTDIR)}; {fix}")
    code = writable_error(base)
    if code:
        raise InputError(f"{option} {str(path)!r}: {str(base)!r} {_reason(code)}; {fix}")
    return path


def check_outside_stores(path: str | Path, option: str, kind: str, example: str | None = None) -> None:
    """Refuse an output name with control characters, and one inside a parallelverse store (it would become a
    file the store does not know, which a later --overwrite refuses to delete). `example`: a name to suggest."""
    example = example or ("out.zarr" if kind == "dir" else "report.html")
    bad = next((c for c in str(path) if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise InputError(f"{option} {str(path)!r} holds a control character ({bad!r}); choose a plain name, "
                         f"e.g. {option} {example}")
    store = store_above(Path(os.path.abspath(path)))
    if store is not None:
        raise InputError(f"{option} {str(path)!r} is inside the parallelverse store {str(store)!r}; write it beside "
                         f"the store, e.g. {option} {store.parent / example}")


def store_above(target: Path) -> Path | None:
    """The parallelverse store that holds `target` (strictly above it), if any."""
    from parallelverse.store.history import FORMAT_FAMILY

    for parent in Path(os.path.realpath(target)).parents:
        try:
            meta = json.loads((parent / "zarr.json").read_text())
        except (OSError, ValueError):
            continue
        fmt = meta.get("attributes", {}).get("format") if isinstance(meta, dict) else None
        if isinstance(fmt, str) and fmt.startswith(FORMAT_FAMILY):
            return parent
    return None


def check_outside_package(path: str | Path, option: str, example: str) -> None:
    """Refuse an output inside the installed parallelverse package's own folder (its code and bundled data)."""
    package = Path(__file__).resolve().parent
    target = Path(os.path.realpath(path))
    if target == package or package in target.parents:
        raise InputError(f"{option} {str(path)!r} is inside the parallelverse package ({str(package)!r}); write "
                         f"outside it, e.g. {option} {example}")


def writable_error(directory: Path) -> int:
    """0 if a file can be created in `directory`, else the errno that would stop it."""
    try:
        st = os.statvfs(directory)
    except (OSError, AttributeError):
        st = None
    if st is not None and st.f_flag & os.ST_RDONLY:
        return errno.EROFS
    if not os.access(directory, os.W_OK | os.X_OK):
        return errno.EACCES
    if st is not None and st.f_blocks == 0 and Path(directory).resolve().parts[1:2] in (("sys",), ("proc",)):
        return errno.ENOSPC  # a kernel's view, not storage
    return 0


def tree_bytes(path: Path) -> int:
    """Bytes of every file under `path` (0 when it does not exist)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def free_bytes(path: str | Path) -> int:
    """Free bytes on the file system that holds (or will hold) `path`."""
    base = existing_ancestor(Path(path))
    return shutil.disk_usage(base if base.is_dir() else base.parent).free
