"""GARCH and bootstrap universes: arch cross-checks, reproducibility, and the stylized facts."""

from __future__ import annotations

import numpy as np
import pytest
from arch import arch_model
from threadpoolctl import threadpool_limits
from scipy.stats import kurtosis

from parallelverse.bars import invariant_violations
from parallelverse.generators import make_generator, sample_paths
from parallelverse.rng import path_rngs
from parallelverse.window import parse_seed_window, split_at_window


@pytest.fixture(scope="module")
def covid(aapl_split):
    return aapl_split(400, 252)


def _lr(batch, last_close):
    return np.diff(np.log(np.vstack([np.full(batch.shape[1], last_close), batch.close])), axis=0)


def test_garch_fit_is_archs_fit(covid):
    fitted = make_generator("garch").fit(covid.context)
    with threadpool_limits(limits=1, user_api="blas"):  # as ours: one BLAS thread, the same fit on any machine
        ref = arch_model(100 * np.diff(np.log(covid.context.close)), vol="GARCH", p=1, o=1, q=1, dist="t",
                         rescale=False).fit(disp="off")
    for name, value in ref.params.items():
        assert fitted.describe()["params"][name] == pytest.approx(value, rel=1e-10, abs=1e-12)


def test_garch_paths_follow_the_gjr_recursion_by_hand(covid):
    """Rebuild three paths from the fitted parameters and the paths' own shocks, by hand."""
    gen = make_generator("garch", {"uncertainty": "none"})
    fitted = gen.fit(covid.context)
    p = fitted.describe()["params"]
    mu, omega, alpha, gamma, beta, nu = (p[k] for k in ("mu", "omega", "alpha[1]", "gamma[1]", "beta[1]", "nu"))
    h = 30
    batch = fitted.sample(h, 11, 5, 8)
    r = 100 * _lr(batch, covid.context.close[-1])
    resid = np.asarray(fitted.result.resid)
    s2 = float(np.asarray(fitted.result.conditional_volatility)[-1] ** 2)
    var0 = omega + (alpha + gamma * (resid[-1] < 0)) * resid[-1] ** 2 + beta * s2
    for j, rng in enumerate(path_rngs(11, gen.name, 5, 8)):
        e = rng.standard_t(nu, h) * np.sqrt((nu - 2) / nu)
        var = var0
        for t in range(h):
            eps = np.sqrt(var) * e[t]
            assert r[t, j] == pytest.approx(mu + eps, rel=1e-9, abs=1e-9)
            var = omega + (alpha + gamma * (eps < 0)) * eps**2 + beta * var


def test_garch_parameters_per_block_come_from_the_mles_sampling_distribution(covid):
    """With uncertainty=asymptotic, block k of PARAM_BLOCK paths simulates from a draw of N(MLE, arch's covariance)."""
    from parallelverse.generators.garch import PARAM_BLOCK, _admissible

    fitted = make_generator("garch").fit(covid.context)
    names = list(fitted.result.params.index)
    draws = np.array([fitted.block_params(0, k) for k in range(400)])
    assert all(_admissible(dict(zip(names, d)), "gjr") for d in draws)
    se = np.sqrt(np.diag(fitted.result.param_cov))
    b = names.index("beta[1]")
    assert 0.3 * se[b] < draws[:, b].std() <= 1.1 * se[b]  # stationarity (persistence < 1) trims the upper tail
    mu = names.index("mu")  # the drift is never truncated: its draws are N(posterior mean, posterior sd^2)
    _, _, pm, ps = fitted.drift()
    assert ps < se[mu] and draws[:, mu].mean() == pytest.approx(pm, abs=4 * ps / 20)
    assert draws[:, mu].std() == pytest.approx(ps, rel=0.15)
    flat = make_generator("garch", {"drift_prior_sd": 0.0}).fit(covid.context)
    flat_mu = np.array([flat.block_params(0, k)[mu] for k in range(400)])
    assert flat_mu.mean() == pytest.approx(fitted.result.params["mu"], abs=4 * se[mu] / 20)
    assert flat_mu.std() == pytest.approx(se[mu], rel=0.15)
    assert fitted.describe()["uncertainty"] == "asymptotic" and fitted.describe()["paths_per_param_draw"] == PARAM_BLOCK
    # one block, one parameter set: its paths are arch's simulation under those parameters, with the paths' shocks
    level = make_generator("garch", {"vol_regime_sd": 0.0})
    at_level = level.fit(covid.context)
    params = at_level.block_params(5, 1)
    shocks, _ = at_level._shocks(path_rngs(5, level.name, PARAM_BLOCK, PARAM_BLOCK + 3), 30, params)
    batch = at_level.sample(30, 5, PARAM_BLOCK, PARAM_BLOCK + 3)
    np.testing.assert_allclose(_lr(batch, covid.context.close[-1]), at_level._arch_paths(params, shocks) / 100, rtol=1e-9, atol=1e-12)
    last = covid.context.close[-1]
    wide = _lr(make_generator("garch", {"drift_prior_sd": 0.0}).fit(covid.context).sample(252, 0, 0, 400), last).sum(axis=0)
    narrow = _lr(make_generator("garch", {"uncertainty": "none"}).fit(covid.context).sample(252, 0, 0, 400), last).sum(axis=0)
    assert wide.std() > 1.1 * narrow.std()  # estimation uncertainty widens the 1-year spread
    shrunk = _lr(fitted.sample(252, 0, 0, 400), last).sum(axis=0)
    assert np.median(shrunk) < np.median(narrow) - 0.1  # AAPL's 62%/yr fitted drift pulled toward the 6%/yr prior


