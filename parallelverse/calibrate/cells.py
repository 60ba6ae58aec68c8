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
from parallelverse.inputs import HORIZON_BARS, check_output_path
from parallelverse.jsonsafe import strict_json
from parallelverse.calibrate.scores import facts_inside, first_bar_scores, score_horizon
from parallelverse.errors import CalibrateError, WindowError
from parallelverse.generators import MODEL_GENERATORS, Generator, make_generator, model_digest, params_of
from parallelverse.generators.training_span import TrainingSpan, training_span
from parallelverse.window import SeedSplit, parse_seed_window, split_at_window

SCORE_VERSION = 2  # 2: stylized facts on equal lengths (fidelity.fact_bands); bump when a score's definition changes (or a generator's paths change under the same parameters): old cell files are then not reused
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
        ref = (f"; the reference {REFERENCE} always runs with its defaults, so add {REFERENCE} to --generators to "
               "score one with these parameters" if REFERENCE in unused else "")
        raise CalibrateError(f"parameters given for {', '.join(sorted(unused))} but it is not among the generators "
                             f"({', '.join(req.generators)}){ref}; add it to --generators or drop its parameters")
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
    """Validate everything (nothing is written); raise a one-line ParallelverseError on the first problem."""
    from parallelverse.market import load_market

    if req.n_paths < 2:
        raise CalibrateError(f"--n-paths {req.n_paths} must be at least 2 (a PIT needs an ensemble)")
    if req.seed < 0:
        raise CalibrateError(f"--seed {req.seed} must be a non-negative integer")
    if not req.horizons or min(req.horizons) < 1:
        raise CalibrateError(f"--horizon {','.join(map(str, req.horizons))} must be bar counts >= 1, e.g. 21,63,252")
    if len(set(req.horizons)) != len(req.horizons):
        raise CalibrateError(f"--horizon {','.join(map(str, req.horizons))} repeats a horizon; list each once")
    if max(req.horizons) > HORIZON_BARS.hi:
        raise CalibrateError(f"--horizon {max(req.horizons)} is more than {HORIZON_BARS.hi:,} bars; use a shorter horizon")
    if req.symbols is not None and len({s.lower() for s in req.symbols}) != len(req.symbols):
        raise CalibrateError(f"--symbols {','.join(req.symbols)} repeats a symbol (its cells would count twice); "
                             "list each once")
    workers = req.workers if req.workers is not None else min(2, os.cpu_count() or 1)
    if not 1 <= workers <= MAX_WORKERS:
        raise CalibrateError(f"--workers {workers} must be from 1 to {MAX_WORKERS}")
    if not req.generators:
        raise CalibrateError("no generators chosen; pass e.g. --generators garch,bootstrap")
    if not str(req.out).strip():
        raise CalibrateError("--out is empty; pass a directory for the cell results, e.g. --out calibration")
    if Path(req.out).exists() and not Path(req.out).is_dir():
        raise CalibrateError(f"--out {req.out!r} is a file; give a directory for the cell results")
    out = check_output_path(req.out, "--out", "dir", example="calibration")  # not the working directory, / or a folder above it, nor a store
    windows, step = window_specs(req.windows, req.every)
    specs = _specs(req)
    market = load_market(req.data)
    symbols = req.symbols or tuple(market.symbols)
    horizons = tuple(sorted(req.horizons))
    longest = horizons[-1]
    for _, g in specs:  # costly checks (loading models) before anything is written
        if hasattr(g, "check_context"):
            g.check_context(req.context_bars)
        if hasattr(g, "prepare"):
            g.prepare()
    spans = {g.name: training_span(g) for _, g in specs}
    digests = {g.name: model_digest(g) for _, g in specs}
    cells = []
    for symbol in symbols:
        data = market.select(symbol)
        for w in windows:
            try:
                split = split_at_window(data, parse_seed_window(w), req.context_bars, longest)
            except WindowError as exc:
                raise CalibrateError(f"{exc} (in --windows {req.windows})") from None
            realized = split.realized_end - split.context_end
            if realized < horizons[0]:
                last = data.dates()[-1].date()
                raise CalibrateError(
                    f"seed window {w} leaves {realized} realized bars of {data.symbol} (data end {last}), fewer than "
                    f"--horizon {horizons[0]}; end --windows earlier or shorten the horizon")
            times = pd.DatetimeIndex(split.horizon_time.astype("datetime64[ns]"))
            for family, g in specs:
                span: TrainingSpan | None = spans[g.name]
                ins = tuple(bool(span is not None and span.overlaps(times[0], times[h - 1])) for h in horizons)
                identity = {"symbol": data.symbol, "window": w, "universe": g.name, "params": params_of(g),
                            "model": digests[g.name], "context_bars": req.context_bars, "horizons": horizons,
                            "n_paths": req.n_paths, "seed": req.seed, "bars": split.history.digest(),
                            "version": SCORE_VERSION}
                key = _cell_key(identity)
                fname = re.sub(r"[^0-9A-Za-z.-]+", "_", f"{data.symbol}_{w}_{g.name}") + f"_{key}.json"
                cells.append(Cell(data.symbol, w, family, g, split, horizons, req.n_paths, req.seed, key,
                                  out / "cells" / fname, ins, digests[g.name]))
    return CalibratePlan(req, tuple(cells), {k: (v.describe() if v else None) for k, v in spans.items()}, step, out,
                         workers, make_generator(REFERENCE).name)


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
    fitted = fit_generator(cell.spec, split)
    batch = fitted.sample(split.horizon_bars, cell.seed, 0, cell.n_paths)
    times = pd.DatetimeIndex(split.horizon_time.astype("datetime64[ns]"))
    horizons = {}
    for h, ins in zip(cell.horizons, cell.in_sample):
        if len(real) < h:
            horizons[str(h)] = None  # the data ends before this horizon does
            continue
        s = score_horizon(ctx.close, batch.close[:h], real.close[:h])
        horizons[str(h)] = {**s, "end": str(times[h - 1].date()), "in_sample": ins}
    r_ctx = np.diff(np.log(ctx.close))
    rec = {
        "key": cell.key, "symbol": cell.symbol, "window": cell.window, "generator": cell.generator,
        "universe": cell.name, "params": params_of(cell.spec), "model_digest": cell.model_digest,
        "n_paths": cell.n_paths, "seed": cell.seed,
        "context": [str(ctx.dates()[0].date()), str(ctx.dates()[-1].date())],
        "horizon_start": str(times[0].date()), "realized_bars": len(real),
        "context_vol": float(np.std(r_ctx) * np.sqrt(252.0)),
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
