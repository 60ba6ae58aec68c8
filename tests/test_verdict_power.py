"""Power: a real edge is called Skill, and more often than by the old largest-p rule.

Small seeded version of benchmarks/verdict_size_power.py (300 replications at B = 999: AR(1) phi = 0.2 traded by
1-bar momentum, "Skill" 68.7% [63.1%, 73.9%] vs 43.7% for the old rule; SMA on drift regimes 30.7% [25.5%, 36.2%]).
"""

from __future__ import annotations

from tests.verdict_studies import verdict_states


def test_ar1_momentum_edge_is_called_skill():
    states, ps, old = verdict_states("ar1", "momentum", reps=20, n_null=199, seed0=500)
    assert states.count("Skill") >= 9  # expected ~13 of 20 at B = 199
    assert states.count("Skill") >= old.count("Skill")
    assert all(s == "Skill" for s, o in zip(states, old) if o == "Skill")


def test_sma_on_persistent_drift_regimes_is_sometimes_called_skill():
    states, _, old = verdict_states("drift_regimes", "sma", reps=20, n_null=199, seed0=700,
                                    nulls=("permutation", "bootstrap", "garch", "random-entry"))
    assert states.count("Skill") >= 2  # ~27% expected; the old rule: almost never (random entry piles up at 1)
    assert states.count("Skill") > old.count("Skill")
