"""Every bad input exits non-zero with one line naming the problem and the fix, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import tree_digest


def _corrupt(frame: pd.DataFrame, case: str) -> pd.DataFrame:
    f = frame.copy()
    r = 10  # data row 10 is line 12 of the CSV (header is line 1)
    if case == "missing_column":
        return f.drop(columns="Low")
    if case == "unparsable_time":
        f["Date"] = f["Date"].astype(object)
        f.loc[r, "Date"] = "2018-13-45"
    elif case == "duplicated_time":
        f.loc[r, "Date"] = f.loc[r - 1, "Date"]
    elif case == "unsorted_time":
        f.loc[[r - 1, r], "Date"] = f.loc[[r, r - 1], "Date"].to_numpy()
    elif case == "nan_price":
        f.loc[r, "Close"] = np.nan
    elif case == "inf_price":
        f.loc[r, "Open"] = np.inf
    elif case == "nonpositive_price":
        f.loc[r, ["Open", "Low"]] = [0.0, 0.0]
    elif case == "high_below":
        f.loc[r, "High"] = max(f.loc[r, "Open"], f.loc[r, "Close"]) * 0.99
    elif case == "low_above":
        f.loc[r, "Low"] = min(f.loc[r, "Open"], f.loc[r, "Close"]) * 1.01
    elif case == "negative_volume":
        f.loc[r, "Volume"] = -5
    elif case == "not_a_number":
        f["High"] = f["High"].astype(object)
        f.loc[r, "High"] = "n/a?"
    return f


DATA_CASES = {
    "missing_column": "missing column(s) low",
    "unparsable_time": "line 12: unparsable timestamp '2018-13-45'",
    "duplicated_time": "line 12: duplicated timestamp 2018-01-16",
    "unsorted_time": "line 12: timestamp 2018-01-16",
    "nan_price": "line 12: close is nan",
    "inf_price": "line 12: open is inf",
    "nonpositive_price": "line 12: open is 0.0; prices must be > 0",
    "high_below": "line 12: high",
    "low_above": "line 12: low",
    "negative_volume": "line 12: volume is -5.0",
    "not_a_number": "line 12: high 'n/a?' is not a number",
}


def _assert_one_line_error(result, *needles):
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for n in needles:
        assert n in lines[0], lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_bad_data_file(case, tmp_path, aapl_frame, run_cli):
    path = tmp_path / "bad.csv"
    _corrupt(aapl_frame, case).to_csv(path, index=False)
    out = tmp_path / "out.zarr"
    result = run_cli("generate", "--data", path, "--seed-window", "2020-01", "--out", out, "--n-paths", 10)
    _assert_one_line_error(result, "bad.csv", DATA_CASES[case])
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


WINDOW_CASES = {
    # args, expected fragments
    "too_little_history": (["--seed-window", "2013-03"], ["leaves 60 bars of context", "--seed-window 2014-08-04 or later", "--context 100 with --seed-window 2013-05-24"]),
    "window_outside_data": (["--seed-window", "2030-01"], ["has no bars", "2013-01-02 to 2023-09-21"]),
    "unknown_symbol": (["--seed-window", "2020-01", "--symbol", "TSLA"], ["unknown symbol 'TSLA'", "AAPL"]),
    "bad_window_spec": (["--seed-window", "2020-13"], ["'2020-13' is not YYYY, YYYY-MM"]),
    "reversed_window": (["--seed-window", "2020-03:2020-01"], ["ends before it starts"]),
    "tiny_context": (["--seed-window", "2020-01", "--context", "20"], ["--context 20 is out of range", "from 100"]),
    "unknown_generator": (["--seed-window", "2020-01", "--generators", "garch,gan"], ["unknown generator 'gan'"]),
    "unknown_param": (["--seed-window", "2020-01", "--set", "garch.volatility=gjr"], ["unknown garch parameter 'volatility'"]),
    "bad_param_value": (["--seed-window", "2020-01", "--set", "garch.dist=cauchy"], ["dist='cauchy' is not one of"]),
    "missing_data_file": (["--seed-window", "2020-01", "--data", "nope.csv"], ["'nope.csv' does not exist"]),
}


@pytest.mark.parametrize("case", sorted(WINDOW_CASES))
def test_bad_window_or_options(case, tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, needles = WINDOW_CASES[case]
    result = run_cli("generate", *args, "--n-paths", 10)
    _assert_one_line_error(result, *needles)
    assert list(tmp_path.iterdir()) == []


def test_bad_input_leaves_existing_store_untouched(tmp_path, aapl_frame, run_cli):
    out = tmp_path / "s.zarr"
    ok = run_cli("generate", "--seed-window", "2020-01", "--out", out, "--n-paths", 20, "--horizon", 30)
    assert ok.exit_code == 0, ok.output
    before = tree_digest(out)
    bad = tmp_path / "bad.csv"
    _corrupt(aapl_frame, "high_below").to_csv(bad, index=False)
    for args in (
        ["--data", bad, "--seed-window", "2020-01", "--overwrite"],  # validation precedes the overwrite
        ["--seed-window", "2019-12"],  # another window: refused, not mixed in
        ["--seed-window", "2020-01", "--seed", 7],  # same window, other seed: refused, not mixed in
    ):
        result = run_cli("generate", *args, "--out", out, "--n-paths", 20, "--horizon", 30)
        assert result.exit_code != 0 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert tree_digest(out) == before


def test_store_from_other_window_names_the_fix(tmp_path, run_cli):
    out = tmp_path / "s.zarr"
    assert run_cli("generate", "--seed-window", "2020-01", "--out", out, "--n-paths", 5, "--horizon", 10).exit_code == 0
    result = run_cli("generate", "--seed-window", "2019-12", "--out", out, "--n-paths", 5, "--horizon", 10)
    _assert_one_line_error(result, "window 2020-01", "differs in history_sha256, seed_window", "--overwrite")


def test_not_a_store_is_refused(tmp_path, run_cli):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.txt").write_text("do not delete")
    result = run_cli("generate", "--seed-window", "2020-01", "--out", out, "--n-paths", 5, "--horizon", 10)
    _assert_one_line_error(result, "is not a parallelverse store")
    assert (out / "thesis.txt").read_text() == "do not delete"


@pytest.mark.parametrize("args", [
    ("generate", "--seed-window", "2020-01", "--n-paths", "10", "--out", "{pkg}/data/mine.zarr"),
    ("calibrate", "--symbols", "AAPL", "--windows", "2020-01", "--n-paths", "10", "--out", "{tmp}/c", "--html",
     "{pkg}/page.html"),
    ("train", "--symbols", "AAPL", "--val-from", "2022-01-01", "--size", "tiny", "--steps", "2", "--out",
     "{pkg}/models/mine"),
])
def test_no_command_writes_inside_the_installed_package(args, tmp_path, run_cli):
    """Every output path goes through one check (inputs.check_output_path), which keeps the package's own folder
    (its code, bundled data and shipped model) out of reach: generate's --out was not refused."""
    import parallelverse

    pkg = Path(parallelverse.__file__).resolve().parent
    before = sorted(p.relative_to(pkg) for p in pkg.rglob("*") if "__pycache__" not in p.parts)
    result = run_cli(*(a.format(pkg=pkg, tmp=tmp_path) for a in args))
    assert result.exit_code != 0 and "is inside the parallelverse package" in result.output, result.output
    assert sorted(p.relative_to(pkg) for p in pkg.rglob("*") if "__pycache__" not in p.parts) == before
