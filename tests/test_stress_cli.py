"""`parallelverse stress` end to end on a real store: tables, JSON, results layout, replacement, errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import zarr

from parallelverse.backtest.kernels import METRICS
from parallelverse.stress import MAIN_METRICS, percentile_of

ROOT = Path(__file__).parent.parent
SMA = ROOT / "strategies" / "sma_crossover.py"


@pytest.fixture(scope="module")
def store(readme_store):
    """The README's store (conftest), a copy for this module."""
    return readme_store


def _one_line_error(result, *needles):
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    assert "Traceback" not in result.output and "numba" not in result.stderr
    return lines[0]


def test_sma_crossover_on_default_store(store, run_cli):
    result = run_cli("stress", SMA, "--store", store)
    assert result.exit_code == 0, result.output
    for name in ("garch-gjr-t", "bootstrap"):
        assert f"{name}: real vs 2,000 synthetic paths" in result.stdout
    for m in MAIN_METRICS:
        assert m in result.stdout


def test_json_has_real_quantiles_percentile_per_universe(store, run_cli):
    result = run_cli("stress", SMA, "--store", store, "--json")
    s = json.loads(result.stdout)
    assert s["n_configs"] == 4 and set(s["selected_config"]) == {"fast", "slow"}
    g = zarr.open_group(str(store), mode="r")["results/sma_crossover"]
    sel = [c for c in g.attrs["configs"]].index(s["selected_config"])
    for name in ("garch-gjr-t", "bootstrap"):
        u = s["universes"][name]
        assert u["n_paths"] == 2000
        for m in MAIN_METRICS:
            row = u["metrics"][m]
            x = g[name][m][sel]
            assert row["real"] == pytest.approx(g["real"][m][sel, 0])
            assert row["q50"] == pytest.approx(np.quantile(x[np.isfinite(x)], 0.5))
            assert row["q05"] <= row["q50"] <= row["q95"]
            assert row["percentile"] == pytest.approx(percentile_of(row["real"], x))


def test_results_layout_and_attributes(store, run_cli):
    run_cli("stress", SMA, "--store", store, "--fees", "3", "--slippage", "4", "--fill", "close")
    g = zarr.open_group(str(store), mode="r")["results/sma_crossover"]
    a = g.attrs.asdict()
    assert a["costs"]["fees_bps"] == 3 and a["costs"]["slippage_bps"] == 4 and a["costs"]["fill"] == "close"
    assert a["strategy_sha256"] and a["n_configs"] == 4 and a["warmup"] == 200 and a["complete"]
    for m in METRICS:
        assert g["garch-gjr-t"][m].shape == (4, 2000)
        assert g["garch-gjr-t"][f"bh_{m}"].shape == (1, 2000)
        assert g["real"][m].shape == (4, 1)
    assert g["garch-gjr-t"]["excess_sharpe"].shape == (4, 2000)
    assert g["real"]["equity"].shape == (4, 252) and g["real"]["time"].shape == (252,)


def test_rerun_with_other_costs_or_file_replaces_results(store, run_cli, tmp_path):
    run_cli("stress", SMA, "--store", store, "--fees", "0", "--slippage", "0")
    g = zarr.open_group(str(store), mode="r")["results/sma_crossover"]
    free = g["bootstrap"]["total_return"][:]
    run_cli("stress", SMA, "--store", store, "--fees", "50", "--slippage", "50")
    g = zarr.open_group(str(store), mode="r")["results/sma_crossover"]
    old_sha = g.attrs["strategy_sha256"]
    costly = g["bootstrap"]["total_return"][:]
    assert g.attrs["costs"]["fees_bps"] == 50
    traded = g["bootstrap"]["n_trades"][:] > 0
    assert np.all(costly[traded] < free[traded])  # every trading path pays the higher costs
    # A changed strategy file with fewer configurations replaces everything, nothing stale is left.
    edited = tmp_path / "sma_crossover.py"
    edited.write_text(SMA.read_text().replace('params = {"fast": [20, 50], "slow": [100, 200]}', 'params = {"fast": [10]}'))
    run_cli("stress", edited, "--store", store)
    g = zarr.open_group(str(store), mode="r")["results/sma_crossover"]
    assert g.attrs["n_configs"] == 1 and g["bootstrap"]["sharpe"].shape == (1, 2000)
    assert g.attrs["strategy_sha256"] != old_sha
    assert not [p for p in (store / "results").iterdir() if p.name.startswith(".")]
    assert not [p for p in store.parent.iterdir() if p.name.endswith(".partial")]


