"""Scenario files: keys map one to one onto `generate`'s request, and a scenario run is the same run as its command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from parallelverse.generate import GenerateRequest
from parallelverse.scenario import load_calibrate_scenario, load_scenario
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


def test_every_path_in_a_scenario_is_beside_the_file_and_none_falls_back_to_the_working_directory(tmp_path,
                                                                                                  monkeypatch):
    """[kronos] tokenizer = "tok" resolved against the working directory, unlike data and model; and a model not
    beside the file was silently taken from the working directory. One rule now: beside the file, a Hub id
    (owner/name) when nothing of that name is there, and a path found only in the working directory refused."""
    import pytest

    from parallelverse.errors import ScenarioError

    sc = tmp_path / "sc"
    for d in ("mymodel", "tok", "owner/ckpt"):
        (sc / d).mkdir(parents=True)
    path = sc / "k.toml"
    path.write_text('seed_window = "2017-08"\nmodel = "mymodel"\ngenerators = ["kronos"]\n[kronos]\ntokenizer = "tok"\n')
    elsewhere = tmp_path / "cwd"
    (elsewhere / "tok").mkdir(parents=True)  # a decoy of the same name in the working directory
    monkeypatch.chdir(elsewhere)
    fields = load_scenario(path)
    assert fields["model"] == str((sc / "mymodel").resolve())
    assert fields["generator_params"]["kronos"]["tokenizer"] == str((sc / "tok").resolve())
    # owner/name: beside the file wins over the Hub; nothing beside it is a Hub id, kept as written
    path.write_text('seed_window = "2017-08"\ngenerators = ["kronos"]\n[kronos]\nmodel = "owner/ckpt"\n'
                    'tokenizer = "NeoQuasar/Kronos-Tokenizer-base"\n')
    params = load_scenario(path)["generator_params"]["kronos"]
    assert params == {"model": str((sc / "owner/ckpt").resolve()), "tokenizer": "NeoQuasar/Kronos-Tokenizer-base"}
    # a model that exists only in the working directory is refused, naming both places
    (elsewhere / "onlyhere").mkdir()
    path.write_text('seed_window = "2017-08"\nmodel = "onlyhere"\ngenerators = ["kronos"]\n')
    with pytest.raises(ScenarioError, match=r"k.toml: model = \"onlyhere\" is not beside the scenario file .* but is in "
                                            r"the working directory; paths in a scenario are relative to its file"):
        load_scenario(path)


def test_scenario_errors_name_the_file_the_table_and_the_toml_value(tmp_path):
    import pytest

    from parallelverse.errors import ScenarioError

    path = tmp_path / "s.toml"
    for body, says in (
            ('seed_window = 2020-01-01\n', 's.toml: seed_window = 2020-01-01 is a TOML date, not text; quote it: '
                                          'seed_window = "2020-01-01"'),
            ('seed_window = "2020-01"\n[garch]\nvol = 3\n', "s.toml: in the [garch] table: garch vol='3' is not one of"),
            ('seed_window = "2020-01"\n[garch]\nbogus = 1\n', "s.toml: in the [garch] table: unknown garch parameter "
                                                             "'bogus'"),
            ('seed_window = "2020-01"\n[calibrate]\nwindows = 2020-01-01\n', "calibrate.windows = 2020-01-01 is a TOML "
                                                                             "date, not text")):
        path.write_text(body)
        load = load_calibrate_scenario if "calibrate" in body else load_scenario
        with pytest.raises(ScenarioError) as err:
            load(path)
        assert says in str(err.value) and "datetime" not in str(err.value), str(err.value)
