"""Where the real result falls among the synthetic ones: quantiles and percentiles per universe.

The percentile counts ties as half: 100 * (#{synthetic < real} + 0.5 #{synthetic == real}) / n.
With a params grid, the configuration shown is the one with the best Sharpe on the
real history — the one a researcher would have picked; the multiple-testing cost of
that choice is the report's business, not this table's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from parallelverse.errors import StoreError

MAIN_METRICS = ("sharpe", "total_return", "cagr", "max_drawdown", "volatility", "excess_total_return",
                "excess_sharpe", "n_trades")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def percentile_of(real: float, synthetic: np.ndarray) -> float:
    """Percent of synthetic values below `real`, ties counted half; NaNs are dropped."""
    x = synthetic[np.isfinite(synthetic)]
    if not np.isfinite(real) or len(x) == 0:
        return float("nan")
    return float(100.0 * ((x < real).sum() + 0.5 * (x == real).sum()) / len(x))


def open_results(store: str | Path, strategy: str) -> zarr.Group:
    path = Path(store) / "results" / strategy
    if not (path / "zarr.json").exists():
        raise StoreError(f"no results for strategy {strategy!r} in {str(store)!r}; run `parallelverse stress STRATEGY.py` first")
    g = zarr.open_group(str(path), mode="r")
    if not g.attrs.get("complete", False):
        raise StoreError(f"results for {strategy!r} in {str(store)!r} are incomplete; rerun `parallelverse stress`")
    return g


def selected_config(results: zarr.Group) -> int:
    """Index of the configuration with the best Sharpe on the real history (0 without a real result)."""
    if "real" not in results or results["real/sharpe"].shape[0] < 2:
        return 0
    sharpe = results["real/sharpe"][:, 0]
    return int(np.nanargmax(np.where(np.isfinite(sharpe), sharpe, -np.inf)))


def summarize(store: str | Path, strategy: str) -> dict:
    """Per universe and metric: real value, synthetic quantiles, real percentile (JSON-safe)."""
    g = open_results(store, strategy)
    attrs = g.attrs.asdict()
    configs = attrs["configs"]
    has_real = "real" in g
    selected = selected_config(g)
    metric_names = list(attrs["metrics"]) + [k for k in _keys(g, attrs) if k.startswith(("excess_", "information"))]
    real = {m: _real_value(g, m, selected) for m in metric_names} if has_real else {}
    universes = {}
    for name in attrs["universes"]:
        u = g[name]
        rows = {}
        for m in metric_names:
            x = u[m][selected]
            finite = x[np.isfinite(x)]
            q = np.quantile(finite, QUANTILES) if len(finite) else [float("nan")] * len(QUANTILES)
            rows[m] = {
                "real": real.get(m),
                **{f"q{int(p * 100):02d}": float(v) for p, v in zip(QUANTILES, q)},
                "percentile": percentile_of(real[m], x) if has_real else None,
            }
        universes[name] = {"n_paths": int(u.attrs["n_paths"]), "metrics": rows}
    return {
        "strategy": attrs["strategy"],
        "strategy_sha256": attrs["strategy_sha256"],
        "n_configs": len(configs),
        "selected_config": configs[selected],
        "selection": "best Sharpe on the real history" if len(configs) > 1 else "only configuration",
        "costs": attrs["costs"],
        "warmup": attrs["warmup"],
        "real": real or None,
        "universes": universes,
    }


def _keys(g: zarr.Group, attrs: dict) -> list[str]:
    first = g[attrs["universes"][0]] if attrs["universes"] else g["real"]
    return sorted(name for name, _ in first.arrays())


def _real_value(g: zarr.Group, metric: str, selected: int) -> float:
    return float(g[f"real/{metric}"][selected, 0])
