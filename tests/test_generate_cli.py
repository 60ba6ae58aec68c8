"""`parallelverse generate` end to end: the README's headline run, the store schema, scenarios, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from parallelverse.bars import PathBatch, invariant_violations
from parallelverse.errors import ScenarioError, StoreError
from parallelverse.scenario import load_scenario
from parallelverse.store import open_universe, read_paths

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.toml"))


@pytest.fixture(scope="module")
def headline(readme_store, readme_run):
    """The README's command, with defaults, run from an empty directory (conftest), in a copy this module may change."""
    return readme_store.parent, readme_run[1]


def test_headline_run_writes_thousands_of_valid_paths(headline):
    d, summary = headline
    store = d / "AAPL_2020-01.zarr"
    assert summary["store"] == "AAPL_2020-01.zarr" and store.is_dir()
    assert [u["name"] for u in summary["universes"]] == ["garch-gjr-t", "bootstrap"]
    root = zarr.open_group(str(store), mode="r")  # plain zarr, no parallelverse code
    for name in ("garch-gjr-t", "bootstrap"):
        g = root[f"universes/{name}"]
        assert g.attrs["complete"] is True
        n_bars, n_paths = g["close"].shape
        assert n_paths >= 1000 and n_bars >= 252
        assert g["close"].chunks == (n_bars, 500)
        batch = PathBatch(*(g[f][:] for f in ("open", "high", "low", "close", "volume")))
        assert not invariant_violations(batch).any()  # every bar of every path
        attrs = g.attrs.asdict()
        assert attrs["spec"]["seed"] == 0 and attrs["spec"]["generator"] in ("kronos", "garch", "bootstrap")
        assert {"numpy", "arch", "zarr", "python"} <= set(attrs["versions"])
        assert attrs["seed_window"] == "2020-01" and attrs["context_span"][1].startswith("2020-01-31")
        assert attrs["fitted"]


def test_history_group_marks_context_and_realized_future(headline, aapl):
    d, _ = headline
    h = zarr.open_group(str(d / "AAPL_2020-01.zarr"), mode="r")["history"]
    assert h.attrs["context_end"] == 400 and h.attrs["realized_end"] == 652
    t = h["time"][:].astype("datetime64[ns]")
    assert str(t[399])[:10] == "2020-01-31" and str(t[400])[:10] == "2020-02-03"
    i = int(np.flatnonzero(aapl.time == h["time"][0])[0])
    np.testing.assert_array_equal(h["close"][:], aapl.close[i : i + 652])
    u = zarr.open_group(str(d / "AAPL_2020-01.zarr"), mode="r")["universes/bootstrap"]
    np.testing.assert_array_equal(u["time"][:], h["time"][400:652])  # horizon aligned with the real future


def test_store_opens_with_xarray(headline):
    d, _ = headline
    ds = xr.open_zarr(d / "AAPL_2020-01.zarr", group="universes/garch-gjr-t", consolidated=False)
    assert ds["close"].dims == ("bar", "path") and ds.sizes["path"] == 2000
    assert str(ds["time"].values[0])[:10] == "2020-02-03"  # decoded as datetimes


def test_rerun_is_a_no_op_and_universes_accumulate(headline, run_cli):
    d, _ = headline
    store = d / "AAPL_2020-01.zarr"
    again = run_cli("generate", "--seed-window", "2020-01", "--out", store, "--json")
    assert [u["status"] for u in json.loads(again.stdout)["universes"]] == ["already complete"] * 2  # garch, bootstrap
    more = run_cli("generate", "--seed-window", "2020-01", "--out", store, "--generators", "garch",
                   "--set", "garch.vol=egarch", "--set", "garch.dist=normal", "--json")
    assert more.exit_code == 0, more.output
    from parallelverse.generators.garch import VOL_REGIME_SD

    g = open_universe(store, "garch-egarch-normal")
    assert g.attrs["spec"]["params"] == {"vol": "egarch", "dist": "normal", "fhs": False, "zero_mean": False, "vol_scale": 1.0,
                                       "uncertainty": "asymptotic", "drift_prior_sd": 0.2, "vol_regime_sd": VOL_REGIME_SD}
    assert read_paths(g, 0, 10).shape == (252, 10)


def test_open_universe_refuses_missing(headline):
    d, _ = headline
    with pytest.raises(StoreError, match="no universe 'kronos'"):
        open_universe(d / "AAPL_2020-01.zarr", "kronos")


