"""Bar invariants, the EWMA yardstick, and bar synthesis on hand-computed fixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from parallelverse.bars import BarShapes, PathBatch, bar_shapes, ewma_variance, invariant_violations, synthesize_bars


def test_ewma_variance_by_hand():
    out = ewma_variance(np.array([0.01, -0.02, 0.03]), init_var=1e-4, lam=0.94)
    # 1e-4; .94e-4 + .06e-4; .94e-4 + .06*4e-4; .94*1.18e-4 + .06*9e-4
    np.testing.assert_allclose(out, [1e-4, 1e-4, 1.18e-4, 1.6492e-4], rtol=1e-12)


def test_invariant_violations_flags_each_kind():
    ok = dict(open=[[10.0]], high=[[11.0]], low=[[9.0]], close=[[10.5]], volume=[[100.0]])
    cases = {
        "high below close": dict(high=[[10.4]]),
        "low above open": dict(low=[[10.1]]),
        "negative volume": dict(volume=[[-1.0]]),
        "zero low": dict(low=[[0.0]], open=[[0.0]]),
        "nan": dict(close=[[np.nan]]),
    }
    assert not invariant_violations(PathBatch(**{k: np.array(v) for k, v in ok.items()})).any()
    for change in cases.values():
        b = PathBatch(**{k: np.array(change.get(k, v)) for k, v in ok.items()})
        assert invariant_violations(b).all()


def _fixture_shapes() -> BarShapes:
    k = np.arange(15.0)
    resid = k * 0.01
    resid[9] = np.nan  # donor 9 traded nothing
    return BarShapes(
        z=k - 7.0,  # -7 .. 7, ascending
        gap=k / 10,
        upper=1.0 + k / 10,
        lower=2.0 + k / 10,
        volume_resid=resid,
        volume_coef=(10.0, 0.5),
        last_var=1e-4,  # vol 0.01 for the first synthetic bar
        has_volume=True,
    )


def test_synthesize_two_bars_by_hand():
    b = synthesize_bars(_fixture_shapes(), 100.0, np.array([[0.01], [-0.02]]), np.array([[0.0], [0.99]]))
    # Bar 0: vol .01, z = 1 -> searchsorted gives 8, pool of 10 starts at 8-5 = 3, u = 0 -> donor 3.
    c0 = 100 * math.exp(0.01)
    o0 = 100 * math.exp(0.3 * 0.01)
    assert b.close[0, 0] == pytest.approx(c0, rel=1e-14)
    assert b.open[0, 0] == pytest.approx(o0, rel=1e-14)
    assert b.high[0, 0] == pytest.approx(max(o0, c0) * math.exp(1.3 * 0.01), rel=1e-14)
    assert b.low[0, 0] == pytest.approx(min(o0, c0) * math.exp(-2.3 * 0.01), rel=1e-14)
    assert b.volume[0, 0] == pytest.approx(math.exp(10 + 0.5 * math.log(0.01) + 0.03), rel=1e-12)
    # Bar 1: var .94e-4 + .06e-4 = 1e-4 again; z = -2 -> pool starts at clip(5-5) = 0; u = .99 -> donor 9.
    c1 = c0 * math.exp(-0.02)
    o1 = c0 * math.exp(0.9 * 0.01)
    assert b.close[1, 0] == pytest.approx(c1, rel=1e-14)
    assert b.open[1, 0] == pytest.approx(o1, rel=1e-14)
    assert b.high[1, 0] == pytest.approx(o1 * math.exp(1.9 * 0.01), rel=1e-14)
    assert b.low[1, 0] == pytest.approx(c1 * math.exp(-2.9 * 0.01), rel=1e-14)
    assert b.volume[1, 0] == 0.0  # the donor's zero volume is kept


def test_bar_shapes_reproduce_the_context(aapl_split):
    """Feeding the context's own returns back in, with the context's own volatility, rebuilds bars whose
    gaps and wicks come from donors with (nearly) the same standardised move."""
    ctx = aapl_split(400, 1).context
    shapes = bar_shapes(ctx)
    assert len(shapes.z) == 399 and np.all(np.diff(shapes.z) >= 0)
    assert np.all(shapes.upper >= 0) and np.all(shapes.lower >= 0)
    slope = shapes.volume_coef[1]
    assert slope > 0  # volume rises with volatility in real data
    r = np.diff(np.log(ctx.close))[:, None] * np.ones((1, 50))
    rng = np.random.default_rng(0)
    b = synthesize_bars(shapes, float(ctx.close[0]), r, rng.random(r.shape))
    assert not invariant_violations(b).any()
    np.testing.assert_allclose(b.close[:, 0], ctx.close[1:], rtol=1e-10)
    # Synthetic intrabar ranges have the same scale as the real ones.
    real_range = np.median(np.log(ctx.high[1:] / ctx.low[1:]))
    syn_range = np.median(np.log(b.high / b.low))
    assert 0.7 < syn_range / real_range < 1.4