def test_streaming_batches_do_not_change_results(store):
    from parallelverse.stress import StressRequest, run_stress

    def sharpe(batch):
        run_stress(StressRequest(str(SMA), str(store), universes=("bootstrap",), batch_paths=batch))
        return zarr.open_group(str(store), mode="r")["results/sma_crossover/bootstrap/sharpe"][:]

    np.testing.assert_array_equal(sharpe(500), sharpe(4000))


def write_strategy(tmp_path: Path, body: str, name: str = "strat.py") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


def test_lookahead_is_flagged_with_first_bar(store, run_cli, tmp_path):
    peek = write_strategy(tmp_path, """
        import numpy as np

        def positions(bars):
            tomorrow = np.roll(bars.close, -1, axis=0)  # uses tomorrow's close
            return (tomorrow > bars.close).astype(float)
        """)
    result = run_cli("stress", peek, "--store", store)
    _one_line_error(result, "strat.py:4: looks ahead", "changes when bars from bar", "are mirrored")
    msg = result.stderr
    bar, cut = int(msg.split("output at bar ")[1].split(" ")[0]), int(msg.split("bars from bar ")[1].split(" ")[0])
    assert bar == cut - 1  # the last unchanged bar is the first whose output differs
    assert not (store / "results" / "strat").exists()
    # With the check off, the same strategy runs (and is absurdly good).
    assert run_cli("stress", peek, "--store", store, "--no-lookahead-check").exit_code == 0


SLY_PEEKS = {  # look-ahead that a few random prefixes of a few paths, asked in the same process, let through
    "rare": "    r = np.zeros_like(c); r[1:] = c[1:] / c[:-1] - 1\n    nxt = np.zeros_like(c); nxt[:-1] = c[1:] / c[:-1] - 1\n"
            "    out = np.ones_like(c); out[(r > 0.04) & (nxt < 0)] = 0.0  # peeks only after a >4% up day\n"
            "    return out\n",
    "big_batches": "    if c.shape[1] > 4:  # another code path for large batches, with the bug\n"
                   "        return (np.vstack([c[1:], c[-1:]]) > c).astype(float)\n    return np.ones_like(c)\n",
    "cached": "    key = (c.shape[1], float(c[0, 0]))\n    if key in _cache and len(c) <= len(_cache[key]):\n"
              "        return _cache[key][:len(c)]  # prefixes answered from the first (peeking) output\n"
              "    _cache[key] = (np.vstack([c[1:], c[-1:]]) > c).astype(float)\n    return _cache[key]\n",
}


@pytest.mark.parametrize("case", sorted(SLY_PEEKS))
def test_look_ahead_that_hides_from_prefixes_is_caught(case, store, run_cli, tmp_path):
    path = tmp_path / "sly.py"
    path.write_text("import numpy as np\nwarmup = 5\n_cache = {}\ndef positions(bars):\n    c = bars.close\n"
                    + SLY_PEEKS[case])
    result = run_cli("stress", path, "--store", store)
    _one_line_error(result, "sly.py:4: looks ahead", "are mirrored")
    assert not (store / "results" / "sly").exists()


