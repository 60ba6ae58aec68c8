"""The generate stage: real bars -> seed split -> fitted generators -> chunks in the store.

`plan_generate` does every check (data, window, generator parameters, store
identity) before anything is written; `run_generate` then fits each generator once
and writes its universe chunk by chunk, skipping chunks a previous interrupted run
already wrote. Because path i always draws from its own stream, the resumed store
is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import copy
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from parallelverse import inputs, store
from parallelverse.bars import PathBatch, invariant_violations
from parallelverse.errors import GeneratorError, ParallelverseError
from parallelverse.inputs import DEFAULT_CONTEXT_BARS, DEFAULT_HORIZON_BARS
from parallelverse.generators import DEFAULT_GENERATORS, MODEL_GENERATORS, Generator, make_generator, model_digest, params_of
from parallelverse.market import find_unadjusted_splits, load_market, splits_error
from parallelverse.window import SeedSplit, parse_seed_window, split_at_window

if TYPE_CHECKING:
    from parallelverse.distributed import Cluster

DEFAULT_N_PATHS = 2000
DEFAULT_CHUNK_PATHS = 500  # 500 paths x 252 bars x 8 B = 1 MB per field chunk


@dataclass(frozen=True)
class GenerateRequest:
    """What the user asked for; CLI options and scenario keys map one to one onto these fields."""

    seed_window: str
    data: str | None = None  # CSV / Parquet path; None = the bundled stocks_daily
    symbol: str | None = None  # None = the data's default symbol
    context_bars: int = DEFAULT_CONTEXT_BARS
    horizon_bars: int = DEFAULT_HORIZON_BARS
    n_paths: int = DEFAULT_N_PATHS
    generators: tuple[str, ...] = DEFAULT_GENERATORS
    generator_params: dict = field(default_factory=dict)  # generator name -> {param: value}
    seed: int = 0
    out: str | None = None  # None = <symbol>_<window>.zarr in the working directory
    overwrite: bool = False
    chunk_paths: int = DEFAULT_CHUNK_PATHS
    model: str | None = None  # model generators (chronos): Hub id or local directory
    temperatures: tuple[float, ...] = ()  # model generators: one universe per temperature
    top_k: int | None = None  # model generators' sampling settings, when given
    top_p: float | None = None
    device: str | None = None
    accept_splits: bool = False  # take overnight jumps that look like unadjusted splits as real moves


@dataclass(frozen=True)
class Plan:
    request: GenerateRequest
    split: SeedSplit
    generators: tuple[tuple[str, Generator], ...]  # (generator name, spec)
    out: Path


@dataclass(frozen=True)
class UniverseReport:
    name: str
    n_paths: int
    horizon_bars: int
    seconds: float
    chunks_written: int  # 0 when the universe was already complete
    fitted: dict
    repaired: int = 0  # chunks found missing or damaged and rewritten (the time stamps count as one)

    @property
    def status(self) -> str:
        return "repaired" if self.repaired else "written" if self.chunks_written else "already complete"


@dataclass(frozen=True)
class Generated:
    universes: list[UniverseReport]
    history_repaired: bool  # the store's real bars were missing or damaged and were rewritten from the data


def check_distinct(gens) -> None:
    """Every universe once: a generator listed twice, or temperatures that round to one label, would write one
    universe twice."""
    names = [g.name for _, g in gens]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise GeneratorError(f"universe {twice[0]!r} would be made twice (a generator listed twice, or temperatures "
                             "or parameters that give the same label); list each once")


def default_out(symbol: str, window_spec: str) -> Path:
    """<SYMBOL>_<WINDOW>.zarr in the working directory: a plain file name whatever the symbol holds
    (`BRK/B` or `../x` must not reach another directory). Letters of any script are kept; the name never starts
    with '.' or '-' (hidden, or read as an option by the next command) and is at most 100 bytes (UTF-8), well
    inside file systems' 255-byte limit."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in symbol)
    safe = re.sub(r"_+", "_", safe).lstrip(".-").encode()[:100].decode("utf-8", "ignore") or "data"
    return Path(f"{safe}_{re.sub(r'[^0-9A-Za-z-]+', '_', window_spec)}.zarr")


