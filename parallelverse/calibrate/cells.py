"""Plan the symbol x window x generator cells, run one cell, keep its result as a small JSON file.

A cell is what `parallelverse generate --seed-window W --symbol S --generators G --seed
SEED --n-paths N --horizon H` would produce (the same specs, the one fit seam
`fit_generator`, `fitted.sample(H, seed, 0, N)`), scored against the realized bars at
every requested horizon h <= H on the prefix of the same paths. Results live under
`--out` as one JSON file per cell, named by the cell's identity (symbol, window,
generator, its parameters, the model's weights, context, horizons, paths, seed and a
digest of the real bars) and written atomically (temp file + os.replace): a killed run
leaves only whole cells, a rerun computes only the missing ones, and a cell's numbers do
not depend on when, where or in which worker it ran. Calibration results are not
universes: no paths are stored, so calibrate never needs zarr.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from parallelverse.files import write_text_atomic
from parallelverse.inputs import (BYTES_PER_BAR, CONTEXT_BARS, HORIZON_BARS, MAX_CHUNK_FIELD_BYTES, MIN_CONTEXT_BARS, SEED,
                                  check_output_path, fmt_bytes, store_above)
from parallelverse.jsonsafe import strict_json
from parallelverse.calibrate.scores import facts_inside, first_bar_scores, score_horizon
from parallelverse.errors import CalibrateError, ParallelverseError, WindowError
from parallelverse.generators import MODEL_GENERATORS, Generator, make_generator, model_digest, params_of
from parallelverse.generators.training_span import TrainingSpan, training_span
from parallelverse.window import SeedSplit, parse_seed_window, split_at_window

SCORE_VERSION = 3  # 2: stylized facts on equal lengths (fidelity.fact_bands); 3: the data's own year (trading_calendar); bump when a score's definition changes (or a generator's paths change under the same parameters): old cell files are then not reused
REFERENCE = "garch"  # CRPS skill and the Diebold-Mariano test are against this generator's default spec
MIN_FACTS_HORIZON = 63  # stylized facts of shorter paths say nothing (20-bar kurtosis needs 100 bars)


@dataclass(frozen=True)
class CalibrateRequest:
    """What the user asked for; CLI options and scenario keys map one to one onto these fields."""

    data: str | None = None  # CSV / Parquet path; None = the bundled stocks_daily
    symbols: tuple[str, ...] | None = None  # None = every symbol in the data
    windows: str = "2016-01:2022-07"  # START:END seed-window months (YYYY-MM or YYYY), END included
    every: str = "3M"  # spacing of the windows: NM months or NY years
    horizons: tuple[int, ...] = (21, 63, 252)  # bars; the longest is generated, shorter ones scored on its prefix
    generators: tuple[str, ...] = ("garch", "bootstrap")
    generator_params: dict = field(default_factory=dict)  # generator name -> {param: value}
    model: str | None = None  # model generators: Hub id or directory (as generate --model)
    n_paths: int = 500
    seed: int = 0
    context_bars: int = 400
    out: str = "calibration"
    workers: int | None = None  # None = min(2, cpu count)
    include_in_sample: bool = False  # score cells whose horizon overlaps a model's training data
    accept_splits: bool = False  # as generate --accept-splits: take jumps that look like unadjusted splits as real


@dataclass(frozen=True)
class Cell:
    """One symbol x window x generator: everything a worker needs, picklable."""

    symbol: str
    window: str
    generator: str  # generator family (garch, kronos, ...)
    spec: Generator
    split: SeedSplit  # context + realized future for the longest horizon
    horizons: tuple[int, ...]
    n_paths: int
    seed: int
    key: str  # sha256 prefix of the cell's identity
    path: Path  # its JSON file
    in_sample: tuple[bool, ...]  # per horizon: overlaps the model's training span
    model_digest: str | None = None  # sha256 of a local model's files (the Hub id for Hub models); None: no model

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class CalibratePlan:
    request: CalibrateRequest
    cells: tuple[Cell, ...]
    spans: dict  # universe name -> TrainingSpan.describe() or None
    every_months: int
    out: Path
    workers: int
    reference: str  # universe name of the reference GARCH


def window_specs(windows: str, every: str) -> tuple[list[str], int]:
    """Month windows START..END (inclusive) every N months -> (["2020-01", "2020-04", ...], N)."""
    m = re.fullmatch(r"\s*(\d+)\s*([MmYy])\s*", str(every))
    if not m or int(m.group(1)) < 1:
        raise CalibrateError(f"--every {every!r} should be a number of months or years, e.g. 1M, 3M or 1Y")
    step = int(m.group(1)) * (12 if m.group(2).lower() == "y" else 1)
    left, colon, right = str(windows).partition(":")
    if colon and not right.strip() and left.strip():
        raise CalibrateError(f"--windows {windows!r} has no END; write START:END (END included), e.g. "
                             f"--windows {left.strip()}:2022-09, or one month alone, e.g. --windows {left.strip()}")
    pat = re.compile(r"^\s*(\d{4})(?:-(\d{2}))?\s*$")
    a, b = pat.match(left), pat.match(right or left)
    if not a or not b:
        raise CalibrateError(f"--windows {windows!r} should be START:END in months, e.g. 2020-01:2022-09")
    start = int(a.group(1)) * 12 + int(a.group(2) or 1) - 1
    end = int(b.group(1)) * 12 + int(b.group(2) or 12) - 1
    if not colon:
        end = start if a.group(2) else end
    if not (1 <= int(a.group(2) or 1) <= 12 and 1 <= int(b.group(2) or 12) <= 12):
        raise CalibrateError(f"--windows {windows!r} has a month outside 01-12; e.g. 2020-01:2022-09")
    if end < start:
        raise CalibrateError(f"--windows {windows!r} ends before it starts; write START:END with START first")
    return [f"{k // 12:04d}-{k % 12 + 1:02d}" for k in range(start, end + 1, step)], step


def _specs(req: CalibrateRequest) -> list[tuple[str, Generator]]:
    """(family, spec) pairs with generate's semantics, plus the reference GARCH when it is missing."""
    from parallelverse.generate import GenerateRequest, _specs as generate_specs, check_distinct

    unused = set(req.generator_params) - set(req.generators)
    if unused:
        names = ", ".join(sorted(unused))
        ref = (f"the reference {REFERENCE} always runs with its defaults, so " if REFERENCE in unused else "")
        raise CalibrateError(f"parameters given for {names} but it is not among the generators "
                             f"({', '.join(req.generators)}); {ref}add {names} to --generators to score one with these "
                             "parameters, or drop them")
    greq = GenerateRequest(seed_window="-", generators=tuple(req.generators), generator_params=req.generator_params,
                           model=req.model)
    specs = list(generate_specs(greq))
    ref = make_generator(REFERENCE)
    if ref.name not in {g.name for _, g in specs}:
        specs.append((REFERENCE, ref))
    check_distinct(specs)
    return specs



