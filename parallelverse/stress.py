"""The stress stage: one strategy over the real history and every path of every universe.

Reads each universe batch by batch (memory stays bounded whatever the number of
paths), puts the strategy's `warmup` bars of real context in front of every path,
runs the params grid (`backtest.run_grid`) and writes per-path metrics into the
store's results (layout in `store/results.py`). `summarize` then tells where the
real result falls among the synthetic ones. When the data ends inside the horizon,
every path is scored over its first bars as many as the real future has
(`SeedSplit.scored_bars`): a real result over 161 bars is compared with synthetic
results over 161 bars, not 252.

The percentile counts ties as half: 100 * (#{synthetic < real} + 0.5 #{synthetic == real}) / n.
With a params grid, the configuration shown is the one with the best Sharpe on the
real history — the one a researcher would have picked; the multiple-testing cost of
that choice is the report's business, not this table's.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from parallelverse import inputs
from parallelverse.backtest.engine import Costs, best_config, first_decision_bar, run_grid
from parallelverse.backtest.kernels import METRICS
from parallelverse.backtest.sandbox import Limits
from parallelverse.backtest.strategy import Strategy, StrategyError, check_lookahead, load_strategy
from parallelverse.bars import PathBatch, real_bars, with_warmup
from parallelverse.errors import StoreError
from parallelverse.store import PathResults, RealResults, Results, ResultsMeta, Store, Universe, check_name, read_store
from parallelverse.window import SeedSplit

if TYPE_CHECKING:
    from parallelverse.distributed import Cluster

DEFAULT_BATCH_PATHS = 2000
MAIN_METRICS = ("sharpe", "total_return", "cagr", "max_drawdown", "volatility", "excess_total_return",
                "excess_sharpe", "n_trades")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class StressRequest:
    strategy: str  # path of the strategy file
    store: str  # path of the Zarr store made by `generate`
    costs: Costs = Costs()
    universes: tuple[str, ...] | None = None  # None = every complete universe
    lookahead_check: bool = True
    batch_paths: int = DEFAULT_BATCH_PATHS
    limits: Limits = Limits()  # per call of the strategy (it runs in its own process): timeout, memory cap


@dataclass(frozen=True)
class StressRun:
    strategy: Strategy
    store: Path
    universes: tuple[str, ...]
    skipped: tuple[str, ...]  # incomplete universes left out
    costs: Costs
    seconds: float
    n_paths: dict  # universe -> paths run
    replaced: str | None = None  # another file whose results under the same name this run replaced
    max_long: float = 0.0  # the largest long exposure the strategy asked for on the real history (> 1: capped by cash)
    kept: tuple[str, ...] = ()  # universes not run now whose results from the previous run (same file, costs) stay
    dropped: tuple[str, ...] = ()  # universes whose earlier results this run dropped (other file, costs or universe)
    damaged_earlier: bool = False  # the earlier results were damaged: replaced whole, none kept


ProgressFn = Callable[[str, int, int], None]


def run_stress(req: StressRequest, progress: ProgressFn | None = None, cluster: Cluster | None = None) -> StressRun:
    """The strategy on the real history and every path; with `cluster`, one task per batch of paths on it."""
    t0 = time.perf_counter()
    _check_costs(req.costs)
    strategy = load_strategy(req.strategy, req.limits)  # in its own process: the file is imported there, not here
    try:
        check_name(strategy.name, f"{strategy.path}: name", 'set name = "..." in the strategy file to a plain name')
        store = Path(req.store)
        with read_store(store, write=True) as st:  # the writer lock: one generate or stress at a time per store
            return _run(req, strategy, st, store, t0, progress, cluster)
    finally:
        strategy.close()


def _check_costs(costs: Costs) -> None:
    """Finite costs in range (the CLI's bounds), so NaN or infinite costs never replace good results."""
    inputs.FEES_BPS.check(costs.fees_bps)
    inputs.SLIPPAGE_BPS.check(costs.slippage_bps)
    inputs.INIT_CASH.check(costs.init_cash)
    if costs.fill not in ("open", "close"):
        raise StrategyError(f"--fill {costs.fill!r} must be open or close")


def _run(req: StressRequest, strategy: Strategy, st: Store, store: Path, t0: float, progress: ProgressFn | None,
         cluster: Cluster | None) -> StressRun:
    split = st.split()
    if strategy.warmup > split.context_end:
        raise StrategyError(
            f"{strategy.path}: warmup = {strategy.warmup} bars but the store has {split.context_end} bars of context; "
            + (f"regenerate with --context {strategy.warmup} or more (if the data has that many bars before the cut), "
               "or lower warmup" if strategy.warmup <= inputs.CONTEXT_BARS.hi else
               f"lower warmup (--context is at most {inputs.CONTEXT_BARS.hi:,})")
        )
    costs = replace(req.costs, periods_per_year=split.history.year())
    names, skipped = st.choose_universes(req.universes)

    real = real_bars(split, strategy.warmup) if split.realized_end - split.context_end >= 2 else None
    if req.lookahead_check:
        _lookahead(strategy, st, split, names, real, costs.fill, req.limits)

    counts, max_long = {}, 0.0
    with st.results_writer(strategy.name) as writer:
        if real is not None:
            grid = run_grid(strategy, real, costs, "real history", keep_equity=True)
            max_long = grid.max_long
            writer.write_real(RealResults(1, {**grid.metrics, **grid.bh}, None, np.stack([e[:, 0] for e in grid.equity]),
                                          grid.bh_equity[:, 0][None, :], split.history.time[split.context_end:split.realized_end]))
        for name in names:
            u = st.universe(name)
            counts[name] = u.n_paths
            run_one = (_run_universe if cluster is None
                       else functools.partial(_run_universe_on_cluster, cluster, store, req.limits))
            writer.write_universe(name, run_one(strategy, u, split, costs, req.batch_paths, progress))
        kept, dropped, damaged_earlier = _earlier_universes(strategy, st, names, costs, req.lookahead_check)
        for name, res in kept.items():
            writer.write_universe(name, res)
        replaced = _replaced_file(strategy, st)
        writer.commit(ResultsMeta(strategy.name, str(strategy.path.resolve()), strategy.sha256, strategy.warmup,
                                  tuple(strategy.configs), costs.record(), (*names, *kept), tuple(METRICS),
                                  req.lookahead_check))
    return StressRun(strategy, store, tuple(names), tuple(skipped), costs, time.perf_counter() - t0, counts, replaced,
                     max_long, tuple(kept), dropped, damaged_earlier)


def _earlier_universes(strategy: Strategy, st: Store, names: list[str], costs: Costs,
                       lookahead_check: bool) -> tuple[dict[str, PathResults], tuple[str, ...], bool]:
    """With --universe, the strategy's results on the other universes from its previous run: kept when that run
    had the same file, costs and checks and the universe is unchanged (they are what this run would compute),
    else dropped (and said). Returns (kept, dropped, whether the earlier results were damaged: none kept)."""
    if strategy.name not in st.result_names():
        return {}, (), False
    try:
        listed = st.root[f"results/{strategy.name}"].attrs.get("universes")
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception:  # damaged: this run rewrites them
        return {}, (), set(names) != set(st.universe_names())
    if isinstance(listed, list) and all(u in names for u in listed):
        return {}, (), False  # this run covers every universe they had: nothing to keep or drop (no arrays read)
    try:
        old = st.results(strategy.name)
    except StoreError:  # damaged: this run rewrites them; said when it runs on fewer universes than they had
        return {}, (), True
    others = [u for u in old.meta.universes if u not in names]
    same_run = (old.store_identity == st.root.attrs.get("identity")  # older results cannot say: rerun
                and old.meta.strategy_sha256 == strategy.sha256 and old.meta.costs == costs.record()
                and old.meta.lookahead_check == lookahead_check and list(old.meta.configs) == list(strategy.configs))
    kept = {}
    for u in others:
        if same_run and u in st.universe_names() and st.universe_changed(u, old.universes[u].spec) is None:
            kept[u] = old.universes[u]
    return kept, tuple(u for u in others if u not in kept), False


def _replaced_file(strategy: Strategy, st: Store) -> str | None:
    """The other file whose results under this strategy's `name` this run replaces (said, never silent): None when
    there are none, or they came from this file or from the same code elsewhere."""
    if strategy.name not in st.result_names():
        return None
    try:
        made = st.root[f"results/{strategy.name}"].attrs.asdict()
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception:  # damaged results: this run rewrites them, whoever made them
        return None
    other_file = made.get("strategy_file") not in (None, str(strategy.path.resolve()))
    return made.get("strategy_file") if other_file and made.get("strategy_sha256") != strategy.sha256 else None


def _lookahead(strategy: Strategy, st: Store, split: SeedSplit, names: list[str], real: PathBatch | None,
               fill: str, limits: Limits) -> None:
    rng = np.random.default_rng(0)  # fixed: the check is deterministic
    samples = []
    if real is not None:
        samples.append(("real history", real))
    if names:
        u = st.universe(names[0])
        k = min(4, u.n_paths)
        samples.append((f"universe {names[0]}, paths 0-{k - 1}", with_warmup(split, strategy.warmup, u.read(0, k))))
    check_from = first_decision_bar(strategy.warmup, fill)
    # the same file in a process that has seen no call: a cache kept between calls cannot answer for it
    fresh = load_strategy(strategy.path, limits)
    try:
        for label, bars in samples:
            for config in strategy.configs:
                check_lookahead(strategy, bars, config, label, rng, check_from=check_from, fresh=fresh)
    finally:
        fresh.close()


def _batch_size(u: Universe, batch_paths: int) -> int:
    return max(u.chunk_paths, batch_paths // u.chunk_paths * u.chunk_paths)  # whole store chunks per read


def _run_universe(strategy: Strategy, u: Universe, split: SeedSplit, costs: Costs, batch_paths: int,
                  progress: ProgressFn | None) -> PathResults:
    n_paths = u.n_paths
    batch = _batch_size(u, batch_paths)
    results: dict[str, np.ndarray] = {}
    if progress:
        progress(u.name, 0, n_paths)
    for lo in range(0, n_paths, batch):
        hi = min(n_paths, lo + batch)
        bars = with_warmup(split, strategy.warmup, u.read(lo, hi).head(split.scored_bars))
        grid = run_grid(strategy, bars, costs, f"universe {u.name}, paths {lo}-{hi - 1}")
        for k, a in {**grid.metrics, **grid.bh}.items():
            if k not in results:
                results[k] = np.empty((a.shape[0], n_paths))
            results[k][:, lo:hi] = a
        if progress:
            progress(u.name, hi, n_paths)
    return PathResults(n_paths, results, u.attrs.get("spec"))


@dataclass(frozen=True)
class StressBatch:
    """A cluster task: paths lo..hi-1 of one universe under one strategy file (its sha256 pins the code)."""

    strategy_path: str
    strategy_sha256: str
    store: str
    universe: str
    lo: int
    hi: int
    costs: Costs
    limits: Limits


def stress_batch_task(task: StressBatch, split: SeedSplit) -> dict[str, np.ndarray]:
    """Run in a worker: read the batch from the store, run the grid, return every metric (n_configs, hi - lo).

    The worker loads the strategy file itself, under the run's limits (in its own process,
    as in a single-process run), and runs it through the same `run_grid`."""
    try:
        strategy = load_strategy(task.strategy_path, task.limits)
    except StrategyError as exc:  # it loaded on the client: what differs is this worker's files or packages
        raise StrategyError(f"{exc} (on a dask worker: workers need the same files and packages as this machine)") \
            from None
    try:
        if strategy.sha256 != task.strategy_sha256:
            raise StrategyError(f"{task.strategy_path} changed while stress was running (or differs on this worker); "
                                "rerun stress, and give every worker the same strategy file")
        u = read_store(task.store).universe(task.universe)
        bars = with_warmup(split, strategy.warmup, u.read(task.lo, task.hi).head(split.scored_bars))
        grid = run_grid(strategy, bars, task.costs, f"universe {u.name}, paths {task.lo}-{task.hi - 1}")
    finally:
        strategy.close()
    return {**grid.metrics, **grid.bh}


def _run_universe_on_cluster(cluster: Cluster, store: Path, limits: Limits, strategy: Strategy, u: Universe,
                             split: SeedSplit, costs: Costs, batch_paths: int, progress: ProgressFn | None) -> PathResults:
    """`_run_universe` with one task per batch; results land in the same (n_configs, n_paths) arrays."""
    n_paths, batch = u.n_paths, _batch_size(u, batch_paths)
    tasks = [StressBatch(str(strategy.path.resolve()), strategy.sha256, str(store.resolve()), u.name, lo,
                         min(n_paths, lo + batch), costs, limits)
             for lo in range(0, n_paths, batch)]
    results: dict[str, np.ndarray] = {}
    done = 0
    if progress:
        progress(u.name, 0, n_paths)
    for i, metrics in cluster.map(stress_batch_task, tasks, cluster.share(split), label=f"stress-{u.name}"):
        t = tasks[i]
        for k, a in metrics.items():
            if k not in results:
                results[k] = np.empty((a.shape[0], n_paths))
            results[k][:, t.lo:t.hi] = a
        done += t.hi - t.lo
        if progress:
            progress(u.name, done, n_paths)
    return PathResults(n_paths, results, u.attrs.get("spec"))


def percentile_of(real: float, synthetic: np.ndarray) -> float:
    """Percent of synthetic values below `real`, ties counted half; NaNs are dropped."""
    x = synthetic[np.isfinite(synthetic)]
    if not np.isfinite(real) or len(x) == 0:
        return float("nan")
    return float(100.0 * ((x < real).sum() + 0.5 * (x == real).sum()) / len(x))


def summarize(store: str | Path, strategy: str, results: Results | None = None) -> dict:
    """Per universe and metric: real value, synthetic quantiles, real percentile (JSON-safe). `results`: the
    strategy's results as already read from this store (else they are read)."""
    st = read_store(store)
    split = st.split()
    res = results if results is not None else st.results(strategy)
    meta = res.meta
    configs = list(meta.configs)
    has_real = res.real is not None
    real_sharpe = res.real.metrics["sharpe"][:, 0] if has_real else None
    selected = best_config(real_sharpe)
    if len(configs) == 1:
        selection = "only configuration"
    elif not has_real:
        selection = "the first configuration: no real result to choose by"
    elif not np.isfinite(real_sharpe).any():
        selection = "the first configuration: no configuration has a Sharpe on the real history"
    else:
        selection = "best Sharpe on the real history"
    first = next(iter(res.universes.values())) if res.universes else res.real
    metric_names = list(meta.metrics) + [k for k in first.metrics if k.startswith(("excess_", "information"))]
    real = {m: float(res.real.metrics[m][selected, 0]) for m in metric_names} if has_real else {}
    universes = {}
    for name, u in res.universes.items():
        rows = {}
        for m in metric_names:
            x = u.metrics[m][selected]
            finite = x[np.isfinite(x)]
            q = np.quantile(finite, QUANTILES) if len(finite) else [float("nan")] * len(QUANTILES)
            rows[m] = {
                "real": real.get(m),
                **{f"q{int(p * 100):02d}": float(v) for p, v in zip(QUANTILES, q)},
                "percentile": percentile_of(real[m], x) if has_real else None,
            }
        # equity at or below 0 (leveraged shorts: vectorbt's semantics do not stop a bust book) makes the path's
        # returns, drawdown and exposure meaningless; counted so that it is said
        universes[name] = {"n_paths": u.n_paths, "metrics": rows,
                           "bust_paths": int(np.sum(u.metrics["max_drawdown"][selected] <= -1))}
    return {
        "strategy": meta.strategy,
        "strategy_sha256": meta.strategy_sha256,
        "n_configs": len(configs),
        "selected_config": configs[selected],
        "selection": selection,
        "costs": meta.costs,
        "horizon_bars": split.horizon_bars,
        "realized_bars": split.realized_end - split.context_end,
        "scored_bars": split.scored_bars,
        "warmup": meta.warmup,
        "real": real or None,
        "universes": universes,
    }
