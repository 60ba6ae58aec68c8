"""The drift a generator hands its paths when it does not take the context's mean as known.

A drift fitted on a few hundred bars has a standard error of about sigma / sqrt(N) per bar
(±25%/yr for 30% volatility over 400 bars), and on the bundled held-out windows the fitted
drift ran 20-28%/yr above what followed. With a prior the per-path drift is drawn from the
normal posterior of a normal prior on the annual log drift, N(PRIOR_MEAN, prior_sd^2) —
a long-run equity premium — and the sample mean with its standard error:

    precision = 1 / se^2 + 1 / s0^2,  mean = (m / se^2 + m0 / s0^2) / precision,  sd = precision^-1/2

(per bar: m0 = PRIOR_MEAN / bars_per_year, s0 = prior_sd / bars_per_year, with the data's own year:
`trading_calendar.bars_per_year`). prior_sd = 0 means
no prior: the sample mean's own sampling distribution.
"""

from __future__ import annotations

import numpy as np

from parallelverse.errors import GeneratorError

PRIOR_MEAN = 0.06  # annual log drift the prior centres on: a long-run equity premium
PRIOR_SD = 0.20  # default annual sd of the prior: wide enough that a fixed 10%/yr drift is not pulled off (path-luck study)
MAX_PRIOR_SD = 2.0  # annual; wider than any drift a market has shown, and far from overflowing exp()


def check_prior_sd(generator: str, value: float) -> None:
    """The one check of a drift_prior_sd: finite, in [0, MAX_PRIOR_SD]."""
    if not (np.isfinite(value) and 0 <= value <= MAX_PRIOR_SD):
        raise GeneratorError(f"{generator} drift_prior_sd={value} must be in [0, {MAX_PRIOR_SD:g}] (annual sd of the drift "
                             "prior; 0 = no prior)")


def drift_posterior(mean: float, se: float, bars_per_year: float, prior_sd: float) -> tuple[float, float]:
    """(mean, sd) per bar of the drift paths draw from; (mean, se) without a prior or a usable se."""
    if not prior_sd > 0 or not se > 0:
        return mean, se
    m0, s0 = PRIOR_MEAN / bars_per_year, prior_sd / bars_per_year
    w = s0**2 / (s0**2 + se**2)  # the data's weight: the precision form above, written so a tiny s0 cannot divide by 0
    return m0 + w * (mean - m0), se * w**0.5
