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
    # one block, one parameter set: its paths equal an MLE-free simulation under those parameters
    lr, _ = fitted._simulate(fitted.block_params(5, 1), path_rngs(5, "garch-gjr-t", PARAM_BLOCK, PARAM_BLOCK + 3), 30)
    batch = fitted.sample(30, 5, PARAM_BLOCK, PARAM_BLOCK + 3)
    np.testing.assert_allclose(_lr(batch, covid.context.close[-1]), lr, rtol=1e-9, atol=1e-12)
    last = covid.context.close[-1]
    wide = _lr(make_generator("garch", {"drift_prior_sd": 0.0}).fit(covid.context).sample(252, 0, 0, 400), last).sum(axis=0)
    narrow = _lr(make_generator("garch", {"uncertainty": "none"}).fit(covid.context).sample(252, 0, 0, 400), last).sum(axis=0)
    assert wide.std() > 1.1 * narrow.std()  # estimation uncertainty widens the 1-year spread
    shrunk = _lr(fitted.sample(252, 0, 0, 400), last).sum(axis=0)
    assert np.median(shrunk) < np.median(narrow) - 0.1  # AAPL's 62%/yr fitted drift pulled toward the 6%/yr prior


def test_bootstrap_drift_per_path_is_the_block_bootstrapped_context_mean(covid):
    ctx = covid.context
    from parallelverse.bars import bars_from_relative

    from parallelverse.generators.drift import PRIOR_MEAN, PRIOR_SD

    r = np.diff(np.log(ctx.close))
    flat = make_generator("bootstrap", {"drift_prior_sd": 0.0}).fit(ctx)
    d = flat.path_drifts(0, 0, 2000)  # no prior: the block-bootstrapped context mean itself
    assert d.mean() == pytest.approx(r.mean(), abs=3 * d.std() / np.sqrt(2000))
    assert d.std() > r.std() / np.sqrt(len(r))  # blocks keep the dependence: at least the i.i.d. standard error
    fitted = make_generator("bootstrap").fit(ctx)  # the default: posterior under the equity-premium prior
    m, se, pm, ps = fitted.drift()
    s0, m0 = PRIOR_SD / fitted.bars_per_year, PRIOR_MEAN / fitted.bars_per_year  # by hand
    assert (m, se) == (pytest.approx(r.mean()), pytest.approx(flat.drift()[1]))
    assert pm == pytest.approx((m / se**2 + m0 / s0**2) / (1 / se**2 + 1 / s0**2)) and ps == pytest.approx((1 / se**2 + 1 / s0**2) ** -0.5)
    dp = fitted.path_drifts(0, 0, 2000)
    raw = fitted.rel[3][fitted.indices(path_rngs(0, "bootstrap-drift", 0, 2000), fitted.rel.shape[1])].mean(axis=0)
    np.testing.assert_allclose(dp, pm + (raw - m) * ps / se, rtol=1e-12)  # block-bootstrapped means, moved to the posterior
    b = fitted.sample(50, 0, 0, 20)
    p = bars_from_relative(fitted.rel, fitted.volume, fitted.indices(path_rngs(0, "bootstrap", 0, 20), 50), ctx.close[-1])
    # the plain bootstrap's blocks of bars, demeaned, then each path's own drift
    shift = np.arange(1, 51)[:, None] * (dp[None, :20] - r.mean())
    np.testing.assert_allclose(np.log(b.close / p.close), shift, atol=1e-9)


@pytest.mark.parametrize(
    "name, params",
    [("garch", {}), ("garch", {"uncertainty": "none"}), ("garch", {"vol": "egarch", "dist": "normal"}), ("garch", {"dist": "skewt"}),
     ("garch", {"vol": "garch", "fhs": True}), ("bootstrap", {}), ("bootstrap", {"block_bars": 5})],
)
def test_same_paths_whatever_the_chunking(covid, name, params):
    fitted = make_generator(name, params).fit(covid.context)
    whole = fitted.sample(40, 3, 0, 300)
    parts = [fitted.sample(40, 3, lo, hi) for lo, hi in ((0, 7), (7, 250), (250, 300))]
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