@pytest.mark.parametrize("params", [{}, {"vol": "garch"}, {"zero_mean": True}, {"vol": "garch", "zero_mean": True}])
def test_garch_kernel_equals_archs_simulation_forecaster(covid, params):
    """garch_kernel against arch's forecast(method='simulation') under drawn, MLE and bound-hitting parameters."""
    from parallelverse.generators.garch_kernel import gjr_paths_nb, gjr_paths_py

    fitted = make_generator("garch", params).fit(covid.context)
    names = list(fitted.result.params.index)
    sets = [fitted.result.params.to_numpy()] + [fitted.block_params(1, k) for k in range(4)]
    tiny = sets[0].copy()  # variance far below arch's lower bound: the in-sample recursion is clipped
    tiny[names.index("omega")], tiny[names.index("alpha[1]")], tiny[names.index("beta[1]")] = 1e-14, 0.0, 0.0
    huge = sets[0].copy()  # and far above its upper one
    huge[names.index("omega")], huge[names.index("beta[1]")] = 1e12, 0.0
    rng = np.random.default_rng(7)
    for params_k in sets + [tiny, huge]:
        shocks = rng.standard_t(5, (6, 40))
        ref = fitted._arch_paths(params_k, shocks)
        rows = np.repeat(fitted._kernel_row(params_k)[None], 6, axis=0)
        nb, py = np.empty((40, 6)), np.empty((40, 6))
        gjr_paths_nb(fitted.returns, rows, shocks, nb)
        gjr_paths_py(fitted.returns, rows, shocks, py)
        np.testing.assert_allclose(nb, ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(nb, py)


@pytest.mark.parametrize("name", ["garch", "bootstrap"])
def test_each_path_runs_in_its_own_volatility_regime(covid, name):
    """vol_regime_sd s: a path's deviations from its drift are scaled by exp(s z), z from its own stream, and its
    drift moves with z by LEVEL_DRIFT_SLOPE s z sigma / sqrt(H) per bar (generators/regime.py)."""
    from parallelverse.generators.regime import LEVEL_DRIFT_SLOPE, path_regimes

    last, h = covid.context.close[-1], 60
    base = make_generator(name, {"vol_regime_sd": 0.0})
    wide = make_generator(name, {"vol_regime_sd": 0.45})
    assert wide.name == f"{base.name.removesuffix('-vr0')}-vr0.45" and base.name.endswith("-vr0")
    f0, f1 = base.fit(covid.context), wide.fit(covid.context)
    sigma = np.diff(np.log(covid.context.close)).std()
    reg = path_regimes(5, wide.name, 0, 2000, 0.45, sigma, h)
    z = np.log(reg.level) / 0.45
    assert z.std() == pytest.approx(1.0, rel=0.08) and abs(np.median(z)) < 0.07
    np.testing.assert_allclose(reg.drift, LEVEL_DRIFT_SLOPE * 0.45 * z * sigma / np.sqrt(h), rtol=1e-9, atol=1e-15)
    lr0, lr1 = _lr(f0.sample(h, 5, 0, 2000), last), _lr(f1.sample(h, 5, 0, 2000), last)
    vol0, vol1 = lr0.std(axis=0), lr1.std(axis=0)
    # the level is independent of the path: its log variance adds to the paths' own spread of log volatility
    assert np.log(vol1).var() == pytest.approx(np.log(vol0).var() + 0.45**2, rel=0.15)
    assert np.median(vol1) == pytest.approx(np.median(vol0), rel=0.1)  # around the same median level
    # high-volatility regimes fall: the paths' horizon return against their level has the (negative) slope
    slope = np.polyfit(0.45 * z, lr1.sum(axis=0) / (sigma * np.sqrt(h)), 1)[0]
    assert slope < LEVEL_DRIFT_SLOPE / 2
    assert not invariant_violations(f1.sample(h, 5, 0, 300)).any()
    if name == "garch":  # the skill test's null markets keep the fitted level
        a = make_generator(name, {"uncertainty": "none", "vol_regime_sd": 0.45}).fit(covid.context).sample(h, 5, 0, 50)
        b = make_generator(name, {"uncertainty": "none"}).fit(covid.context).sample(h, 5, 0, 50)
        np.testing.assert_array_equal(a.close, b.close)


def test_bootstrap_regime_scales_the_demeaned_path_and_moves_its_drift(covid):
    """Bootstrap in a regime: log(bar / last close) = level x (the demeaned resampled path) + (drift + shift) t."""
    from parallelverse.bars import bars_from_relative
    from parallelverse.generators.regime import path_regimes

    gen = make_generator("bootstrap", {"vol_regime_sd": 0.25})
    fitted = gen.fit(covid.context)
    last, n = covid.context.close[-1], 30
    b = fitted.sample(n, 2, 10, 25)
    demeaned = bars_from_relative(fitted.rel - fitted.rel[3].mean(), fitted.volume,
                                  fitted.indices(path_rngs(2, gen.name, 10, 25), n), last)
    reg = path_regimes(2, gen.name, 10, 25, 0.25, fitted.rel[3].std(), n)
    drift = np.arange(1, n + 1)[:, None] * (fitted.path_drifts(2, 10, 25) + reg.drift)[None, :]
    for field in ("open", "close", "low"):
        np.testing.assert_allclose(np.log(getattr(b, field) / last),
                                   reg.level * np.log(getattr(demeaned, field) / last) + drift, atol=1e-9)


@pytest.mark.parametrize(
    "name, params",
    [("garch", {}), ("garch", {"uncertainty": "none"}), ("garch", {"vol": "egarch", "dist": "normal"}), ("garch", {"dist": "skewt"}),
     ("garch", {"vol": "garch", "fhs": True}), ("garch", {"vol_regime_sd": 0.5}), ("bootstrap", {}), ("bootstrap", {"block_bars": 5})],
)
def test_same_paths_whatever_the_chunking(covid, name, params):
    fitted = make_generator(name, params).fit(covid.context)
    whole = fitted.sample(40, 3, 0, 300)
    # single paths too: a reduction over many paths may sum in another order than over one
    parts = [fitted.sample(40, 3, lo, hi) for lo, hi in ((0, 1), (1, 2), (2, 7), (7, 250), (250, 299), (299, 300))]
    for f, a in whole.as_dict().items():
        np.testing.assert_array_equal(a, np.hstack([getattr(p, f) for p in parts]))
    assert not invariant_violations(whole).any()
    other_seed = fitted.sample(40, 4, 0, 300)
    assert not np.array_equal(other_seed.close, whole.close)


def test_universe_names_encode_parameters():
    assert make_generator("garch").name == "garch-gjr-t"
    assert make_generator("garch", {"vol": "egarch", "dist": "normal"}).name == "garch-egarch-normal"
    assert make_generator("garch", {"fhs": True}).name == "garch-gjr-t-fhs"
    assert make_generator("bootstrap").name == "bootstrap"
    assert make_generator("bootstrap", {"block_bars": 5}).name == "bootstrap-b5"
    assert make_generator("garch", {"uncertainty": "none"}).name == "garch-gjr-t-mle"
    assert make_generator("bootstrap", {"uncertainty": "none"}).name == "bootstrap-fixed-mean"
    assert make_generator("garch", {"drift_prior_sd": 0.0}).name == "garch-gjr-t-dp0"


def test_bootstrap_resamples_whole_real_bars(covid):
    ctx = covid.context
    fitted = make_generator("bootstrap", {"uncertainty": "none"}).fit(ctx)
    b = fitted.sample(100, 0, 0, 50)
    prev = np.vstack([np.full(50, ctx.close[-1]), b.close[:-1]])
    real = {tuple(np.round(np.log(np.array([o, h, l, c]) / p), 9))
            for o, h, l, c, p in zip(ctx.open[1:], ctx.high[1:], ctx.low[1:], ctx.close[1:], ctx.close[:-1])}
    for t in (0, 37, 99):
        for j in (0, 21, 49):
            bar = tuple(np.round(np.log(np.array([b.open[t, j], b.high[t, j], b.low[t, j], b.close[t, j]]) / prev[t, j]), 9))
            assert bar in real
    assert set(np.unique(b.volume)) <= set(ctx.volume[1:])


def test_bootstrap_blocks_longer_than_the_context_are_refused(covid):
    from parallelverse.errors import GeneratorError

    n = covid.context_end - 1
    with pytest.raises(GeneratorError, match=f"block_bars=1e\\+09 is longer than a quarter of the {n} context bars; "
                                             f"use at most {n / 4:g}"):
        make_generator("bootstrap", {"block_bars": 1e9}).fit(covid.context)
    with pytest.raises(GeneratorError, match="longer than a quarter"):  # the limit the message states
        make_generator("bootstrap", {"block_bars": n / 4 + 0.5}).fit(covid.context)
    make_generator("bootstrap", {"block_bars": n / 4}).fit(covid.context)  # four blocks' worth: allowed


def test_bootstrap_mean_block_length(covid):
    fitted = make_generator("bootstrap", {"block_bars": 8}).fit(covid.context)
    idx = fitted.indices(path_rngs(0, "bootstrap-b8", 0, 2000), 252)
    n = covid.context_end - 1
    continued = (idx[1:] == (idx[:-1] + 1) % n).mean()
    # A new block starts with probability 1/8 (and lands on the next bar by chance 1/n of the time).
    assert continued == pytest.approx(7 / 8 + 1 / 8 / n, abs=0.003)


def test_automatic_block_length_is_archs(covid):
    from arch.bootstrap import optimal_block_length

    fitted = make_generator("bootstrap").fit(covid.context)
    r = np.diff(np.log(covid.context.close))
    per_series = [float(optimal_block_length(x)["stationary"].iloc[0]) for x in (r, r**2, np.abs(r))]
    assert fitted.block == pytest.approx(max(per_series))
    assert fitted.block > 5  # AAPL 2018-2020 has clear volatility clustering


WINDOWS = [("AAPL", "2020-01"), ("NFLX", "2021-12"), ("GOOG", "2016-07:2016-12")]


@pytest.mark.parametrize("symbol, window", WINDOWS)
@pytest.mark.parametrize("name", ["garch", "bootstrap"])
def test_fat_tails_and_volatility_clustering(market, symbol, window, name):
    split = split_at_window(market.select(symbol), parse_seed_window(window), 400, 252)
    batch = sample_paths(make_generator(name), split.context, 252, 1000, seed=1)
    r = _lr(batch, split.context.close[-1])
    assert np.median(kurtosis(r, axis=0)) > 0  # excess kurtosis: fat tails
    a = np.abs(r - r.mean(axis=0))
    a = (a - a.mean(axis=0)) / a.std(axis=0)
    acf = [np.mean(np.mean(a[:-k] * a[k:], axis=0)) for k in range(1, 11)]
    assert np.mean(acf) > 0.02  # |r| autocorrelated over lags 1-10: volatility clusters


def test_drift_posterior_is_the_normal_normal_update_and_survives_a_tiny_prior():
    """Hand-computed: prior N(6%/yr, 20%/yr) per bar at 252 bars a year, sample mean 0.1%/bar with se 0.08%/bar.
    The precision form: 1/se^2 + 1/s0^2; a prior sd of 1e-308 gives the prior mean, not a division by zero."""
    from parallelverse.generators.drift import PRIOR_MEAN, drift_posterior

    m0, s0, m, se = PRIOR_MEAN / 252, 0.2 / 252, 0.001, 0.0008
    precision = 1 / se**2 + 1 / s0**2
    mean, sd = drift_posterior(m, se, 252.0, 0.2)
    assert mean == pytest.approx((m / se**2 + m0 / s0**2) / precision, rel=1e-12)
    assert sd == pytest.approx(precision**-0.5, rel=1e-12)
    assert drift_posterior(m, se, 252.0, 1e-308) == (pytest.approx(m0, rel=1e-12), 0.0)
    assert drift_posterior(m, se, 252.0, 0.0) == (m, se)  # no prior: the sample mean's own distribution
