"""calibrate's scores and tests: CRPS against its definition, PIT ties, window grids, the
uniformity and coverage tests on a synthetic GJR-GARCH-t market (seeded)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from parallelverse.calibrate import CalibrateRequest, aggregate, plan_calibrate, run_calibrate, window_specs
from parallelverse.calibrate.aggregate import berkowitz_p, diebold_mariano, independent_subset, newey_west_var
from parallelverse.calibrate.scores import crps_normal, max_drawdown, pit
from parallelverse.calibrate.synthetic import gjr_garch_t_bars
from parallelverse.errors import CalibrateError
from parallelverse.verdict.fidelity import crps_ensemble


def test_crps_equals_the_quadratic_definition():
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 200):
        x = np.round(rng.standard_t(4, n), 1)  # rounded: ties included
        for y in (-3.0, 0.0, float(x[0]), 0.37, 5.0):
            direct = np.mean(np.abs(x - y)) - 0.5 * np.mean(np.abs(x[:, None] - x[None, :]))
            assert crps_ensemble(x, y) == pytest.approx(direct, rel=1e-12, abs=1e-14)


def test_crps_of_a_normal_equals_the_integral_of_the_squared_cdf_gap():
    for mu, sigma, y in ((0.0, 1.0, 0.3), (4.6, 0.2, 4.1), (-1.0, 3.0, 2.5)):
        f = lambda t: (stats.norm.cdf(t, mu, sigma) - (t >= y)) ** 2  # noqa: E731
        lo, hi = mu - 12 * sigma, mu + 12 * sigma
        val = integrate.quad(f, lo, y, epsabs=1e-12)[0] + integrate.quad(f, y, hi, epsabs=1e-12)[0]
        assert crps_normal(mu, sigma, y) == pytest.approx(val, rel=1e-8)


def test_pit_counts_ties_half():
    x = np.array([1.0, 2.0, 2.0, 2.0, 3.0])
    assert pit(x, 2.0) == pytest.approx((1 + 1.5) / 5)
    assert pit(x, 1.0) == pytest.approx(0.5 / 5)
    assert (pit(x, 0.0), pit(x, 9.0)) == (0.0, 1.0)
    assert pit(np.full(4, 7.0), 7.0) == 0.5  # a degenerate ensemble puts the outcome in the middle
    assert pit(np.array([1.0, np.nan, 3.0]), 2.0) == 0.5  # non-finite draws are ignored


def test_max_drawdown_counts_the_start_as_a_peak():
    c = np.array([[90.0, 110.0], [99.0, 121.0], [80.0, 100.0]])
    assert max_drawdown(c, 100.0) == pytest.approx([0.2, 1 - 100 / 121])


def test_window_grid():
    w, step = window_specs("2020-01:2022-09", "3M")
    assert w[0] == "2020-01" and w[-1] == "2022-07" and len(w) == 11 and step == 3
    assert window_specs("2019:2020", "1Y") == (["2019-01", "2020-01"], 12)
    assert window_specs("2021-05", "1M") == (["2021-05"], 1)
    for bad, every in (("2020-13:2021-01", "3M"), ("2021-01:2020-01", "3M"), ("20-01:2021", "3M"), ("2020:2021", "0M"),
                       ("2020:2021", "3W")):
        with pytest.raises(CalibrateError):
            window_specs(bad, every)


def test_newey_west_and_dm_reduce_to_the_textbook_cases():
    rng = np.random.default_rng(0)
    d = rng.normal(0.3, 1.0, 400)
    assert newey_west_var(d, 0) == pytest.approx(d.var())
    dm, p = diebold_mariano(d[:20], 0)  # T = 20: bandwidth floor(4 * 0.2^(2/9)) = 2
    t = d[:20].mean() / np.sqrt(newey_west_var(d[:20], 2) / 20) * np.sqrt(19 / 20)  # HLN factor at lag 0
    assert dm == pytest.approx(t) and p == pytest.approx(2 * stats.t.sf(abs(t), 19))
    # sizes: under mean 0 with MA(2) errors and lag 2, rejections at 5% stay near 5%
    rej = 0
    for s in range(300):
        e = np.random.default_rng(s).normal(size=63)
        rej += diebold_mariano(e[2:] + e[1:-1] + e[:-2], 2)[1] < 0.05
    assert 0.02 <= rej / 300 <= 0.10


def test_berkowitz_is_uniform_under_the_null_and_rejects_a_wrong_scale():
    rng = np.random.default_rng(1)
    ps = [berkowitz_p(rng.random(60), 500) for _ in range(300)]
    assert stats.kstest(ps, "uniform").pvalue > 0.01
    too_wide = stats.norm.cdf(rng.standard_normal(60) / 1.5)  # PITs of a forecast 1.5x too wide
    assert berkowitz_p(too_wide, 500) < 1e-3


def test_independent_subset_keeps_non_overlapping_horizons():
    recs = [{"symbol": "A", "window": w, "horizon_start": s, "horizons": {"63": {"end": e}}}
            for w, s, e in (("1", "2020-02-01", "2020-05-01"), ("2", "2020-03-01", "2020-06-01"),
                            ("3", "2020-05-02", "2020-08-01"), ("4", "2020-08-01", "2020-11-01"))]
    assert independent_subset(recs, 63) == {("A", "1"), ("A", "3")}


# --- the scoring is right: a synthetic market from a known GJR-GARCH-t process -----------------------------

@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """GARCH and GARCH with 1.5x volatility on 2 x 100 monthly, non-overlapping 20-bar horizons of two independent
    markets from one known process."""
    path = tmp_path_factory.mktemp("synthetic") / "gjr.csv"
    pd.concat([gjr_garch_t_bars(7, 2800, "GJR1"), gjr_garch_t_bars(8, 2800, "GJR2")]).to_csv(path, index=False)
    req = CalibrateRequest(data=str(path), windows="1991-09:1999-12", every="1M", horizons=(20,),
                           generators=("garch",), generator_params={"garch": {"vol_scale": 1.5}}, n_paths=100,
                           seed=1, out=str(tmp_path_factory.mktemp("out")), workers=1)
    plan = plan_calibrate(req)
    run = run_calibrate(plan)
    return aggregate(run.records, req.horizons, plan.every_months, plan.reference, plan.spans)


def test_garch_on_its_own_process_is_calibrated(synthetic):
    s = synthetic.summary("garch-gjr-t", 20)
    assert s.n_cells == s.n_independent == 200  # monthly windows, 20-bar horizons (no month has fewer weekdays): no overlap
    assert s.pit_final.ks_p > 0.01 and s.pit_final.berkowitz_p > 0.01 and s.uniform
    assert s.pit_vol.ks_p > 0.01 and s.pit_mdd.ks_p > 0.01
    c90 = s.coverage["90"]
    assert c90.consistent and c90.ci[0] <= 0.9 <= c90.ci[1]
    assert s.coverage["50"].consistent


def test_garch_with_one_and_a_half_times_the_volatility_fails(synthetic):
    s = synthetic.summary("garch-gjr-t-vs1.5", 20)
    assert s.n_cells == 200
    assert s.uniform is False and s.pit_final.berkowitz_p < 0.01  # PITs pile up in the middle
    assert s.pit_vol.ks_p < 0.01  # its realized volatility sits low in the synthetic distribution
    assert s.coverage["90"].consistent is False and s.coverage["90"].ci[0] > 0.9  # covers too much
    assert s.vs_reference.skill < 0  # and the proper score prefers the calibrated generator
    # Diebold-Mariano's Newey-West lag covers windows a 20-bar horizon can reach: monthly starts may be 19 bars apart
    assert s.vs_reference.lag == 1 and s.vs_reference.n_windows == 100


