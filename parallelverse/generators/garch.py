"""GARCH universes via `arch`: fit on the context's log returns, simulate every path.

The model is arch's: Constant mean + GARCH / GJR-GARCH / EGARCH(1,1) with normal,
Student-t or skew-t innovations, fitted by maximum likelihood on 100 x close log
returns. Paths follow arch's simulation forecaster (`forecast(method="simulation")`):
EGARCH through it, GARCH and GJR through `garch_kernel`, its arithmetic compiled
for many parameter sets at once (equal to arch's paths to rounding, tested). We
draw the standardised shocks ourselves, path by path from each path's stream:
parametric draws, or, with `fhs`, resampled standardised residuals of the fit
(filtered historical simulation, which keeps the empirical shape of the
innovations). Closes become full bars through `bars.synthesize_bars`.

Estimation uncertainty (`uncertainty`, default "asymptotic"): a model fitted on a few
hundred bars does not know its drift or persistence, and universes that take the
MLE as the truth are too narrow for path luck (measured: 17-20% of GJR-GARCH
futures in the outer 10% of refit universes, 21% on held-out real windows). With
"asymptotic", every block of PARAM_BLOCK paths (block k = paths k*PARAM_BLOCK ...)
simulates from its own parameters, drawn from the MLE's asymptotic normal
(arch's robust covariance) on a stream keyed by the block index, redrawn until
they are admissible (positive variance terms, stationary, nu > 2.05). Paths keep
their own shock streams, so any chunking gives the same paths. The drift's draw is
then moved to its posterior under a long-run equity-premium prior (`drift_prior_sd`,
see generators/drift.py; 0 = no prior): its deviation from the MLE is scaled by
sd_post / se and recentred on the posterior mean. Each path also runs at its own
volatility regime (`vol_regime_sd`, see generators/regime.py; 0 = the fitted level):
its deviations from the drift are scaled by exp(sd z) and its drift moves with that
level, for the regime changes that a GARCH fitted on one window cannot foresee.
"none": every path uses the MLE at the fitted level (the skill test's nulls, where
the fit is of the realized bars).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from arch import arch_model
from threadpoolctl import threadpool_limits

from parallelverse.bars import PathBatch, bar_shapes, synthesize_bars, BarShapes
from parallelverse.errors import GeneratorError
from parallelverse.generators.drift import PRIOR_MEAN as DRIFT_PRIOR_MEAN
from parallelverse.generators.drift import PRIOR_SD, check_prior_sd, drift_posterior
from parallelverse.generators.garch_kernel import gjr_paths_nb
from parallelverse.generators.regime import LEVEL_DRIFT_SLOPE, check_regime_sd, path_regimes
from parallelverse.market import Ohlcv
from parallelverse.rng import path_rngs

VOLS = ("garch", "gjr", "egarch")
DISTS = ("normal", "t", "skewt")
_ARCH_DIST = {"normal": "normal", "t": "t", "skewt": "skewt"}
UNCERTAINTY = ("asymptotic", "none")
PARAM_BLOCK = 20  # paths that share one parameter draw
VOL_REGIME_SD = 0.15  # chosen on pre-2020 windows only (benchmarks/vol_regime_study.py)
MAX_REDRAWS = 50  # inadmissible draws are redrawn; after this many, the block uses the MLE


@dataclass(frozen=True)
class Garch:
    vol: str = "gjr"  # garch | gjr (leverage term, the default) | egarch
    dist: str = "t"  # innovation distribution: normal | t | skewt
    fhs: bool = False  # resample standardised residuals instead of drawing from `dist`
    zero_mean: bool = False  # no drift term (the skill test's null market)
    vol_scale: float = 1.0  # multiply each path's deviations from the fitted mean by this: a deliberately
    # mis-scaled generator (1.5 = 50% too volatile) for checking that calibration tests can tell
    uncertainty: str = "asymptotic"  # parameters per block of paths from the MLE's sampling distribution | none
    drift_prior_sd: float = PRIOR_SD  # annual sd of the equity-premium prior on the drift (asymptotic only); 0 = none
    vol_regime_sd: float = VOL_REGIME_SD  # sd of each path's log volatility level (asymptotic only); 0 = the fitted

    def __post_init__(self):
        check_regime_sd("garch", self.vol_regime_sd)
        check_prior_sd("garch", self.drift_prior_sd)
        if self.uncertainty not in UNCERTAINTY:
            raise GeneratorError(f"garch uncertainty={self.uncertainty!r} is not one of {', '.join(UNCERTAINTY)}")
        if not 0 < self.vol_scale <= 10:  # beyond 10x the fitted volatility a year of bars leaves floating point
            raise GeneratorError(f"garch vol_scale={self.vol_scale} must be in (0, 10] (1 = the fitted volatility)")
        if self.vol not in VOLS:
            raise GeneratorError(f"garch vol={self.vol!r} is not one of {', '.join(VOLS)}")
        if self.dist not in DISTS:
            raise GeneratorError(f"garch dist={self.dist!r} is not one of {', '.join(DISTS)}")

    @property
    def name(self) -> str:
        return (f"garch-{self.vol}-{self.dist}" + ("-fhs" if self.fhs else "") + ("-zm" if self.zero_mean else "")
                + (f"-vs{self.vol_scale:g}" if self.vol_scale != 1.0 else "")
                + ("-mle" if self.uncertainty == "none" else "")
                + (f"-dp{self.drift_prior_sd:g}" if self.drift_prior_sd != PRIOR_SD and self.uncertainty != "none" else "")
                + (f"-vr{self.vol_regime_sd:g}" if self.vol_regime_sd != VOL_REGIME_SD and self.uncertainty != "none" else ""))

    def prepare(self) -> None:
        """Nothing to load: a statistical model is checked when it is built."""

    def fit(self, context: Ohlcv, horizon_time: np.ndarray | None = None) -> FittedGarch:
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
        # One BLAS thread: the fit's last bits (and so the parameter draws) would otherwise depend on the core count.
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore")  # convergence is checked below, not warned about
            result = model.fit(disp="off", show_warning=False)
        if result.convergence_flag != 0 or not np.all(np.isfinite(result.params)):
            raise GeneratorError(
                f"{self.name} did not converge on the {len(returns)} context returns of {context.symbol}; "
                "try a longer --context or --set garch.vol=garch"
            )
        return FittedGarch(self, result, bar_shapes(context), float(context.close[-1]), context.year())


@dataclass
class FittedGarch:
    spec: Garch
    result: object  # arch ARCHModelResult
    shapes: BarShapes
    last_close: float
    bars_per_year: float = 252.0

    def drift(self) -> tuple[float, float, float, float] | None:
        """(MLE, its se, posterior mean, posterior sd) of mu (x100 log return per bar); None without a mu."""
        if self.spec.zero_mean or "mu" not in self.result.params.index:
            return None
        mu, se = float(self.result.params["mu"]), float(self.result.std_err["mu"])
        m, s = drift_posterior(mu / 100, se / 100, self.bars_per_year, self.spec.drift_prior_sd)
        return mu, se, 100 * m, 100 * s

    def describe(self) -> dict:
        p = {k: float(v) for k, v in self.result.params.items()}
        out = {"params": p, "loglikelihood": float(self.result.loglikelihood), "returns_scale": 100.0,
               "uncertainty": self.spec.uncertainty}
        if self.spec.uncertainty == "asymptotic":
            out["param_se"] = {k: float(v) for k, v in self.result.std_err.items()}
            out["paths_per_param_draw"] = PARAM_BLOCK
            out["vol_regime"] = {"sd": self.spec.vol_regime_sd, "level_drift_slope": LEVEL_DRIFT_SLOPE}
            d = self.drift()
            if d is not None:
                out["drift_prior"] = {"annual_mean": DRIFT_PRIOR_MEAN, "annual_sd": self.spec.drift_prior_sd,
                                      "posterior_mu": d[2], "posterior_sd": d[3], "bars_per_year": self.bars_per_year}
        if self.spec.vol != "egarch":
            out["persistence"] = p["alpha[1]"] + 0.5 * p.get("gamma[1]", 0.0) + p["beta[1]"]
        return out

    @cached_property
    def _draw_basis(self) -> tuple[np.ndarray, np.ndarray | None, list[str], tuple | None]:
        """(MLE, a factor F with F F' = the parameter covariance or None, names, drift()), computed once."""
        mle = self.result.params.to_numpy(dtype=float)
        cov = np.asarray(self.result.param_cov, float)
        factor = None
        if np.all(np.isfinite(cov)):
            with threadpool_limits(limits=1, user_api="blas"):  # eigh's vectors must not depend on the core count
                s, u = np.linalg.eigh(cov)
            factor = u * np.sqrt(np.clip(s, 0.0, None))
        return mle, factor, list(self.result.params.index), self.drift()

    def block_params(self, seed: int, block: int) -> np.ndarray:
        """Parameters of path block `block`: the MLE, or a draw from its asymptotic normal."""
        mle, factor, names, d = self._draw_basis
        if self.spec.uncertainty == "none" or factor is None:
            return mle
        rng = path_rngs(seed, self.spec.name + "-params", block, block + 1)[0]
        for _ in range(MAX_REDRAWS):
            draw = mle + (factor * rng.standard_normal(len(mle))).sum(axis=1)  # no BLAS: same bits on any machine
            if d is not None and d[1] > 0:  # the drift's draw, moved to its posterior
                draw[0] = d[2] + (draw[0] - d[0]) * d[3] / d[1]
            if _admissible(dict(zip(names, draw)), self.spec.vol):
                return draw
        mle = mle.copy()
        if d is not None:
            mle[0] = d[2]
        return mle

    def _shocks(self, rngs: list[np.random.Generator], horizon_bars: int, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised shocks (n_paths, horizon) and donor uniforms (horizon, n_paths), path by path."""
        dist = self.result.model.distribution
        n_dist = len(dist.parameter_names())
        dist_params = params[len(params) - n_dist:] if n_dist else params[:0]
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
            shocks = dist.ppf(shocks, dist_params)
        return shocks, donors

    def _kernel_row(self, params: np.ndarray) -> np.ndarray:
        """(mu, omega, alpha, gamma, beta) of a GARCH / GJR parameter vector, for garch_kernel."""
        p = dict(zip(self.result.params.index, params))
        return np.array([0.0 if self.spec.zero_mean else p["mu"], p["omega"], p["alpha[1]"],
                         p.get("gamma[1]", 0.0), p["beta[1]"]])

    def _arch_paths(self, params: np.ndarray, shocks: np.ndarray) -> np.ndarray:
        """(horizon, n) x100 log returns from arch's simulation forecaster (EGARCH; the kernel's oracle)."""
        def draw(size):
            if tuple(np.atleast_1d(size)) != shocks.shape:
                raise AssertionError(f"arch asked for shocks of shape {size}, expected {shocks.shape}")
            return shocks

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = self.result.forecast(params=params, horizon=shocks.shape[1], method="simulation",
                                      simulations=shocks.shape[0], rng=draw, reindex=False)
        return fc.simulations.values[-1].T

    def sample(self, horizon_bars: int, seed: int, start: int, stop: int) -> PathBatch:
        rngs = path_rngs(seed, self.spec.name, start, stop)
        n = stop - start
        log_returns = np.empty((horizon_bars, n))  # x100 until the end
        donors = np.empty((horizon_bars, n))
        if self.spec.uncertainty == "none":
            bounds = [(start, stop)]
        else:  # the parameter blocks that [start, stop) touches, cut to it
            edges = range((start // PARAM_BLOCK) * PARAM_BLOCK, stop, PARAM_BLOCK)
            bounds = [(max(e, start), min(e + PARAM_BLOCK, stop)) for e in edges]
        use_kernel = self.spec.vol != "egarch"
        rows, shocks = np.empty((n, 5)), np.empty((n, horizon_bars))
        mu = np.zeros(n)
        for lo, hi in bounds:
            cols = slice(lo - start, hi - start)
            params = self.block_params(seed, lo // PARAM_BLOCK)
            shocks[cols], donors[:, cols] = self._shocks(rngs[cols], horizon_bars, params)
            mu[cols] = 0.0 if self.spec.zero_mean else params[0]
            if use_kernel:
                rows[cols] = self._kernel_row(params)
            else:
                log_returns[:, cols] = self._arch_paths(params, shocks[cols])
        if use_kernel:
            gjr_paths_nb(self.returns, rows, shocks, log_returns)
        # each path's deviations from its drift scaled by vol_scale times its regime's level, and its drift moved
        # with the level (generators/regime.py)
        sd = self.spec.vol_regime_sd if self.spec.uncertainty != "none" else 0.0
        regimes = path_regimes(seed, self.spec.name, start, stop, sd, float(self.returns.std()), horizon_bars)
        scale = self.spec.vol_scale * regimes.level
        if np.any(scale != 1.0):
            log_returns = mu + scale[None, :] * (log_returns - mu)
        if sd > 0:
            log_returns = log_returns + regimes.drift[None, :]
        return synthesize_bars(self.shapes, self.last_close, log_returns / 100.0, donors)

    @property
    def returns(self) -> np.ndarray:
        """The context's x100 close log returns the model was fitted on."""
        return np.ascontiguousarray(np.asarray(self.result.model.y, dtype=np.float64))


def _admissible(p: dict, vol: str) -> bool:
    """Parameters arch could have returned: positive variance terms, stationarity, usable tails."""
    for tail in ("nu", "eta"):  # Student-t's nu, skew-t's eta: arch's bounds are (2.05, 300) at their tightest
        if tail in p and not 2.05 < p[tail] < 300.0:
            return False
    if "lambda" in p and not abs(p["lambda"]) < 0.99:
        return False
    if vol == "egarch":
        return abs(p["beta[1]"]) < 1.0
    alpha, gamma, beta = p["alpha[1]"], p.get("gamma[1]", 0.0), p["beta[1]"]
    return (p["omega"] > 0 and alpha >= 0 and alpha + gamma >= 0 and beta >= 0
            and alpha + 0.5 * gamma + beta < 1.0)