def plan_generate(req: GenerateRequest) -> Plan:
    """Validate everything; raise a ParallelverseError with the fix on the first problem.

    Order: numbers (finite, in range), generators, data and window, the output path,
    its size against free disk space, and last the costly checks (loading models)."""
    _check_numbers(req)
    if not req.generators:
        raise GeneratorError("no generators chosen; pass e.g. --generators garch,bootstrap")
    unused = set(req.generator_params) - set(req.generators)
    if unused:
        raise GeneratorError(
            f"parameters given for {', '.join(sorted(unused))} but it is not among the generators "
            f"({', '.join(req.generators)}); add it to --generators or drop its parameters"
        )
    gens = tuple(_specs(req))
    check_distinct(gens)
    window = parse_seed_window(req.seed_window)
    data = load_market(req.data).select(req.symbol)
    split = split_at_window(data, window, req.context_bars, req.horizon_bars)
    splits = find_unadjusted_splits(split.history)  # context and real future: both would be taken as real moves
    if splits and not req.accept_splits:
        raise splits_error(data.source, splits)
    out = inputs.check_output_path(req.out if req.out is not None else default_out(data.symbol, window.spec),
                                   "--out", "dir", inputs=(req.data,))
    _check_size(req, [g.name for _, g in gens], split.horizon_bars, out)
    for _, g in gens:  # last: the costly checks (loading models) once the cheap ones passed
        g.prepare()
    return Plan(req, split, gens, out)


def _check_numbers(req: GenerateRequest) -> None:
    """Every number of the request finite and in range (the same bounds as the CLI options)."""
    inputs.CONTEXT_BARS.check(req.context_bars)
    inputs.HORIZON_BARS.check(req.horizon_bars)
    inputs.N_PATHS.check(req.n_paths)
    inputs.CHUNK_PATHS.check(req.chunk_paths)
    inputs.SEED.check(req.seed)
    for t in req.temperatures:
        inputs.TEMPERATURE.check(t)
    if req.top_k is not None:
        inputs.TOP_K.check(req.top_k)
    if req.top_p is not None:
        inputs.TOP_P.check(req.top_p)
    for gen, params in req.generator_params.items():
        for name, value in (params or {}).items():
            if isinstance(value, float) and not math.isfinite(value):
                raise GeneratorError(f"generator parameter {gen}.{name} = {value} is not a finite number; give a finite value")


