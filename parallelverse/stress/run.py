"""The stress stage: one strategy over the real history and every path of every universe.

Reads each universe batch by batch (memory stays bounded whatever the number of
paths), puts the strategy's `warmup` bars of real context in front of every path,
runs every configuration of the params grid, and writes per-path metrics to

    results/<strategy>/<universe>/<metric>   (n_configs, n_paths) float64
    results/<strategy>/<universe>/bh_<metric>  (1, n_paths): buy-and-hold on the same path
    results/<strategy>/real/...              the same for the real history (one path), plus
                                             equity (n_configs, n_bars), bh_equity (1, n_bars), time

The results group is built beside the store and renamed into place at the end, so a
rerun with a changed strategy file or costs replaces the old results whole and an
interrupted run leaves the previous results (or none), never a mix.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
from parallelverse.bars import FIELDS
from parallelverse.errors import StoreError
from parallelverse.store import PathResults, RealResults, ResultsMeta, Store, read_store
from parallelverse.stress.engine import Costs, backtest, buy_and_hold, excess_metrics, periods_per_year
from parallelverse.stress.kernels import METRICS
from parallelverse.stress.strategy import Bars, Strategy, StrategyError, check_lookahead, load_strategy

DEFAULT_BATCH_PATHS = 2000


@dataclass(frozen=True)
class StressRequest:
    strategy: str  # path of the strategy file
    store: str  # path of the Zarr store made by `generate`
    costs: Costs = Costs()
    universes: tuple[str, ...] | None = None  # None = every complete universe
    lookahead_check: bool = True
    batch_paths: int = DEFAULT_BATCH_PATHS


@dataclass(frozen=True)
class StressRun:
    strategy: Strategy
    store: Path
    universes: tuple[str, ...]
    skipped: tuple[str, ...]  # incomplete universes left out
    costs: Costs
    seconds: float
    n_paths: dict  # universe -> paths run


ProgressFn = Callable[[str, int, int], None]


def _history(st: Store) -> tuple[dict, int, int]:
    split = st.split()
    h = split.history
    return {f: getattr(h, f) for f in ("time",) + FIELDS}, split.context_end, split.realized_end


def with_warmup(hist: dict, context_end: int, warmup: int, paths: dict, time_: np.ndarray) -> Bars:
    """Prepend the last `warmup` real context bars to every path: fields (warmup + horizon, n_paths)."""
    m = paths["close"].shape[1]
    cols = []
    for f in FIELDS:
        head = np.broadcast_to(hist[f][context_end - warmup : context_end, None], (warmup, m))
        cols.append(np.ascontiguousarray(np.vstack([head, paths[f]])))
    return Bars(*cols, np.concatenate([hist["time"][context_end - warmup : context_end], time_]))


def run_stress(req: StressRequest, progress: ProgressFn | None = None) -> StressRun:
    t0 = time.perf_counter()
    strategy = load_strategy(req.strategy)
    store = Path(req.store)
    st = read_store(store)
    hist, context_end, realized_end = _history(st)
    if strategy.warmup > context_end:
        raise StrategyError(
            f"{strategy.path}: warmup = {strategy.warmup} bars but the store has {context_end} bars of context; "
            f"regenerate with --context {strategy.warmup} or more, or lower warmup"
        )
    if req.costs.fill not in ("open", "close"):
        raise StrategyError(f"--fill {req.costs.fill!r} must be open or close")
    if req.costs.fees_bps < 0 or req.costs.slippage_bps < 0 or req.costs.init_cash <= 0:
        raise StrategyError("--fees and --slippage must be >= 0 bps and --init-cash > 0")
    costs = replace(req.costs, periods_per_year=periods_per_year(hist["time"]))
    names, skipped = _choose_universes(st, req.universes)
    warmup = strategy.warmup
    check_from = max(warmup - 1, 0) if costs.fill == "open" else warmup

    real_bars = None
    if realized_end - context_end >= 2:
        real = {f: hist[f][context_end - warmup : realized_end, None] for f in FIELDS}
        real_bars = Bars(*(np.ascontiguousarray(real[f]) for f in FIELDS), hist["time"][context_end - warmup : realized_end])
    if req.lookahead_check:
        _lookahead(strategy, st, hist, context_end, warmup, names, real_bars, check_from)

    counts = {}
    with st.results_writer(strategy.name) as writer:
        if real_bars is not None:
            metrics, bh, equity, bh_values = _run_batch(strategy, real_bars, warmup, costs, "real history", check_from)
            writer.write_real(RealResults(1, {**metrics, **bh}, None, np.stack(equity), bh_values[:, 0][None, :],
                                          hist["time"][context_end:realized_end]))
        for name in names:
            u = st.universe(name)
            counts[name] = u.n_paths
            writer.write_universe(name, _run_universe(strategy, u, hist, context_end, costs, check_from,
                                                      req.batch_paths, progress))
        writer.commit(ResultsMeta(strategy.name, str(strategy.path), strategy.sha256, warmup, tuple(strategy.configs),
                                  costs.record(), tuple(names), tuple(METRICS), req.lookahead_check))
    return StressRun(strategy, store, tuple(names), tuple(skipped), costs, time.perf_counter() - t0, counts)


def _choose_universes(st: Store, wanted: tuple[str, ...] | None) -> tuple[list[str], list[str]]:
    have = st.universe_names()
    complete = [n for n in have if st.universe(n).complete]
    if wanted:
        for n in wanted:
            if n not in have:
                raise StoreError(f"no universe {n!r} in the store; it has: {', '.join(have) or 'none'}")
            if n not in complete:
                raise StoreError(f"universe {n!r} is incomplete; rerun the generate command that made it to finish it")
        return list(wanted), []
    if not complete:
        raise StoreError("the store has no complete universe; run `parallelverse generate` first")
    return complete, [n for n in have if n not in complete]


def _lookahead(strategy, st, hist, context_end, warmup, names, real_bars, check_from) -> None:
    rng = np.random.default_rng(0)  # fixed: the check is deterministic
    samples = []
    if real_bars is not None:
        samples.append(("real history", real_bars))
    if names:
        u = st.universe(names[0])
        k = min(4, u.n_paths)
        paths = u.read(0, k).as_dict()
        samples.append((f"universe {names[0]}, paths 0-{k - 1}", with_warmup(hist, context_end, warmup, paths, u.time)))
    for label, bars in samples:
        for config in strategy.configs:
            check_lookahead(strategy, bars, config, label, rng, check_from=check_from)


def _run_batch(strategy: Strategy, bars: Bars, warmup: int, costs: Costs, label: str, check_from: int):
    """Metrics of every configuration on one batch: (dict name -> (n_configs, m), bh dict, equity list, bh equity)."""
    bh, bh_values = buy_and_hold(bars, warmup, costs)
    per_config, equity = [], []
    for config in strategy.configs:
        out = strategy.call(bars, config, label, check_from)
        metrics, values = backtest(out, bars, warmup, costs)
        row = {m: metrics[k] for k, m in enumerate(METRICS)}
        row.update(excess_metrics(metrics, bh, values, bh_values, costs))
        per_config.append(row)
        equity.append(values[:, 0] if values.shape[1] == 1 else None)
    stacked = {k: np.stack([r[k] for r in per_config]) for k in per_config[0]}
    bh_rows = {f"bh_{m}": bh[k][None, :] for k, m in enumerate(METRICS)}
    return stacked, bh_rows, equity, bh_values


def _run_universe(strategy, u, hist, context_end, costs, check_from, batch_paths, progress) -> PathResults:
    n_paths = u.n_paths
    chunk = u.chunk_paths
    batch = max(chunk, batch_paths // chunk * chunk)  # whole store chunks per read
    results: dict[str, np.ndarray] = {}
    if progress:
        progress(u.name, 0, n_paths)
    for lo in range(0, n_paths, batch):
        hi = min(n_paths, lo + batch)
        bars = with_warmup(hist, context_end, strategy.warmup, u.read(lo, hi).as_dict(), u.time)
        metrics, bh, _, _ = _run_batch(strategy, bars, strategy.warmup, costs, f"universe {u.name}, paths {lo}-{hi - 1}", check_from)
        for k, a in {**metrics, **bh}.items():
            if k not in results:
                results[k] = np.empty((a.shape[0], n_paths))
            results[k][:, lo:hi] = a
        if progress:
            progress(u.name, hi, n_paths)
    return PathResults(n_paths, results, u.attrs.get("spec"))
