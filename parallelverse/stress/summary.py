"""Where the real result falls among the synthetic ones: quantiles and percentiles per universe.

The percentile counts ties as half: 100 * (#{synthetic < real} + 0.5 #{synthetic == real}) / n.
With a params grid, the configuration shown is the one with the best Sharpe on the
real history — the one a researcher would have picked; the multiple-testing cost of
that choice is the report's business, not this table's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from parallelverse.store import Results, read_store

MAIN_METRICS = ("sharpe", "total_return", "cagr", "max_drawdown", "volatility", "excess_total_return",
                "excess_sharpe", "n_trades")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def percentile_of(real: float, synthetic: np.ndarray) -> float:
    """Percent of synthetic values below `real`, ties counted half; NaNs are dropped."""
    x = synthetic[np.isfinite(synthetic)]
    if not np.isfinite(real) or len(x) == 0:
        return float("nan")
    return float(100.0 * ((x < real).sum() + 0.5 * (x == real).sum()) / len(x))


def selected_config(results: Results) -> int:
    """Index of the configuration with the best Sharpe on the real history (0 without a real result)."""
    if results.real is None or results.real.metrics["sharpe"].shape[0] < 2:
        return 0
    sharpe = results.real.metrics["sharpe"][:, 0]
    return int(np.nanargmax(np.where(np.isfinite(sharpe), sharpe, -np.inf)))


def summarize(store: str | Path, strategy: str) -> dict:
    """Per universe and metric: real value, synthetic quantiles, real percentile (JSON-safe)."""
    res = read_store(store).results(strategy)
    meta = res.meta
    configs = list(meta.configs)
    has_real = res.real is not None
    selected = selected_config(res)
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
        universes[name] = {"n_paths": u.n_paths, "metrics": rows}
    return {
        "strategy": meta.strategy,
        "strategy_sha256": meta.strategy_sha256,
        "n_configs": len(configs),
        "selected_config": configs[selected],
        "selection": "best Sharpe on the real history" if len(configs) > 1 else "only configuration",
        "costs": meta.costs,
        "warmup": meta.warmup,
        "real": real or None,
        "universes": universes,
    }