STRATEGY_ERRORS = {
    "syntax": ("def positions(bars):\n    return bars.close +\n", ["strat.py:2: SyntaxError"]),
    "no_function": ("import numpy as np\n", ["defines no function `positions"]),
    "three_dims": (
        "def positions(bars, k=1):\n    return bars.close[:, :, None] * k\n\nparams = {'k': [1]}\n",
        ["strat.py:1", "returned shape (252, 1, 1) but bars are (252, 1)", "config k=1"],
    ),
    "raises": (
        "def positions(bars):\n    raise ValueError('bad things')\n",
        ["strat.py:2: ValueError: bad things", "(in positions, real history"],
    ),
    "wrong_shape": ("def positions(bars):\n    return bars.close[:-1]\n", ["strat.py:1", "returned shape (251, 1) but bars are (252, 1)"]),
    "nan": (
        "import numpy as np\nwarmup = 10\ndef positions(bars):\n    p = np.ones_like(bars.close)\n    p[50] = np.nan\n    return p\n",
        ["returned nan at bar 50, path 0", "raise `warmup`"],
    ),
    "inf": ("import numpy as np\ndef positions(bars):\n    return np.full(bars.close.shape, np.inf)\n", ["returned inf at bar 0"]),
    "leverage_50": ("import numpy as np\ndef positions(bars):\n    return np.full(bars.close.shape, -50.0)\n",
                    ["returned -50.0 at bar 0, path 0", "from -10 to 10"]),
    "leverage_just_over": ("import numpy as np\ndef positions(bars):\n    return np.full(bars.close.shape, -10.0000001)\n",
                           ["returned -10.0000001 at bar 0"]),
    "complex": ("def positions(bars):\n    return bars.close * 0 + 1j\n", ["dtype complex128", "real numbers"]),
    "keyboard_interrupt": ("def positions(bars):\n    raise KeyboardInterrupt\n",
                           ["strat.py:2: KeyboardInterrupt raised by the strategy", "positions ("]),
    "base_exception": ("class Stop(BaseException):\n    pass\ndef positions(bars):\n    raise Stop('halt')\n",
                       ["strat.py:4: Stop: halt (in positions, real history"]),
    "generator_exit": ("def positions(bars):\n    raise GeneratorExit\n", ["strat.py:2: GeneratorExit"]),
    "unprintable_exception": ("class E(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\n"
                              "def positions(bars):\n    raise E()\n",
                              ["strat.py:5: E: (its message could not be printed) (in positions, real history"]),
    "positions_is_a_class": ("class positions:\n    def __init__(self, bars):\n        pass\n",
                             ["positions is a type, not a function", "def positions(bars"]),
    "positions_is_a_partial": ("import functools\ndef f(bars, k):\n    return bars.close * 0 + k\n"
                               "positions = functools.partial(f, k=1)\n", ["positions is a partial, not a function"]),
    "params_lambda": ("params = {'f': [lambda x: x]}\ndef positions(bars, f):\n    return bars.close * 0\n",
                      ["params['f'] holds <function", "values must be finite numbers, text, booleans or None"]),
    "params_bytes": ("params = {'n': [b'ab']}\ndef positions(bars, n):\n    return bars.close * 0\n", ["params['n'] holds b'ab'"]),
    "params_nan": ("params = {'x': [1.0, float('nan')]}\ndef positions(bars, x):\n    return bars.close * 0\n",
                   ["params['x'] holds nan"]),
    "params_twice": ("params = {'n': [2, 3, 2.0]}\ndef positions(bars, n):\n    return bars.close * 0\n",
                     ["params['n'] lists 2.0 twice"]),
    "params_huge_grid": ("params = {'a': list(range(50)), 'b': list(range(50)), 'c': list(range(50))}\n"
                         "def positions(bars, a, b, c):\n    return bars.close * 0\n",
                         ["params expand to 125,000 configurations, more than 10,000"]),
    "params_not_an_argument": ("params = {'fst': [2]}\ndef positions(bars, fast=1):\n    return bars.close * 0\n",
                               ["strat.py:2: TypeError", "unexpected keyword argument 'fst' (in positions, real history, "
                                "config fst=2); every params key must be an argument of positions"]),
    "no_bars_argument": ("def positions():\n    return 0\n", ["strat.py:1: TypeError", "positions gets the bars first"]),
    "entries_of_objects": ("import numpy as np\ndef positions(bars):\n    e = np.zeros(bars.close.shape, object)\n"
                           "    return e, e\n", ["entries has dtype object; entries and exits must be boolean arrays"]),
    "nul_byte": ("def positions(bars):\n    return bars.close * 0  # \x00\n", ["strat.py: SyntaxError"]),
    "returns_none": ("def positions(bars):\n    bars.close * 0\n", ["positions returned NoneType, not an array"]),
    "returns_text": ("def positions(bars):\n    return 'long'\n", ["positions returned str, not an array"]),
    "async_def": ("async def positions(bars):\n    return bars.close * 0\n",
                  ["positions returned a coroutine", "not async def"]),
    "timedelta": ("import numpy as np\ndef positions(bars):\n    return np.ones(bars.close.shape, 'timedelta64[D]')\n",
                  ["dtype timedelta64[D]", "real numbers"]),
    "masked": ("import numpy as np\nwarmup = 1\ndef positions(bars):\n"
               "    return np.ma.masked_array(np.full(bars.close.shape, 3.0), mask=np.ones(bars.close.shape, bool))\n",
               ["returned nan at bar"]),
    "unseeded_random": ("import numpy as np\ndef positions(bars):\n    return np.random.random(bars.close.shape)\n",
                        ["strat.py:2: gives another output on the same bars when called again", "seed any randomness"]),
    "warmup_too_long": ("warmup = 1000\ndef positions(bars):\n    return bars.close * 0\n", ["warmup = 1000 bars but the store has 400"]),
    "bad_params": ("params = {'n': 3}\ndef positions(bars, n=1):\n    return bars.close * 0\n", ["params must be a dict of non-empty lists"]),
}