def _check_size(req: GenerateRequest, names: list[str], horizon_bars: int, out: Path) -> None:
    """Refuse chunks too large for memory and stores too large for the disk, before any work.

    The estimate is the uncompressed size, an upper bound: float64 prices compress
    only by ~20% (README: 60 MB raw -> 50 MB stored for 3 x 2,000 x 252 bars)."""
    field_chunk = req.chunk_paths * horizon_bars * 8
    if field_chunk > inputs.MAX_CHUNK_FIELD_BYTES:
        fit = max(1, inputs.MAX_CHUNK_FIELD_BYTES // (horizon_bars * 8))
        raise GeneratorError(
            f"--chunk-paths {req.chunk_paths} x {horizon_bars} bars makes chunks of {inputs.fmt_bytes(field_chunk)} per "
            f"field, more than fits in memory comfortably; use --chunk-paths {fit:,} or fewer"
        )
    n_universes = len(names)
    per_path = n_universes * horizon_bars * inputs.BYTES_PER_BAR
    # resuming: what is left is the share of chunks not yet written (the written ones are compressed, so their
    # bytes would understate the progress), and a smaller --n-paths is no fix: the store was made with its own
    chunks = n_universes * -(-req.n_paths // req.chunk_paths) * 5
    written = sum(1 for n in names for p in (out / "universes" / n).glob("*/c/*/*") if p.is_file()) if out.is_dir() else 0
    left = max(0.0, 1 - written / chunks)

    def needed_for(n_paths: int) -> int:
        files = n_universes * (-(-n_paths // req.chunk_paths) * 5 + 16) + 32  # chunks, metadata, history: whole blocks
        return int(left * (n_paths * per_path + files * inputs.FILE_BLOCK_BYTES))

    needed, free = needed_for(req.n_paths), inputs.free_bytes(out)
    if needed > free and written:
        raise inputs.InputError(
            f"finishing {str(out)!r} needs about {inputs.fmt_bytes(needed)} more ({written} of {chunks} chunks are "
            f"written) but {str(inputs.existing_ancestor(out))!r} has {inputs.fmt_bytes(free)} free; free some space "
            "and rerun the same command")
    if needed > free:
        per_path_all = per_path + n_universes * 5 * inputs.FILE_BLOCK_BYTES / req.chunk_paths
        fit = max(0, int((free - needed_for(0)) // per_path_all))
        while fit > 0 and needed_for(fit) > free:
            fit -= 1
        fix = (f"use --n-paths {fit:,} or fewer" if fit >= 1 else "free some space")
        raise inputs.InputError(
            f"--n-paths {req.n_paths:,} would write about {inputs.fmt_bytes(needed)} ({n_universes} universe(s) x "
            f"{req.n_paths:,} paths x {horizon_bars} bars x 5 fields x 8 B, before compression) but "
            f"{str(inputs.existing_ancestor(out))!r} has {inputs.fmt_bytes(free)} free; {fix}, a shorter --horizon, "
            "fewer generators, or another --out"
        )


def _specs(req: GenerateRequest):
    """(generator name, spec) pairs; model generators get --model and one spec per --temperature."""
    if req.model is not None and not str(req.model).strip():
        raise GeneratorError("--model is empty; pass a checkpoint directory or a Hub id, or leave it out for the "
                             "shipped Kronos model")
    sampling = req.model or req.temperatures or req.top_k is not None or req.top_p is not None or req.device
    if sampling and not set(req.generators) & set(MODEL_GENERATORS):
        raise GeneratorError(
            f"--model (and generate's --temperature, --top-k, --top-p, --device) apply to model generators "
            f"({', '.join(MODEL_GENERATORS)}); "
            "add one to --generators, e.g. --generators chronos"
        )
    if req.model and len(set(req.generators) & set(MODEL_GENERATORS)) > 1:
        raise GeneratorError("--model is ambiguous with several model generators; use --set chronos.model=... "
                             "and --set kronos.model=... instead")
    for name in req.generators:
        params = dict(req.generator_params.get(name) or {})
        if name not in MODEL_GENERATORS:
            yield name, make_generator(name, params)
            continue
        given = {"model": req.model or None, "top_k": req.top_k, "top_p": req.top_p, "device": req.device,
                 "temperature": req.temperatures or None}
        for key, value in given.items():  # one value per setting: an option and a --set of the same key conflict
            if value is not None and key in params:
                option = "--" + key.replace("_", "-")
                raise GeneratorError(f"{name}.{key} is given twice (--set {name}.{key}={params[key]} and {option}); "
                                     "keep one")
            if value is not None and key != "temperature":
                params[key] = value
        temps = req.temperatures or (params.pop("temperature", 1.0),)
        for t in temps:
            yield name, make_generator(name, {**params, "temperature": t})


def fit_generator(gen: Generator, split: SeedSplit):
    """Fit one generator spec on the split's context; the one place generate and calibrate fit."""
    close = split.context.close
    if np.ptp(np.log(close[1:] / close[:-1])) == 0:  # not one close-to-close move differs from another
        raise GeneratorError(f"the context's closes move by the same amount every bar (constant "
                             f"{'price' if close[0] == close[-1] else 'growth'} from {close[0]:g} to {close[-1]:g}); "
                             "there is nothing to model: check the data")
    return gen.fit(split.context, split.horizon_time)


ProgressFn = Callable[[str, int, int, int], None]  # (universe name, paths done, paths total, bars per path)


def run_generate(plan: Plan, progress: ProgressFn | None = None, cluster: Cluster | None = None) -> Generated:
    """Fit each generator once and write its pending chunks; with `cluster`, one task per chunk on it.

    Every generator that has something to write is fitted before the store is opened: a fit that fails (a GARCH
    that does not converge, a block longer than the context) leaves nothing behind, not a store holding the
    universes before it and an empty one that the same command cannot finish."""
    fits = {gen.name: fit_generator(gen, plan.split) for _, gen in plan.generators
            if plan.request.overwrite or not _complete_in(plan.out, gen.name)}
    st = store.open_store(plan.out, plan.split, overwrite=plan.request.overwrite)  # holds the store's writer lock
    try:
        return Generated(_write_universes(plan, st, progress, cluster, fits), st.history_repaired)
    finally:
        st.close()


def _complete_in(out: Path, name: str) -> bool:
    """Universe `name` of the store at `out` is there and complete (its chunks are checked when it is reopened)."""
    try:
        return store.read_store(out).universe(name).complete
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception:
        return False


def _write_universes(plan: Plan, st: store.Store, progress: ProgressFn | None, cluster: Cluster | None,
                     fits: dict) -> list[UniverseReport]:
    req, split = plan.request, plan.split
    reports = []
    for gen_name, gen in plan.generators:
        spec = store.UniverseSpec(gen.name, gen_name, params_of(gen), req.seed, req.n_paths, req.chunk_paths,
                                  model_digest(gen))
        t0 = time.perf_counter()
        writer = st.prepare_universe(spec, split.horizon_time)
        pending = writer.pending
        done_paths = req.n_paths - sum(spec.chunk_range(k)[1] - spec.chunk_range(k)[0] for k in pending)
        if progress:
            progress(spec.name, done_paths, req.n_paths, split.horizon_bars)
        fitted_desc = writer.fitted
        if pending or not writer.complete:
            fitted = fits.pop(spec.name, None)
            fitted = fit_generator(gen, split) if fitted is None else fitted
            if cluster is None:
                for k in pending:
                    lo, hi = spec.chunk_range(k)
                    reset_counts(fitted)
                    batch = sample_chunk(fitted, spec, k, split.horizon_bars)
                    writer.write_chunk(k, batch, chunk_counts(fitted))
                    done_paths += hi - lo
                    if progress:
                        progress(spec.name, done_paths, req.n_paths, split.horizon_bars)
                set_count_totals(fitted, writer.count_totals())  # every chunk's, whichever process wrote it
                fitted_desc = fitted.describe()  # after sampling: some generators record what sampling did
            else:
                fitted_desc = _sample_on_cluster(cluster, fitted, spec, pending, writer, split.horizon_bars,
                                                 progress, done_paths)
            writer.finish(_universe_attrs(plan, fitted_desc))
        reports.append(
            UniverseReport(spec.name, req.n_paths, split.horizon_bars, time.perf_counter() - t0, len(pending), fitted_desc,
                           len(writer.damaged) + writer.time_repaired)
        )
    return reports


# What sampling counts (Kronos' and Chronos' `repairs`) is stored per chunk (chunk_counts in the store) and the
# universe records the totals over chunks: the same whether one process wrote every chunk or a kill split the run.
def chunk_counts(fitted) -> dict[str, int] | None:
    """The counters of a fitted generator as {name: count}, or None if it counts nothing."""
    r = getattr(fitted, "repairs", None)
    if isinstance(r, dict):
        return {k: int(v) for k, v in r.items()}
    if isinstance(r, int) and not isinstance(r, bool):
        return {"repairs": r}
    return None


def reset_counts(fitted) -> None:
    r = getattr(fitted, "repairs", None)
    if isinstance(r, dict):
        for k in r:
            r[k] = 0
    elif isinstance(r, int) and not isinstance(r, bool):
        fitted.repairs = 0


def set_count_totals(fitted, totals: dict[str, int]) -> None:
    r = getattr(fitted, "repairs", None)
    if isinstance(r, dict):
        for k in r:
            r[k] = int(totals.get(k, 0))
    elif isinstance(r, int) and not isinstance(r, bool):
        fitted.repairs = int(totals.get("repairs", 0))


def sample_chunk(fitted, spec: store.UniverseSpec, k: int, horizon_bars: int) -> PathBatch:
    """Chunk k of a universe: paths spec.chunk_range(k), checked bar by bar before anything is written."""
    lo, hi = spec.chunk_range(k)
    batch = fitted.sample(horizon_bars, spec.seed, lo, hi)
    bad = invariant_violations(batch)
    if bad.any():
        t, j = (int(x[0]) for x in bad.nonzero())
        raise ParallelverseError(
            f"{spec.name} produced an invalid bar (path {lo + j}, bar {t}); "
            "this is a bug — please report it with the command you ran"
        )
    return batch


def sample_chunk_task(task: tuple, fitted) -> tuple[PathBatch, dict[str, int] | None]:
    """A cluster task: (spec, k, horizon_bars) -> chunk k and what sampling it counted.

    Tasks in one worker share its copy of `fitted`; each samples on its own copy, so the
    counters (Kronos' repairs) are this chunk's alone whatever the worker's threads do."""
    spec, k, horizon_bars = task
    own = copy.deepcopy(fitted)
    reset_counts(own)
    return sample_chunk(own, spec, k, horizon_bars), chunk_counts(own)


def _sample_on_cluster(cluster: Cluster, fitted, spec: store.UniverseSpec, pending: tuple[int, ...], writer,
                       horizon_bars: int, progress: ProgressFn | None, done_paths: int) -> dict:
    """Sample the pending chunks on the cluster and write each as it arrives; what `fitted.describe()` records."""
    shared = cluster.share(fitted)
    for i, (batch, counts) in cluster.map(sample_chunk_task, [(spec, k, horizon_bars) for k in pending], shared,
                                          label=f"sample-{spec.name}"):
        k = pending[i]
        writer.write_chunk(k, batch, counts)
        lo, hi = spec.chunk_range(k)
        done_paths += hi - lo
        if progress:
            progress(spec.name, done_paths, spec.n_paths, horizon_bars)
    set_count_totals(fitted, writer.count_totals())
    return fitted.describe()


def _universe_attrs(plan: Plan, fitted: dict) -> dict:
    split = plan.split
    ctx = split.context
    return {
        "fitted": fitted,
        "seed_window": split.window.spec,
        "symbol": ctx.symbol,
        "source": ctx.source,
        "context_span": [str(ctx.dates()[0]), str(ctx.dates()[-1])],
        "context_bars": split.context_end,
        "horizon_bars": split.horizon_bars,
    }
