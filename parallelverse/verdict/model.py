"""The Verdict: every number the report shows, as frozen dataclasses.

`verdict.build.build_verdict` makes one; the terminal view (`cli/report_view.py`),
the HTML report (`report/html.py`) and `report --json` all read it. The JSON is the
object serialised by `to_json`: fields in declaration order, nested dataclasses as
objects; a field marked `OMIT_NONE` is left out when it is None, one marked
`NOT_JSON` (plot data, provenance) is never written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass

OMIT_NONE = {"omit_none": True}
NOT_JSON = {"json": False}


def to_json(obj):
    """Plain dicts, lists and numbers of a Verdict (or any part of it), for `--json`."""
    if is_dataclass(obj):
        out = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            if f.metadata.get("json", True) and not (value is None and f.metadata.get("omit_none")):
                out[f.name] = to_json(value)
        return out
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    return obj


# --- skill: the real result against null markets -------------------------------------------------


@dataclass(frozen=True)
class NullTestResult:
    name: str  # permutation, bootstrap, garch, random-entry
    role: str  # "decides" (combined into the verdict), "robustness" (shown, never decides) or "reference" (Not testable)
    available: bool  # False: the null could not be built here (see `unavailable_because`)
    real: float  # best-of-grid statistic on the real history
    p: float | None  # (1 + b) / (B + 1); None when unavailable
    b: int | None  # null paths at least as good as the real history
    n_paths: int  # B (0 when unavailable)
    mc_interval: list[float] | None  # Clopper-Pearson interval of p: Monte Carlo error from finite B only
    null_median: float | None
    decided: bool  # the interval is on one side of alpha
    paths_to_decide: int  # about how many null paths would settle it (0 when decided)
    detectable_effect: float | None  # the shift of the statistic this null detects 80% of the time at alpha
    unavailable_because: str | None = field(default=None, metadata=OMIT_NONE)
    null: list[float] = field(default=None, metadata=NOT_JSON)  # (B,) the statistic on each null path


@dataclass(frozen=True)
class CombinedP:
    """The deciding nulls combined into one p (Simes: p = min_i k p_(i) / i over the k deciding nulls)."""

    rule: str  # simes
    p: float
    mc_interval: list[float]  # Simes of the nulls' Monte Carlo interval endpoints
    nulls: list[str]  # the nulls that decided
    attained_by: str  # the null whose ordered p sets the minimum
    paths_to_decide: int  # null paths (for attained_by) that would settle an undecided p; 0 when decided
    detectable_effect: float  # excess statistic the verdict (Simes, MC intervals) calls Skill with `power`; inf: none can
    power: float


@dataclass(frozen=True)
class Skill:
    tests: tuple[NullTestResult, ...]
    combined: CombinedP | None  # None when no deciding null could be built, or nothing is testable
    alpha: float


# --- Sharpe statistics of the real result ---------------------------------------------------------


@dataclass(frozen=True)
class PSR:
    psr: float
    sharpe_per_period: float
    skew: float
    kurtosis: float  # raw (3 for a normal distribution)
    n_periods: int
    sr_star: float
    n_nonzero: int  # bars with a non-zero return; below MIN_PSR_RETURNS PSR, DSR and MinTRL are NaN


@dataclass(frozen=True)
class DSR:
    dsr: float
    sr0: float  # expected maximum Sharpe of n_trials skill-less trials
    n_trials: int
    var_trial_sharpe: float


@dataclass(frozen=True)
class PBO:
    pbo: float  # probability of backtest overfitting (CSCV)
    n_splits: int
    n_blocks: int
    degradation_slope: float | None = field(default=None, metadata=OMIT_NONE)  # OOS on IS Sharpe of the IS winner
    p_oos_loss: float | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class SPA:
    block_size: float
    pvalues: dict[str, float]  # lower, consistent, upper
    stepm_superior: list[int]  # configurations StepM finds better than buy-and-hold


@dataclass(frozen=True)
class SharpeStats:
    psr: PSR
    dsr: DSR
    min_track_record_bars: float
    pbo: PBO | None = field(default=None, metadata=OMIT_NONE)  # with two configurations or more
    spa: SPA | None = field(default=None, metadata=OMIT_NONE)


# --- fidelity of a generator ----------------------------------------------------------------------


@dataclass(frozen=True)
class FactBand:
    """A stylized fact of the real context against the synthetic 5-50-95% quantiles."""

    real: float
    q05: float
    q50: float
    q95: float
    inside: bool


@dataclass(frozen=True)
class Distance:
    wasserstein1: float
    ks: float


@dataclass(frozen=True)
class Drift:
    """Annualised mean log return."""

    context: float
    synthetic_median: float
    realized: float | None = field(default=None, metadata=OMIT_NONE)  # None without a real future


@dataclass(frozen=True)
class VolScore:
    forecast_var: float
    qlike: float
    mse_log: float


@dataclass(frozen=True)
class Calibration:
    """The synthetic fan against the realized future."""

    coverage_50: float
    coverage_90: float
    pit_final: float
    crps_final_log_price: float
    realized_bars: int
    realized_variance: float
    vol_forecast: dict[str, VolScore]  # generator, ewma, har_rv
    # CRPS relative to the GARCH baseline's (NaN when the baseline's is 0); None: no GARCH baseline in the store
    crps_vs_garch: float | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class Fidelity:
    stylized_facts: dict[str, FactBand]
    facts_outside_band: int
    distances: dict[str, Distance]  # 1bar, 5bar, 20bar
    drift: Drift
    calibration: Calibration | None  # None without at least two real bars after the cut
    flagged: bool  # kept out of the verdict
    flag_reasons: list[str]


# --- path luck ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricPosition:
    """Where the real value of a metric falls among a universe's paths."""

    real: float
    percentile: float
    mc_interval: list[float]  # Monte Carlo error of the percentile (finite paths)
    q05: float | None
    q50: float | None
    q95: float | None