def test_terminal_summary_names_store_and_speed(tmp_path, run_cli):
    result = run_cli("generate", "--seed-window", "2020-01", "--out", tmp_path / "s.zarr", "--n-paths", 50)
    assert result.exit_code == 0
    assert "garch-gjr-t" in result.stdout and "paths/s" in result.stdout and "s.zarr" in result.stdout
    assert "garch-gjr-t: 50/50 paths" in result.stderr  # plain progress lines when not a terminal


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenarios_run(path, tmp_path, run_cli):
    fields = load_scenario(path)
    assert fields["seed_window"] and fields["n_paths"] >= 1000
    # Command-line options override the file: a small run of the same scenario.
    result = run_cli("generate", "--scenario", path, "--n-paths", 30, "--out", tmp_path / "s.zarr", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["seed_window"] == fields["seed_window"]
    assert all(u["paths"] == 30 for u in summary["universes"])
    root = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")
    assert root["universes"][summary["universes"][0]["name"]].attrs["spec"]["seed"] == fields["seed"]


@pytest.mark.parametrize(
    "text, message",
    [
        ('seed_window = "2020-01"\nn_path = 10\n', "unknown key 'n_path'"),
        ('seed_window = "2020-01"\nn_paths = "many"\n', 'n_paths = "many" should be a whole number'),
        ('seed_window = 2020\n', r"seed_window = 2020 should be text \(quoted\)"),
        ('n_paths = true\n', "n_paths = true should be a whole number"),  # TOML's spelling, not Python's
        ('seed_window = "2020-01"\ngarch = 3\n', "[garch] should be a table"),
        ('seed_window = "2020-01\n', "not valid TOML"),
    ],
)
def test_bad_scenarios(text, message, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[")):
        load_scenario(path)


def test_the_command_line_completes_a_scenario_and_model_paths_are_beside_the_file(tmp_path, run_cli, monkeypatch):
    """A scenario without seed_window works with --seed-window (the command line overrides the file, h5); without
    either it is one line naming both. A relative `model` names a directory beside the file, as `data` does."""
    d = tmp_path / "sc"
    d.mkdir()
    (d / "noseed.toml").write_text('n_paths = 6\nhorizon = 3\ngenerators = ["bootstrap"]\n')
    monkeypatch.chdir(tmp_path)
    ok = run_cli("generate", "--scenario", d / "noseed.toml", "--seed-window", "2020-01", "--out", "a.zarr")
    assert ok.exit_code == 0, ok.output
    bad = run_cli("generate", "--scenario", d / "noseed.toml", "--out", "b.zarr")
    assert bad.exit_code == 2 and "no seed_window; add seed_window = \"2020-01\" to it or pass --seed-window" in bad.stderr
    (d / "model.toml").write_text('seed_window = "2020-01"\ngenerators = ["kronos"]\nmodel = "mine"\n')
    (d / "mine").mkdir()
    assert load_scenario(d / "model.toml")["model"] == str((d / "mine").resolve())
    (d / "hub.toml").write_text('seed_window = "2020-01"\ngenerators = ["kronos"]\nmodel = "NeoQuasar/Kronos-small"\n')
    assert load_scenario(d / "hub.toml")["model"] == "NeoQuasar/Kronos-small"


def test_bad_scenario_param_via_cli(tmp_path, run_cli):
    path = tmp_path / "bad.toml"
    path.write_text('seed_window = "2020-01"\n[garch]\nvol = 1\n')
    result = run_cli("generate", "--scenario", path, "--out", tmp_path / "s.zarr")
    assert result.exit_code == 2 and "garch vol='1' is not one of garch, gjr, egarch" in result.stderr
    assert not (tmp_path / "s.zarr").exists()


def test_data_says_which_windows_work_and_generate_agrees(tmp_path, run_cli, aapl):
    """The earliest cut with the default context and the latest with a full real horizon, per symbol: generate
    accepts the first and refuses the bar before it; the last leaves exactly 252 real bars."""
    import json

    listing = json.loads(run_cli("data", "--json").stdout)
    row = next(r for r in listing["symbols"] if r["symbol"] == "AAPL")
    dates = [str(d.date()) for d in aapl.dates()]
    assert dates.index(row["first_seed_window"]) == 399 and len(dates) - 1 - dates.index(row["last_with_full_real_horizon"]) == 252
    ok = run_cli("generate", "--seed-window", row["first_seed_window"], "--n-paths", 8, "--chunk-paths", 8, "--horizon", 5,
                 "--generators", "bootstrap", "--out", tmp_path / "a.zarr")
    assert ok.exit_code == 0, ok.output
    early = run_cli("generate", "--seed-window", dates[398], "--n-paths", 8, "--horizon", 5, "--generators", "bootstrap",
                    "--out", tmp_path / "b.zarr")
    assert early.exit_code != 0 and row["first_seed_window"] in early.stderr
    term = run_cli("data")
    assert "first seed window" in term.stdout and row["last_with_full_real_horizon"] in term.stdout
