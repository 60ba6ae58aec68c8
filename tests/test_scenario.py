"""Scenario files: keys map one to one onto `generate`'s request, and a scenario run is the same run as its command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from parallelverse.generate import GenerateRequest
from parallelverse.scenario import load_scenario
from parallelverse.store import open_universe

SCENARIOS = Path(__file__).parent.parent / "scenarios"


def test_covid_scenario_is_the_request_it_describes():
    fields = load_scenario(SCENARIOS / "covid-2020.toml")
    req = GenerateRequest(**fields)
    assert (req.data, req.symbol, req.seed_window) == (None, "AAPL", "2020-01")  # "bundled" is the default data
    assert (req.context_bars, req.horizon_bars, req.n_paths, req.seed) == (400, 252, 2000, 2020)
    assert req.generators == ("garch", "bootstrap")
    assert req.generator_params == {"garch": {"vol": "gjr", "dist": "t"}}


def test_paths_are_relative_to_the_scenario_and_temperatures_are_floats(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "mine.toml"
    path.write_text('seed_window = "2019"\ndata = "../prices.csv"\ntemperature = [1, 0.5]\n'
                    'generators = ["kronos"]\n[kronos]\ntop_k = 5\n')
    fields = load_scenario(path)
    assert fields["data"] == str((tmp_path / "prices.csv").resolve())
    assert fields["temperatures"] == (1.0, 0.5) and all(isinstance(t, float) for t in fields["temperatures"])
    assert fields["generators"] == ("kronos",) and fields["generator_params"] == {"kronos": {"top_k": 5}}


def test_a_scenario_run_equals_its_command_line(tmp_path, run_cli):
    """covid-2020.toml (shortened on the command line) writes bit for bit what the same options write."""
    small = ["--n-paths", 20, "--horizon", 15]
    a = run_cli("generate", "--scenario", SCENARIOS / "covid-2020.toml", *small, "--out", tmp_path / "a.zarr")
    b = run_cli("generate", "--seed-window", "2020-01", "--symbol", "AAPL", "--context", 400, "--seed", 2020,
                "--generators", "garch,bootstrap", "--set", "garch.vol=gjr", "--set", "garch.dist=t", *small,
                "--out", tmp_path / "b.zarr")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    for name in ("garch-gjr-t", "bootstrap"):
        ua, ub = open_universe(tmp_path / "a.zarr", name), open_universe(tmp_path / "b.zarr", name)
        assert ua.attrs["spec"] == ub.attrs["spec"] and ua.attrs["spec"]["seed"] == 2020
        pa, pb = ua.read(), ub.read()
        for f, x in pa.as_dict().items():
            np.testing.assert_array_equal(x, getattr(pb, f))


def test_generators_on_the_command_line_override_the_scenarios_tables(tmp_path, run_cli):
    """`--generators bootstrap` with a scenario holding a [garch] table runs the bootstrap alone (the command line
    overrides the file); a --set for a generator left out is still refused, and calibrate names its reference."""
    small = ["--n-paths", 8, "--horizon", 15]
    r = run_cli("generate", "--scenario", SCENARIOS / "covid-2020.toml", "--generators", "bootstrap", *small,
                "--out", tmp_path / "a.zarr")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "a.zarr" / "universes").iterdir() if p.is_dir()) == ["bootstrap"]
    bad = run_cli("generate", "--scenario", SCENARIOS / "covid-2020.toml", "--generators", "bootstrap",
                  "--set", "garch.dist=normal", *small, "--out", tmp_path / "b.zarr")
    assert bad.exit_code != 0 and "parameters given for garch but it is not among the generators" in bad.stderr
    cal = run_cli("calibrate", "--symbols", "AAPL", "--windows", "2020-01:2020-02", "--horizon", 10, "--n-paths", 10,
                  "--generators", "bootstrap", "--set", "garch.dist=normal", "--out", tmp_path / "cal")
    assert cal.exit_code != 0 and "the reference garch always runs with its defaults" in cal.stderr