@dataclass(frozen=True)
class UniverseResult:
    n_paths: int
    metrics: dict[str, MetricPosition]
    fidelity: Fidelity
    bust_paths: int = 0  # paths on which the shown configuration's equity reached 0 or below (leverage)
    generator: str = field(default="", metadata=NOT_JSON)  # the family that made it (garch, bootstrap, ...)


@dataclass(frozen=True)
class PathLuck:
    percentile: float
    mc_interval: list[float]  # Monte Carlo error of the percentile (finite paths), not a confidence interval
    label: str  # typical, unusually kind, ...
    excluded: bool
    excluded_because: list[str]
    uncertainty: str = ""  # estimation uncertainty the universe carries (asymptotic, block-mean, none, ...)


# --- costs and the conclusion ---------------------------------------------------------------------


@dataclass(frozen=True)
class CostRow:
    multiple: float
    fees_bps: float
    slippage_bps: float
    sharpe: float
    total_return: float
    excess_total_return: float
    excess_sharpe: float


@dataclass(frozen=True)
class CostSensitivity:
    rows: list[CostRow]
    breakeven_total_cost_bps: float | None  # None when the strategy never beats buy-and-hold


SKILL_STATES = ("Skill", "No evidence of skill", "Inconclusive", "Not testable")


@dataclass(frozen=True)
class SkillConclusion:
    label: str  # one of SKILL_STATES
    reason: str
    p: float | None = field(default=None, metadata=OMIT_NONE)  # the combined p; the rest None when nothing was tested
    mc_interval: list[float] | None = field(default=None, metadata=OMIT_NONE)
    rule: str | None = field(default=None, metadata=OMIT_NONE)
    nulls: list[str] | None = field(default=None, metadata=OMIT_NONE)  # the deciding nulls
    n_paths: int | None = field(default=None, metadata=OMIT_NONE)  # null paths of the null that attained the p
    paths_to_decide: int | None = field(default=None, metadata=OMIT_NONE)
    detectable_effect: float | None = field(default=None, metadata=OMIT_NONE)  # the power statement, in `statistic`
    power: float | None = field(default=None, metadata=OMIT_NONE)
    unavailable_nulls: list[str] = field(default_factory=list)  # could not be built; the others decided


@dataclass(frozen=True)
class Conclusion:
    skill: SkillConclusion
    path_luck: dict[str, str]  # universe -> label, for the universes that pass fidelity
    excluded_universes: list[str]
    generators_disagree: str | None = field(default=None, metadata=OMIT_NONE)  # why, when the universes' labels conflict


# --- the whole verdict ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UniversePlots:
    price_fan: list  # (5, horizon) close quantiles 5/25/50/75/95%
    equity_fan: list  # (5, horizon) equity quantiles of the shown configuration
    hist: dict[str, list]  # metric -> per-path values
    acf: dict  # r / abs_r -> real, synthetic_median


@dataclass(frozen=True)
class Plots:
    """The arrays the HTML report draws (never in the JSON)."""

    universes: dict[str, UniversePlots]
    nulls: dict[str, list]  # null name -> per-path statistic
    real_close: list
    pbo_logits: list | None = None
    real_equity: list | None = None
    real_bh_equity: list | None = None


@dataclass(frozen=True)
class Verdict:
    store: str
    strategy: str
    strategy_file: str
    n_configs: int
    selected_config: dict
    costs: dict
    statistic: str
    symbol: str
    seed_window: str
    realized_bars: int
    horizon_bars: int
    scored_bars: int  # bars of each path the results cover: the real future's length when it ends inside the horizon
    n_null_paths: int
    seed: int
    skill: Skill
    sharpe_stats: SharpeStats | None  # None without a real future
    universes: dict[str, UniverseResult]
    path_luck: dict[str, PathLuck]
    cost_sensitivity: CostSensitivity | None
    verdict: Conclusion
    plots: Plots = field(default=None, metadata=NOT_JSON)
    # complete universes of the store that this strategy's results do not cover (stressed with --universe, or
    # made or finished after `stress` ran)
    universes_without_results: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return to_json(self)