@pytest.mark.parametrize("case", sorted(STRATEGY_ERRORS))
def test_strategy_errors_are_one_line(case, store, run_cli, tmp_path):
    body, needles = STRATEGY_ERRORS[case]
    path = tmp_path / "strat.py"
    path.write_text(body)
    result = run_cli("stress", path, "--store", store)
    _one_line_error(result, *needles)


def test_a_long_above_1_is_said_to_be_filled_up_to_the_cash(store, run_cli, tmp_path):
    path = tmp_path / "lever.py"
    path.write_text("import numpy as np\ndef positions(bars):\n    return np.full(bars.close.shape, 2.5)\n")
    result = run_cli("stress", path, "--store", store, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["max_long_exposure"] == 2.5
    assert "positions asked for up to 2.5x long on the real history" in result.stderr and "no borrowing" in result.stderr
    quiet = run_cli("stress", SMA, "--store", store, "--json")
    assert quiet.exit_code == 0 and json.loads(quiet.stdout)["max_long_exposure"] == 1.0 and "no borrowing" not in quiet.stderr


@pytest.mark.parametrize("window,horizon,why", [
    ("2020-01", 1, "the store's horizon is 1 bar (generate with --horizon 2 or more for one)"),
    ("2023-09", 30, "the data holds 0 bars after the cut"),  # the bundled data ends on 2023-09-21
])
def test_without_a_real_result_the_reason_and_the_shown_configuration_are_said(window, horizon, why, run_cli, tmp_path):
    store = tmp_path / "s.zarr"
    assert run_cli("generate", "--seed-window", window, "--horizon", horizon, "--n-paths", 8,
                   "--generators", "bootstrap", "--out", store).exit_code == 0
    result = run_cli("stress", SMA, "--store", store)
    text = " ".join(result.stdout.split())
    assert result.exit_code == 0 and f"No real result: a backtest needs at least 2 bars and {why}" in text
    assert "(the first configuration: no real result to choose by)" in text and "best Sharpe" not in text
    report = " ".join(run_cli("report", store, "--n-null", 19).stdout.split())
    assert "Not testable" in report and "Skill:" not in report  # no table of headers only
    assert "Calibration on the realized future: not measured" in report
    assert run_cli("report", store, "--n-null", 19, "--html", tmp_path / "r.html").exit_code == 0
    page = (tmp_path / "r.html").read_text()
    assert "No null test was run" in page and "not measured (it needs at least 2 real bars" in page


def test_a_real_future_shorter_than_the_horizon_is_compared_over_the_same_bars(run_cli, tmp_path):
    """The bundled data ends 2023-09-21: after 2023-01 a 252-bar horizon has 161 real bars, and every path is
    scored over its first 161 (a full-length synthetic Sharpe against a 161-bar real one is no comparison)."""
    from parallelverse.backtest.engine import Costs, backtest, decide
    from parallelverse.backtest.strategy import load_strategy
    from parallelverse.bars import with_warmup
    from parallelverse.store import read_store

    store = tmp_path / "late.zarr"
    assert run_cli("generate", "--seed-window", "2023-01", "--horizon", 252, "--n-paths", 40,
                   "--generators", "garch", "--out", store).exit_code == 0
    result = run_cli("stress", SMA, "--store", store, "--json")
    js = json.loads(result.stdout)
    assert js["realized_bars"] == js["scored_bars"] == 161 and js["horizon_bars"] == 252
    st = read_store(store)
    split, u = st.split(), st.universe("garch-gjr-t")
    strat = load_strategy(str(SMA))
    try:
        cfg = strat.configs[[dict(c) for c in strat.configs].index(js["selected_config"])]
        costs = Costs(periods_per_year=split.history.year())
        bars = with_warmup(split, strat.warmup, u.read(0, 40).head(161))
        _, values = backtest(decide(strat, bars, cfg, costs.fill, "test"), bars, strat.warmup, costs)
    finally:
        strat.close()
    want = values[-1] / costs.init_cash - 1  # the total return over the first 161 bars of each path
    got = st.results("sma_crossover").universes["garch-gjr-t"].metrics["total_return"]
    sel = [dict(c) for c in strat.configs].index(js["selected_config"])
    assert np.allclose(got[sel], want, rtol=1e-12)
    assert "scored over their first 161 bars of 252" in " ".join(run_cli("stress", SMA, "--store", store).stdout.split())
    report = run_cli("report", store, "--n-null", 19, "--json")
    assert json.loads(report.stdout)["scored_bars"] == 161
    details = " ".join(run_cli("report", store, "--n-null", 19).stdout.split())
    assert "over the first 161 of 252 bars, where the real future ends" in details


def test_a_real_future_that_never_moved_is_not_testable_and_reports(aapl_frame, run_cli, tmp_path):
    """A halted stock: the 120 bars after the cut at one price. Every null market is the same flat line (p-values
    from ties), and the volatility scores have no realized variance to score: undefined, not a crash."""
    frame = aapl_frame.copy()
    after = frame["Date"] >= "2020-07-01"
    last = float(frame.loc[~after, "Close"].iloc[-1])
    frame.loc[after, ["Open", "High", "Low", "Close"]] = last
    frame.to_csv(tmp_path / "halted.csv", index=False)
    store = tmp_path / "h.zarr"
    assert run_cli("generate", "--data", tmp_path / "halted.csv", "--seed-window", "2020-06", "--horizon", 120,
                   "--n-paths", 40, "--out", store).exit_code == 0
    strat = tmp_path / "half.py"
    strat.write_text("import numpy as np\ndef positions(bars):\n    return np.full(bars.close.shape, 0.5)\n")
    result = run_cli("stress", strat, "--store", store, "--json")
    assert result.exit_code == 0 and "Warning" not in result.stderr, result.stderr
    v = json.loads(run_cli("report", store, "--n-null", 19, "--json").stdout)
    assert v["verdict"]["skill"]["label"] == "Not testable"
    assert "the price did not move over the" in v["verdict"]["skill"]["reason"]
    for u in v["universes"].values():
        assert u["fidelity"]["calibration"]["vol_forecast"]["generator"]["qlike"] is None  # NaN in strict JSON


def test_numpy_params_are_recorded_as_plain_values(store, run_cli, tmp_path):
    path = tmp_path / "np_params.py"
    path.write_text("import numpy as np\nparams = {'n': list(np.arange(2, 4)), 'w': [np.float32(0.5)]}\n"
                    "def positions(bars, n, w):\n    return bars.close * 0 + w\n")
    result = run_cli("stress", path, "--store", store, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["selected_config"] in ({"n": 2, "w": 0.5}, {"n": 3, "w": 0.5})


def test_what_a_strategy_writes_to_file_descriptor_1_stays_out_of_json(store, run_cli, tmp_path):
    """--json is stdout alone: a subprocess's output or os.write(1, ...) in the strategy goes to stderr."""
    import subprocess
    import sys

    path = tmp_path / "noisy.py"
    path.write_text("import os, subprocess\nsubprocess.run(['echo', 'progress'])\n"
                    "def positions(bars):\n    os.write(1, b'more progress\\n')\n    return bars.close * 0 + 1\n")
    proc = subprocess.run([sys.executable, "-m", "parallelverse", "stress", str(path), "--store", str(store), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["strategy"] == "noisy"  # nothing before or after the JSON
    assert "progress" in proc.stderr and "more progress" in proc.stderr


def test_report_refuses_a_strategy_whose_real_result_changed_since_stress(store, run_cli, tmp_path):
    """The same file, reading a setting from outside: the report would mix two strategies, so it says so."""
    mode = tmp_path / "mode.txt"
    mode.write_text("long")
    path = tmp_path / "ext.py"
    path.write_text(f"from pathlib import Path\ndef positions(bars):\n    sign = 1 if Path({str(mode)!r}).read_text() == "
                    "'long' else -1\n    return bars.close * 0 + 0.5 * sign\n")
    assert run_cli("stress", path, "--store", store).exit_code == 0
    assert run_cli("report", store, "--strategy", "ext", "--n-null", 19).exit_code == 0
    mode.write_text("short")
    line = _one_line_error(run_cli("report", store, "--strategy", "ext", "--n-null", 19),
                           "ext.py:2: gives other results on the real history than when `stress` ran")
    assert "make it deterministic, then rerun `parallelverse stress`" in line


def test_a_book_that_goes_bust_is_said(store, run_cli, tmp_path):
    """10x short: on paths that rise 10% the equity reaches 0 (vectorbt's semantics keep trading it); said."""
    path = tmp_path / "short10.py"
    path.write_text("import numpy as np\ndef positions(bars):\n    return np.full(bars.close.shape, -10.0)\n")
    result = run_cli("stress", path, "--store", store, "--json")
    assert result.exit_code == 0
    js = json.loads(result.stdout)
    bust = {u: d["bust_paths"] for u, d in js["universes"].items()}
    assert sum(bust.values()) > 0 and "the book went bust (equity at or below 0, from leverage)" in result.stderr
    for u, n in bust.items():
        if n:
            assert f"{n:,} of {js['universes'][u]['n_paths']:,} paths in {u}" in result.stderr
    calm = run_cli("stress", SMA, "--store", store, "--json")
    assert all(d["bust_paths"] == 0 for d in json.loads(calm.stdout)["universes"].values())
    assert "went bust" not in calm.stderr
    # the report says it too: a real book that went bust is Not testable, no PSR, no percentile placed (here
    # 10x long and short in turn at 10% fees: the first trade costs the whole book)
    churn = tmp_path / "churn10.py"
    churn.write_text("import numpy as np\ndef positions(bars):\n"
                     "    return np.where(np.arange(len(bars.close))[:, None] % 2 == 0, 10.0, -10.0) + 0 * bars.close\n")
    result = run_cli("stress", churn, "--store", store, "--fees", 1000, "--json")
    assert result.exit_code == 0 and "the real history" in result.stderr
    bust = {u: d["bust_paths"] for u, d in json.loads(result.stdout)["universes"].items()}
    report = run_cli("report", store, "--strategy", "churn10", "--n-null", 19, "--json")
    v = json.loads(report.stdout)
    assert v["verdict"]["skill"]["label"] == "Not testable" and "went bust on the real history" in v["verdict"]["skill"]["reason"]
    assert v["sharpe_stats"] is None
    assert {u: d["bust_paths"] for u, d in v["universes"].items()} == bust
    assert all(d["label"].startswith("not placed") for d in v["path_luck"].values())
    text = " ".join(run_cli("report", store, "--strategy", "churn10", "--n-null", 19).stdout.replace("│", " ").split())
    for u, n in bust.items():
        if n:
            assert f"the book went bust on {n:,} of" in text


def test_a_configuration_never_invested_still_counts_as_a_trial_in_the_dsr(store, run_cli, tmp_path):
    path = tmp_path / "onoff.py"
    path.write_text("params = {'on': [0, 1]}\ndef positions(bars, on):\n    return bars.close * 0 + on\n")
    assert run_cli("stress", path, "--store", store).exit_code == 0
    js = json.loads(run_cli("report", store, "--strategy", "onoff", "--n-null", 19, "--json").stdout)
    dsr = js["sharpe_stats"]["dsr"]
    assert js["n_configs"] == 2 and dsr["n_trials"] == 2 and dsr["var_trial_sharpe"] > 0


def test_a_strategy_that_never_invests_has_no_path_luck_to_place(store, run_cli, tmp_path):
    path = tmp_path / "flat.py"
    path.write_text("def positions(bars):\n    return bars.close * 0\n")
    assert run_cli("stress", path, "--store", store).exit_code == 0
    js = json.loads(run_cli("report", store, "--strategy", "flat", "--n-null", 19, "--json").stdout)
    labels = {u: d["label"] for u, d in js["path_luck"].items()}
    assert labels and set(labels.values()) == {"no spread (every path gives the real Sharpe)"}, labels


def test_missing_store_and_strategy(tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _one_line_error(run_cli("stress", SMA), "pass --store STORE (found none")
    _one_line_error(run_cli("stress", tmp_path / "nope.py", "--store", tmp_path / "x.zarr"), "'", "does not exist")
    _one_line_error(run_cli("stress", "/dev/null", "--store", tmp_path / "x.zarr"), "'/dev/null' is not a regular file")
    _one_line_error(run_cli("stress", tmp_path, "--store", tmp_path / "x.zarr"), "is a directory")
    _one_line_error(run_cli("stress", SMA, "--store", ""), "--store is empty")
    txt = tmp_path / "strat.txt"
    txt.write_text(SMA.read_text())
    _one_line_error(run_cli("stress", txt, "--store", tmp_path / "x.zarr"), "'", "is not a .py file")


def test_a_verdict_that_fails_after_the_results_are_written_says_they_are_saved(tmp_path, run_cli):
    """The null markets call positions on 1,000 paths at once; a --timeout that suits stress's batches can fail
    only there. The results are valid and kept; stress said nothing of them (a hostile tester)."""
    store = tmp_path / "s.zarr"
    assert run_cli("generate", "--seed-window", "2020-01", "--context", 200, "--horizon", 30, "--n-paths", 16,
                   "--chunk-paths", 8, "--generators", "bootstrap", "--out", store).exit_code == 0
    f = tmp_path / "slow_nulls.py"
    f.write_text("import time\nimport numpy as np\n\ndef positions(bars):\n    if bars.close.shape[1] > 100:\n"
                 "        time.sleep(5)\n    return np.ones(bars.close.shape)\n")
    result = run_cli("stress", f, "--store", store, "--timeout", 1, "--no-lookahead-check", "--json")
    assert result.exit_code == 2
    line = result.stderr.strip().splitlines()[-1]
    assert f"the results are saved in {store}, but the verdict failed" in line and "did not return within 1 s" in line
    summary = json.loads(result.stdout)
    assert summary["verdict"] is None and "did not return" in summary["verdict_error"]
    assert (store / "results" / "slow_nulls" / "zarr.json").is_file()