def _cell_key(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


MAX_WORKERS = 256  # local worker processes; more is a typo (a cluster is --cluster)


def plan_calibrate(req: CalibrateRequest) -> CalibratePlan:
    """Validate everything (nothing is written); raise a one-line ParallelverseError on the first problem.

    Every window of every symbol is checked (bars, context, realized future, suspected unadjusted splits) before
    any cell runs: a cell is exactly what generate would make for it, or the run does not start."""
    from parallelverse.market import find_unadjusted_splits, load_market, splits_error

    SEED.check(req.seed)  # one bound for generate and calibrate
    if isinstance(req.n_paths, bool) or not isinstance(req.n_paths, int) or req.n_paths < 2:
        raise CalibrateError(f"--n-paths {req.n_paths} must be at least 2 (a PIT needs an ensemble)")
    CONTEXT_BARS.check(req.context_bars)
    if not req.horizons or min(req.horizons) < 1:
        raise CalibrateError(f"--horizon {','.join(map(str, req.horizons))} must be bar counts >= 1, e.g. 21,63,252")
    if len(set(req.horizons)) != len(req.horizons):
        raise CalibrateError(f"--horizon {','.join(map(str, req.horizons))} repeats a horizon; list each once")
    if req.symbols is not None and len({s.lower() for s in req.symbols}) != len(req.symbols):
        raise CalibrateError(f"--symbols {','.join(req.symbols)} repeats a symbol (its cells would count twice); "
                             "list each once")
    workers = req.workers if req.workers is not None else min(2, os.cpu_count() or 1)
    if not 1 <= workers <= MAX_WORKERS:
        raise CalibrateError(f"--workers {workers} must be from 1 to {MAX_WORKERS}")
    if not req.generators:
        raise CalibrateError("no generators chosen; pass e.g. --generators garch,bootstrap")
    if max(req.horizons) > HORIZON_BARS.hi:
        raise CalibrateError(f"--horizon {max(req.horizons)} is more than {HORIZON_BARS.hi:,} bars; use a shorter horizon")
    out = check_out(req.out)
    windows, step = window_specs(req.windows, req.every)
    horizons = tuple(sorted(req.horizons))
    longest = horizons[-1]
    check_cell_memory(req.n_paths, longest)
    specs = _specs(req)
    market = load_market(req.data)
    symbols = req.symbols or tuple(market.symbols)
    selected = [market.select(symbol) for symbol in symbols]
    splits = {}
    for data in selected:  # every window of every symbol, before the costly checks and before any cell
        for w in windows:
            split = _split(data, w, req, horizons, windows[0])
            found = find_unadjusted_splits(split.history)  # generate's check, on the same bars (context + future)
            if found and not req.accept_splits:
                raise CalibrateError(f"{data.symbol}, window {w} (--windows {req.windows}): "
                                     f"{splits_error(data.source, found)}") from None
            splits[data.symbol, w] = split
    for _, g in specs:  # costly checks (loading models) before anything is written
        if hasattr(g, "check_context"):
            g.check_context(req.context_bars)
        if hasattr(g, "prepare"):
            g.prepare()
    spans = {g.name: training_span(g) for _, g in specs}
    digests = {g.name: model_digest(g) for _, g in specs}
    cells = []
    for data in selected:
        for w in windows:
            split = splits[data.symbol, w]
            times = pd.DatetimeIndex(split.horizon_time.astype("datetime64[ns]"))
            for family, g in specs:
                span: TrainingSpan | None = spans[g.name]
                ins = tuple(bool(span is not None and span.overlaps(times[0], times[h - 1])) for h in horizons)
                identity = {"symbol": data.symbol, "window": w, "universe": g.name, "params": params_of(g),
                            "model": digests[g.name], "context_bars": req.context_bars, "horizons": horizons,
                            "n_paths": req.n_paths, "seed": req.seed, "bars": split.history.digest(),
                            "version": SCORE_VERSION}
                key = _cell_key(identity)
                cells.append(Cell(data.symbol, w, family, g, split, horizons, req.n_paths, req.seed, key,
                                  out / "cells" / cell_file_name(data.symbol, w, g.name, key), ins, digests[g.name]))
    return CalibratePlan(req, tuple(cells), {k: (v.describe() if v else None) for k, v in spans.items()}, step, out,
                         workers, make_generator(REFERENCE).name)


MAX_NAME_PREFIX = 96  # bytes of the readable part of a cell's file name (the key makes it unique): far below 255


def cell_file_name(symbol: str, window: str, universe: str, key: str) -> str:
    """<symbol>_<window>_<universe>_<key>.json, the readable part cut to MAX_NAME_PREFIX bytes: a long symbol or
    generator label never makes a name the file system refuses (the key alone identifies the cell)."""
    readable = re.sub(r"[^0-9A-Za-z.-]+", "_", f"{symbol}_{window}_{universe}")[:MAX_NAME_PREFIX].lstrip(".-")
    return f"{readable}_{key}.json"


def check_out(path: str) -> Path:
    """--out: a directory calibrate may fill with cells/: not a file, the working directory, / or above, a
    parallelverse store (at its root or inside it), nor inside the installed package."""
    if not str(path).strip():
        raise CalibrateError("--out is empty; pass a directory for the cell results, e.g. --out calibration")
    if Path(path).exists() and not Path(path).is_dir():
        raise CalibrateError(f"--out {path!r} is a file; give a directory for the cell results, e.g. --out calibration")
    out = check_output_path(path, "--out", "dir", example="calibration")  # not the working directory, / or above, nor inside a store
    store = store_above(Path(os.path.abspath(out)) / "cells")
    if store is not None and store == Path(os.path.realpath(out)):
        raise CalibrateError(f"--out {str(path)!r} is a parallelverse store (cells/ would go inside it); choose a "
                             f"directory beside it, e.g. --out {Path(os.path.abspath(out)).parent / 'calibration'}")
    return out


def check_cell_memory(n_paths: int, longest: int) -> None:
    """A cell samples all its paths at once (as generate samples one chunk): each field of the batch must fit
    generate's bound on a chunk's field in memory; refused before any cell, with the largest --n-paths that fits."""
    field_bytes = n_paths * longest * 8
    if field_bytes > MAX_CHUNK_FIELD_BYTES:
        fit = MAX_CHUNK_FIELD_BYTES // (longest * 8)
        raise CalibrateError(
            f"--n-paths {n_paths:,} would hold about {fmt_bytes(n_paths * longest * BYTES_PER_BAR)} in memory per cell "
            f"({n_paths:,} paths x {longest} bars x 5 fields x 8 B; a cell's paths are sampled at once, one cell per "
            f"worker); use --n-paths {fit:,} or fewer, or a shorter --horizon")


def _month(w: str) -> tuple[int, int]:
    return int(w[:4]), int(w[5:7])


def _split(data, w: str, req: CalibrateRequest, horizons: tuple[int, ...], first_window: str) -> SeedSplit:
    """The seed split of one window, or a one-line error in calibrate's own options (--windows, --context,
    --horizon), never generate's."""
    dates = data.dates()
    first, last = dates[0], dates[-1]
    span = f"{data.symbol} in {data.source} runs {first.date()} to {last.date()}"
    month, lo_m, hi_m = _month(w), (first.year, first.month), (last.year, last.month)
    if not lo_m <= month <= hi_m:
        raise CalibrateError(f"window {w} (--windows {req.windows}) has no bars: {span}; choose --windows inside "
                             f"{first.year:04d}-{first.month:02d}:{last.year:04d}-{last.month:02d}")
    window = parse_seed_window(w)
    inside = np.flatnonzero((dates >= window.start) & (dates < window.end))
    if len(inside) == 0:
        before = dates[dates < window.start][-1].date()
        after = dates[dates >= window.end][0].date()
        raise CalibrateError(f"window {w} (--windows {req.windows}) has no bars of {data.symbol} (the data jumps from "
                             f"{before} to {after}); choose --windows and --every that skip {w}, or fill the data")
    cut = int(inside[-1])
    ctx = req.context_bars
    if len(dates) < ctx:
        raise CalibrateError(f"--context {ctx} is more than the {len(dates)} bars of {data.symbol} in {data.source}; "
                             f"use --context {len(dates)} or fewer" if len(dates) >= MIN_CONTEXT_BARS else
                             f"{span}: {len(dates)} bars, fewer than the {MIN_CONTEXT_BARS} of context calibrate needs; "
                             "give more data")
    if cut + 1 < ctx:
        e = dates[ctx - 1]
        other = f", or --context {cut + 1}" if cut + 1 >= MIN_CONTEXT_BARS else ""
        raise CalibrateError(f"window {w} leaves {cut + 1} bars of context for {data.symbol} in {data.source} "
                             f"(--context {ctx}); start --windows at {e.year:04d}-{e.month:02d} or later{other}")
    available = len(dates) - cut - 1
    if horizons[-1] > available and w == first_window:  # the window with the most bars after it
        raise CalibrateError(
            f"--horizon {horizons[-1]:,} is longer than the {available:,} bars of {data.symbol} after window {w} (data "
            f"end {last.date()}): calibrate scores only against realized bars; use --horizon {available:,} or shorter"
            if available >= 1 else
            f"window {w} (--windows {req.windows}) leaves no realized bars of {data.symbol} (data end {last.date()}); "
            "end --windows earlier")
    if available < horizons[0]:
        raise CalibrateError(
            f"window {w} leaves {available} realized bars of {data.symbol} (data end {last.date()}), fewer than "
            f"--horizon {horizons[0]}; end --windows earlier or shorten the horizon")
    try:
        return split_at_window(data, window, ctx, horizons[-1])
    except WindowError as exc:  # not expected after the checks above; still said with calibrate's options named
        raise CalibrateError(f"{exc} (calibrate: window {w} of --windows {req.windows})") from None


def write_json_atomic(path: Path, obj) -> None:
    """Write strict JSON to a temp file beside `path`, then os.replace: readers see all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(strict_json(obj), allow_nan=False, sort_keys=True, indent=1))


def _content_digest(doc: dict) -> str:
    """sha256 of a cell record without its own digest (JSON floats round-trip exactly, so a read record that
    was not changed gives the digest it was written with)."""
    body = {k: v for k, v in doc.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, allow_nan=False, sort_keys=True).encode()).hexdigest()


def read_cell(cell: Cell) -> dict | None:
    """The stored result of a cell, or None when missing, unreadable or changed since it was written (a flipped
    digit fails its sha256): then it is recomputed."""
    try:
        doc = json.loads(cell.path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("key") != cell.key:
        return None
    try:
        return doc if doc.get("sha256") == _content_digest(doc) else None
    except (TypeError, ValueError):
        return None


def cell_damaged(cell: Cell) -> bool:
    """A cell file that exists but fails its checks (counted and said when it is recomputed)."""
    return cell.path.exists() and read_cell(cell) is None


def score_cell(cell: Cell) -> dict:
    """Fit, sample the longest horizon once, score every horizon on its prefix; the cell's record."""
    from parallelverse.generate import fit_generator

    split = cell.split
    ctx, real = split.context, split.realized
    try:
        fitted = fit_generator(cell.spec, split)
        batch = fitted.sample(split.horizon_bars, cell.seed, 0, cell.n_paths)
    except ParallelverseError as exc:  # which cell failed: the run has many
        raise CalibrateError(f"cell {cell.symbol}, window {cell.window}, {cell.name}: {exc}") from None
    times = pd.DatetimeIndex(split.horizon_time.astype("datetime64[ns]"))
    horizons = {}
    year = ctx.year()
    for h, ins in zip(cell.horizons, cell.in_sample):
        if len(real) < h:
            horizons[str(h)] = None  # the data ends before this horizon does
            continue
        s = score_horizon(ctx.close, batch.close[:h], real.close[:h], year)
        horizons[str(h)] = {**s, "end": str(times[h - 1].date()), "in_sample": ins}
    r_ctx = np.diff(np.log(ctx.close))
    rec = {
        "key": cell.key, "symbol": cell.symbol, "window": cell.window, "generator": cell.generator,
        "universe": cell.name, "params": params_of(cell.spec), "model_digest": cell.model_digest,
        "n_paths": cell.n_paths, "seed": cell.seed,
        "context": [str(ctx.dates()[0].date()), str(ctx.dates()[-1].date())],
        "horizon_start": str(times[0].date()), "realized_bars": len(real),
        "context_vol": float(np.std(r_ctx) * np.sqrt(year)), "bars_per_year": year,
        "horizons": horizons,
        **first_bar_scores(ctx.open, ctx.close, batch.open[0], float(real.open[0])),
        "facts_inside": facts_inside(ctx.close, batch.close) if split.horizon_bars >= MIN_FACTS_HORIZON else None,
        "version": SCORE_VERSION,
    }
    return rec


def run_cell(cell: Cell) -> dict:
    """Score one cell and store it atomically; model generators run single-threaded so results never depend on
    how many threads a worker had."""
    threads = None
    if cell.generator in MODEL_GENERATORS:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
    try:
        rec = score_cell(cell)
    finally:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
    rec = strict_json(rec)
    rec["sha256"] = _content_digest(rec)
    write_json_atomic(cell.path, rec)
    return strict_json(rec)
