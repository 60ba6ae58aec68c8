"""Statistics against worked examples and references: DSR (Bailey & Lopez de Prado 2014), PSR, MinTRL,
Clopper-Pearson (scipy), Monte Carlo p-values, CRPS, PBO."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from parallelverse.verdict.fidelity import crps_ensemble
from parallelverse.verdict.pbo import cscv, cscv_by_split
from parallelverse.verdict.stats import (clopper_pearson, expected_max_sharpe, mc_p_value, min_track_record,
                                         percentile_with_ci, psr, psr_from)


def test_dsr_worked_example_from_the_paper():
    """Bailey & Lopez de Prado (2014), 'The Deflated Sharpe Ratio', numerical example: annualised SR 2.5 over
    5 years of daily returns (T = 1250, 250 per year), N = 100 trials with annualised V[SR] = 1/2,
    skewness -3, kurtosis 10 -> SR0 = 0.1132 (per day) and DSR = 0.9004."""
    sr = 2.5 / math.sqrt(250)
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=1e-4)
    assert psr_from(sr, -3.0, 10.0, 1250, sr0) == pytest.approx(0.9004, abs=1e-4)


def test_psr_under_normality_is_the_sharpe_z_test():
    sr, t = 0.1, 252
    want = stats.norm.cdf(sr * math.sqrt(t - 1) / math.sqrt(1 + sr * sr / 2))  # skew 0, raw kurtosis 3
    assert psr_from(sr, 0.0, 3.0, t) == pytest.approx(want, rel=1e-12)


def test_psr_uses_raw_kurtosis_and_min_trl_is_consistent():
    r = np.random.default_rng(0).normal(0.001, 0.01, 20_000)
    out = psr(r)
    assert out["kurtosis"] == pytest.approx(3.0, abs=0.1)  # raw, not excess
    r = r[:500]
    n = min_track_record(r)
    sr, g3, g4 = r.mean() / r.std(ddof=1), stats.skew(r), stats.kurtosis(r, fisher=False)
    # At exactly MinTRL periods the PSR equals 1 - alpha.
    z = (sr) * math.sqrt(n - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr * sr)
    assert stats.norm.cdf(z) == pytest.approx(0.95, abs=1e-9)


@pytest.mark.parametrize("k, n", [(0, 99), (1, 99), (40, 999), (500, 999), (999, 999), (3, 20)])
def test_clopper_pearson_matches_scipy(k, n):
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    lo, hi = clopper_pearson(k, n)
    assert lo == pytest.approx(ref.low, abs=1e-12) and hi == pytest.approx(ref.high, abs=1e-12)


def test_p_value_is_never_zero_and_counts_ties():
    null = np.arange(999.0)
    p = mc_p_value(1e9, null)
    assert p.p == 1 / 1000 and p.b == 0 and p.ci[0] == 0.0
    p = mc_p_value(958.0, null)  # 41 null values >= 958 (958 .. 998)
    assert p.b == 41 and p.p == pytest.approx(42 / 1000)
    lo, hi = clopper_pearson(40, 999)
    assert (round(lo, 3), round(hi, 3)) == (0.029, 0.054)  # the example in shared/notes: straddles 0.05
    assert not mc_p_value(959.0, null).decided(0.05)


def test_percentile_ties_count_half():
    pct = percentile_with_ci(2.0, np.array([1.0, 2.0, 2.0, 3.0]))
    assert pct.value == pytest.approx(50.0)
    assert pct.ci[0] < 50 < pct.ci[1]


def test_crps_matches_brute_force():
    x = np.random.default_rng(1).standard_t(4, 300)
    y = 0.7
    brute = np.mean(np.abs(x - y)) - 0.5 * np.mean(np.abs(x[:, None] - x[None, :]))
    assert crps_ensemble(x, y) == pytest.approx(brute, rel=1e-12)


def test_pbo_is_about_half_under_noise_and_low_with_a_real_winner():
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 0.01, (1000, 10))
    assert 0.3 < cscv(noise)["pbo"] < 0.7
    edge = noise.copy()
    edge[:, 3] += 0.004  # one configuration truly better
    out = cscv(edge)
    assert out["pbo"] < 0.05 and out["n_splits"] == 12870


def test_pbo_treats_tied_configurations_alike_whatever_their_order_or_last_bit():
    """A grid whose configurations are flat over whole blocks ties there: the in-sample win is shared and the
    out-of-sample rank averaged, so neither the column order nor 1e-16 noise moves PBO (argmax and rankdata
    used to pick by the last bit: 0.064 against 0.079 for one equity read two ways)."""
    rng = np.random.default_rng(5)
    base = rng.normal(0, 0.01, (512, 4))
    base[:, 1] = base[:, 0]  # configurations 0 and 1 identical but for the last block: tied whenever it is out
    base[480:, 1] = rng.normal(0, 0.01, 32)
    base[:, 2] = np.where(np.arange(512) % 64 < 32, base[:, 0], 0.0)  # partly flat, partly a copy
    ref = cscv(base)
    for order in ([1, 0, 2, 3], [3, 2, 1, 0]):
        assert cscv(base[:, order])["pbo"] == pytest.approx(ref["pbo"], abs=1e-12)
    jitter = base * (1 + rng.uniform(-1, 1, base.shape) * 4e-16)
    assert cscv(jitter)["pbo"] == pytest.approx(ref["pbo"], abs=1e-12)
    # two identical configurations: the shared winner sits at the out-of-sample median, lambda = 0 in every split
    twin = np.column_stack([base[:, 0], base[:, 0]])
    out = cscv(twin)
    assert out["pbo"] == 1.0 and set(out["logits"]) == {0.0}


CSCV_CASES = ["noise", "tied", "flat", "edge", "non-finite", "constant", "rounded"]


@pytest.mark.parametrize("case", CSCV_CASES)
def test_pbo_from_block_moments_equals_the_split_by_split_loop(case):
    """cscv() pools the blocks' moments for all C(S, S/2) splits at once; its twin, the loop over splits as the
    paper writes it, is the oracle (12 blocks here, 924 splits, to keep the loop short)."""
    rng = np.random.default_rng(CSCV_CASES.index(case))
    r = rng.standard_t(4, (250, 6)) * 0.01  # 250 bars: 12 blocks of 20, the last 10 bars unused
    if case == "tied":
        r[:, 1] = r[:, 0]
        r[220:, 1] += 0.001
    if case == "flat":
        r[:, 2] = 0.0
        r[:120, 3] = 0.0
    if case == "edge":
        r[:, 4] += 0.003
    if case == "non-finite":  # a book at 0 equity gives a NaN return: only the splits holding it lose that Sharpe
        r[5, 2], r[100, 4] = np.nan, np.inf
    if case == "constant":  # a spread of 1e-17 is rounding, not a Sharpe of 1e15 (a hostile tester: PBO 0.2 vs 0)
        r[:, 0] = 1 / 3
    if case == "rounded":  # out-of-sample means 0 but for rounding are no losses (p_oos_loss 0.35 vs 0.37)
        r = np.round(r, 2)
        r[:, 5] = r[:, 1]
    got, want = cscv(r, n_blocks=12), cscv_by_split(r, n_blocks=12)
    assert got["n_splits"] == want["n_splits"] == 924 and got["n_blocks"] == 12
    np.testing.assert_allclose(got["logits"], want["logits"], atol=2e-6)
    for k in ("pbo", "p_oos_loss", "degradation_slope"):
        assert got[k] == pytest.approx(want[k], abs=1e-9), k


def test_psr_needs_returns_to_approximate_and_says_so_below_the_threshold():
    """Seeded replication of the threshold: 252 bars with k non-zero i.i.d. t(4) returns of mean 0 (no edge).
    PSR's own formula says "> 0.95" far more than 5% of the time for a book invested a few bars, so below
    MIN_PSR_RETURNS non-zero returns psr(), DSR and MinTRL are NaN (a hostile tester's one-day book: PSR 0.997)."""
    from parallelverse.verdict.stats import MIN_PSR_RETURNS, dsr, sharpe_moments

    rng = np.random.default_rng(3)

    def false_alarms(k: int, reps: int = 1500) -> float:
        hits = 0
        for _ in range(reps):
            r = np.zeros(252)
            r[rng.choice(252, k, replace=False)] = 0.015 * rng.standard_t(4, k)
            hits += psr_from(*sharpe_moments(r)) > 0.95
        return hits / reps

    assert false_alarms(3) > 0.15 and false_alarms(8) > 0.09  # the normal approximation fails
    assert false_alarms(MIN_PSR_RETURNS) < 0.10 and false_alarms(100) < 0.08
    one_day = np.zeros(252)
    one_day[100] = 0.01
    assert math.isnan(psr(one_day)["psr"]) and psr(one_day)["n_nonzero"] == 1
    assert math.isnan(dsr(one_day, np.array([0.05, 0.0]))["dsr"]) and math.isnan(min_track_record(one_day))
    enough = np.zeros(252)
    enough[:MIN_PSR_RETURNS] = rng.normal(0.002, 0.01, MIN_PSR_RETURNS)
    assert math.isfinite(psr(enough)["psr"]) and math.isfinite(min_track_record(enough))
