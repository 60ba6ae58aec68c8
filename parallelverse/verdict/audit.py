"""Audit the skill test in the user's own universes: how often each null calls a planted zero-edge
strategy skilled (false-positive rate), and how often it finds a planted known edge (power).

Each of `n_plant` paths of a realistic universe stands in for the real future after the store's
real context. On it we plant one strategy that cannot look at prices: a fixed exposure s_t in
{-1, 0, +1}, in blocks of 5 bars, drawn from the plant's own stream.

- zero edge: the path as generated. s has no relation to it; "Skill" is a false positive.
- known edge: the same path with every bar tilted in the direction s holds, by `edge_sharpe`
  (annualised) times the path's own per-bar volatility / sqrt(bars per year): the strategy's
  Sharpe rises by about edge_sharpe. All four prices of a bar move together, so bars stay valid.

Every null (deciding and robustness) and the combined verdict are run on each plant, and rates
come with Clopper-Pearson intervals. The plants are futures from the user's generators, so the
audit answers "is the test calibrated and powerful on markets like mine", not in general.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from parallelverse.backtest.engine import Costs
from parallelverse.backtest.strategy import Strategy
from parallelverse.market import Ohlcv
from parallelverse.rng import path_rngs
from parallelverse.store import read_store
from parallelverse.errors import InputError
from parallelverse.verdict.nulls import MIN_GARCH_BARS
from parallelverse.verdict.skill import DECIDING, MIN_REAL_BARS, ROBUSTNESS, decide_skill, skill_tests
from parallelverse.verdict.stats import clopper_pearson
from parallelverse.window import SeedSplit

ALPHA = 0.05
BLOCK = 5  # bars per block of the planted exposure
INTERVAL = "Clopper-Pearson 95%"  # the interval of every rate


@dataclass(frozen=True)
class Rate:
    k: int
    n: int
    rate: float
    ci: list[float]  # [lo, hi] of `interval`
    interval: str = INTERVAL  # named in --json too, so a reader of the numbers knows what ci is


@dataclass(frozen=True)
class Unbuilt:
    """A null that could not be built on some plants (a plant's zero-edge and known-edge runs count once)."""
    plants: int  # plants where it could not be built
    of: int  # plants run
    reasons: dict[str, int]  # why (skill_tests' reason, with the fix where one is known) -> plants


@dataclass(frozen=True)
class AuditRow:
    universe: str
    test: str  # a null's name, or "verdict" (the combined decision: state == Skill)
    role: str  # decides | robustness | verdict
    false_positive: Rate  # zero-edge plants called skilled (p <= alpha; for the verdict: "Skill")
    power: Rate  # known-edge plants called skilled


@dataclass(frozen=True)
class Audit:
    store: str
    n_plant: int
    n_null_paths: int
    edge_sharpe: float  # planted edge, annualised Sharpe
    alpha: float
    rows: list[AuditRow] = field(default_factory=list)
    unavailable: dict[str, Unbuilt] = field(default_factory=dict)  # null -> where and why it could not be built
    plants: dict[str, int] = field(default_factory=dict)  # universe -> plants run (n_plant, or fewer paths)
    deciding_built: dict[int, int] = field(default_factory=dict)  # deciding nulls built on a plant -> plant runs


def _rate(k: int, n: int) -> Rate:
    return Rate(k, n, k / n if n else float("nan"), list(clopper_pearson(k, n)) if n else [float("nan")] * 2)


def planted_exposure(seed: int, k: int, n_bars: int) -> np.ndarray:
    rng = path_rngs(seed, "audit-plant", k, k + 1)[0]
    return np.repeat(rng.choice([-1.0, 0.0, 1.0], n_bars // BLOCK + 1), BLOCK)[:n_bars]


def _fixed(exposure: np.ndarray, warmup: int) -> Strategy:
    """Exposure[i] decided at horizon bar i (row warmup + i; filled at that bar's close), whatever the prices."""
    def positions(bars):
        e = np.zeros(bars.shape[0])
        n = min(len(exposure), bars.shape[0] - warmup)
        e[warmup:warmup + n] = exposure[:n]
        return np.broadcast_to(e[:, None], bars.shape).copy()

    return Strategy(Path("audit-plant.py"), "audit-plant", warmup, ({},), "-", positions)


def _plant_split(split: SeedSplit, fields: dict[str, np.ndarray], tilt: np.ndarray | None) -> SeedSplit:
    """The real context followed by one synthetic path (tilted bar by bar by `tilt` log points) as the future."""
    ce = split.context_end
    h = len(fields["close"])
    grow = np.exp(np.cumsum(tilt)) if tilt is not None else np.ones(h)
    ctx = split.history
    cat = lambda f, x: np.concatenate([getattr(ctx, f)[:ce], x])  # noqa: E731
    time = np.concatenate([ctx.time[:ce], split.horizon_time[:h]])
    bars = Ohlcv(ctx.symbol, ctx.source, time, *(cat(f, fields[f] * (grow if f != "volume" else 1.0))
                                                 for f in ("open", "high", "low", "close", "volume")))
    return SeedSplit(split.window, bars, ce, ce + h, split.horizon_time)


def run_audit(store: str | Path, universes: list[str] | None = None, n_plant: int = 60, n_null: int = 99,
              edge_sharpe: float = 1.5, seed: int = 0, progress=None) -> Audit:
    st = read_store(Path(store))
    split = st.split()
    if split.horizon_bars < MIN_REAL_BARS:  # every test would be 'not testable': say so before the work
        raise InputError(f"store {str(store)!r} has a {split.horizon_bars}-bar horizon; the skill tests need at least "
                         f"{MIN_REAL_BARS} bars, so there is nothing to audit; generate with --horizon {MIN_REAL_BARS} "
                         "or more")
    names, _ = st.choose_universes(universes)
    costs = Costs(fees_bps=0.0, slippage_bps=0.0, fill="close")  # the plant trades at the close it decides on
    nulls = DECIDING + ROBUSTNESS
    audit = Audit(str(store), n_plant, n_null, edge_sharpe, ALPHA)
    gone: dict[str, dict[str, int]] = {}  # null -> reason -> plants
    for u in names:
        universe = st.universe(u)
        m = min(n_plant, universe.n_paths)
        audit.plants[u] = m
        hits = {(kind, t): 0 for kind in ("zero", "edge") for t in (*nulls, "verdict")}
        avail = {(kind, t): 0 for kind in ("zero", "edge") for t in (*nulls, "verdict")}
        for k in range(m):
            batch = universe.read(k, k + 1)
            fields = {f: getattr(batch, f)[:, 0] for f in ("open", "high", "low", "close", "volume")}
            h = len(fields["close"])
            s = planted_exposure(seed, k, h)
            r = np.diff(np.log(np.concatenate([[split.history.close[split.context_end - 1]], fields["close"]])))
            vol = float(np.std(r))
            per_bar = edge_sharpe / np.sqrt(costs.periods_per_year)
            tilt = np.concatenate([[0.0], per_bar * vol * s[:-1]])  # exposure held from close t earns bar t+1
            strat = _fixed(s, 1)
            gone_here: dict[str, str] = {}  # null -> why, on this plant (either run)
            for kind, plant in (("zero", _plant_split(split, fields, None)), ("edge", _plant_split(split, fields, tilt))):
                tests = skill_tests(strat, plant, costs, n_paths=n_null, seed=seed + k, nulls=nulls)
                for t in tests:
                    if t.available:
                        avail[(kind, t.name)] += 1
                        hits[(kind, t.name)] += int(t.p.p <= ALPHA)
                    else:
                        fix = (f"; generate with --horizon {MIN_GARCH_BARS} or more for it"
                               if t.name == "garch" and h < MIN_GARCH_BARS else "")
                        gone_here.setdefault(t.name, t.reason + fix)
                built = sum(1 for t in tests if t.available and t.name in DECIDING)
                audit.deciding_built[built] = audit.deciding_built.get(built, 0) + 1
                if any(t.available and t.name in DECIDING for t in tests):  # else no verdict could be reached
                    avail[(kind, "verdict")] += 1
                    hits[(kind, "verdict")] += int(decide_skill(tests, None, ALPHA).state == "Skill")
            for name, why in gone_here.items():
                gone.setdefault(name, {})[why] = gone.setdefault(name, {}).get(why, 0) + 1
            if progress:
                progress(u, k + 1, m)
        for t in (*nulls, "verdict"):
            role = "verdict" if t == "verdict" else "decides" if t in DECIDING else "robustness"
            audit.rows.append(AuditRow(u, t, role, _rate(hits[("zero", t)], avail[("zero", t)]),
                                       _rate(hits[("edge", t)], avail[("edge", t)])))
    total = sum(audit.plants.values())
    for name, reasons in gone.items():
        audit.unavailable[name] = Unbuilt(sum(reasons.values()), total, dict(reasons))
    return audit
