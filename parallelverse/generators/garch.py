"""GARCH universes via `arch`: fit on the context's log returns, simulate every path.

The model is arch's: Constant mean + GARCH / GJR-GARCH / EGARCH(1,1) with normal,
Student-t or skew-t innovations, fitted by maximum likelihood on 100 x close log
returns. Paths come from arch's own simulation forecaster (`forecast(method=
"simulation")`); we only hand it the standardised shocks, drawn path by path from
each path's stream — parametric draws, or, with `fhs`, resampled standardised
residuals of the fit (filtered historical simulation, which keeps the empirical
shape of the innovations). Closes become full bars through `bars.synthesize_bars`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from arch import arch_model

from parallelverse.bars import PathBatch, bar_shapes, synthesize_bars, BarShapes
from parallelverse.errors import GeneratorError
from parallelverse.market import Ohlcv
from parallelverse.rng import path_rngs

VOLS = ("garch", "gjr", "egarch")
DISTS = ("normal", "t", "skewt")
_ARCH_DIST = {"normal": "normal", "t": "t", "skewt": "skewt"}


@dataclass(frozen=True)
class Garch:
    vol: str = "gjr"  # garch | gjr (leverage term, the default) | egarch
    dist: str = "t"  # innovation distribution: normal | t | skewt
    fhs: bool = False  # resample standardised residuals instead of drawing from `dist`
    zero_mean: bool = False  # no drift term (the skill test's null market)
    vol_scale: float = 1.0  # multiply each path's deviations from the fitted mean by this: a deliberately
    # mis-scaled generator (1.5 = 50% too volatile) for checking that calibration tests can tell

    def __post_init__(self):
        if not self.vol_scale > 0:
            raise GeneratorError(f"garch vol_scale={self.vol_scale} must be > 0 (1 = the fitted volatility)")
        if self.vol not in VOLS:
            raise GeneratorError(f"garch vol={self.vol!r} is not one of {', '.join(VOLS)}")
        if self.dist not in DISTS:
            raise GeneratorError(f"garch dist={self.dist!r} is not one of {', '.join(DISTS)}")

    @property
    def name(self) -> str:
        return (f"garch-{self.vol}-{self.dist}" + ("-fhs" if self.fhs else "") + ("-zm" if self.zero_mean else "")
                + (f"-vs{self.vol_scale:g}" if self.vol_scale != 1.0 else ""))

    def prepare(self) -> None:
        """Nothing to load: a statistical model is checked when it is built."""

    def fit(self, context: Ohlcv) -> FittedGarch:
        returns = 100.0 * np.diff(np.log(context.close))
        model = arch_model(
            returns,
            mean="Zero" if self.zero_mean else "Constant",
            vol="EGARCH" if self.vol == "egarch" else "GARCH",
            p=1,
            o=0 if self.vol == "garch" else 1,
            q=1,
            dist=_ARCH_DIST[self.dist],
            rescale=False,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence is checked below, not warned about
            result = model.fit(disp="off", show_warning=False)
        if result.convergence_flag != 0 or not np.all(np.isfinite(result.params)):
            raise GeneratorError(
                f"{self.name} did not converge on the {len(returns)} context returns of {context.symbol}; "
                "try a longer --context or --set garch.vol=garch"
            )
        return FittedGarch(self, result, bar_shapes(context), float(context.close[-1]))


@dataclass
class FittedGarch:
    spec: Garch
    result: object  # arch ARCHModelResult
    shapes: BarShapes
    last_close: float

    def describe(self) -> dict:
        p = {k: float(v) for k, v in self.result.params.items()}
        out = {"params": p, "loglikelihood": float(self.result.loglikelihood), "returns_scale": 100.0}
        if self.spec.vol != "egarch":
            out["persistence"] = p["alpha[1]"] + 0.5 * p.get("gamma[1]", 0.0) + p["beta[1]"]
        return out

    def _shocks(self, rngs: list[np.random.Generator], horizon_bars: int) -> tuple[np.ndarray, np.ndarray]:
        """Standardised shocks (n_paths, horizon) and donor uniforms (horizon, n_paths), path by path."""
        dist_params = self.result.params[self.result.model.distribution.parameter_names()].to_numpy()
        std_resid = None
        if self.spec.fhs:
            std_resid = np.asarray(self.result.std_resid)
            std_resid = std_resid[np.isfinite(std_resid)]
            # Re-standardise: the fitted residuals' mean and variance are only near 0 and 1, and
            # under a zero-mean model their mean would smuggle the sample's drift back in.
            std_resid = (std_resid - std_resid.mean()) / std_resid.std()
        shocks = np.empty((len(rngs), horizon_bars))
        donors = np.empty((horizon_bars, len(rngs)))
        for j, rng in enumerate(rngs):
            if std_resid is not None:
                shocks[j] = std_resid[rng.integers(0, len(std_resid), horizon_bars)]
            elif self.spec.dist == "normal":
                shocks[j] = rng.standard_normal(horizon_bars)
            elif self.spec.dist == "t":
                nu = dist_params[0]
                shocks[j] = rng.standard_t(nu, horizon_bars) * np.sqrt((nu - 2.0) / nu)
            else:
                shocks[j] = rng.random(horizon_bars)  # mapped through the skew-t ppf below
            donors[:, j] = rng.random(horizon_bars)
        if std_resid is None and self.spec.dist == "skewt":
            shocks = self.result.model.distribution.ppf(shocks, dist_params)
        return shocks, donors

    def sample(self, horizon_bars: int, seed: int, start: int, stop: int) -> PathBatch:
        rngs = path_rngs(seed, self.spec.name, start, stop)
        shocks, donors = self._shocks(rngs, horizon_bars)

        def draw(size):
            if tuple(np.atleast_1d(size)) != shocks.shape:
                raise AssertionError(f"arch asked for shocks of shape {size}, expected {shocks.shape}")
            return shocks

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = self.result.forecast(
                horizon=horizon_bars, method="simulation", simulations=len(rngs), rng=draw, reindex=False
            )
        log_returns = fc.simulations.values[-1].T / 100.0  # (horizon, n_paths)
        if self.spec.vol_scale != 1.0:
            mu = 0.0 if self.spec.zero_mean else float(self.result.params["mu"]) / 100.0
            log_returns = mu + self.spec.vol_scale * (log_returns - mu)
        return synthesize_bars(self.shapes, self.last_close, log_returns, donors)
