"""`parallelverse audit`: planted zero-edge and known-edge strategies in a real store's universes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from parallelverse.verdict.audit import _fixed, _plant_split, planted_exposure


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    from click.testing import CliRunner

    from parallelverse.cli import main

    d = tmp_path_factory.mktemp("audit")
    store = d / "aapl.zarr"
    r = CliRunner().invoke(main, ["generate", "--seed-window", "2020-01", "--generators", "garch", "--n-paths", "20",
                                  "--horizon", "120", "--out", str(store), "--json"])
    assert r.exit_code == 0, r.output
    return store


def test_the_plant_tilts_every_bar_in_the_direction_the_strategy_holds(small_store):
    from parallelverse.backtest.engine import Costs, backtest, decide
    from parallelverse.bars import real_bars
    from parallelverse.store import read_store

    st = read_store(small_store)
    split = st.split()
    batch = st.universe(st.universe_names()[0]).read(0, 1)
    fields = {f: getattr(batch, f)[:, 0] for f in ("open", "high", "low", "close", "volume")}
    s = planted_exposure(0, 0, 120)
    tilt = np.concatenate([[0.0], 0.01 * s[:-1]])
    flat, tilted = _plant_split(split, fields, None), _plant_split(split, fields, tilt)
    ce = split.context_end
    np.testing.assert_allclose(np.diff(np.log(tilted.history.close[ce - 1:])) - np.diff(np.log(flat.history.close[ce - 1:])),
                               tilt, atol=1e-12)
    # bar by bar (fill at the close: exposure s[i] decided at bar i earns bar i + 1): long, the log equity gains
    # exactly the tilt 0.01; short, log(2 - e^(r - 0.01)) - log(2 - e^r); flat, nothing
    costs = Costs(0.0, 0.0, fill="close")
    strat = _fixed(s, 1)
    eq = [backtest(decide(strat, real_bars(x, 1), {}, "close", "t"), real_bars(x, 1), 1, costs)[1][:, 0] for x in (flat, tilted)]
    r0, r1 = (np.diff(np.log(e)) for e in eq)
    r = np.diff(np.log(flat.history.close[ce:]))  # bar i + 1's close-to-close log return
    held = s[: len(r)]
    want = np.where(held > 0, 0.01, np.where(held < 0, np.log(2 - np.exp(r - 0.01)) - np.log(2 - np.exp(r)), 0.0))
    np.testing.assert_allclose(r1 - r0, want, atol=1e-10)


def test_audit_reports_false_positives_and_power_per_null_with_intervals(small_store, run_cli):
    r = run_cli("audit", small_store, "--n-plant", 3, "--n-null", 19, "--edge", 30, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    rows = {x["test"]: x for x in doc["rows"]}
    assert set(rows) == {"permutation", "bootstrap", "garch", "random-entry", "verdict"}
    for x in rows.values():
        for rate in (x["false_positive"], x["power"]):
            assert rate["n"] == 3 and rate["ci"][0] <= rate["rate"] <= rate["ci"][1]
    # an edge of 30 Sharpe a year cannot be missed: every market null rejects on every plant (p = 1/20 <= 0.05)
    for name in ("permutation", "bootstrap", "garch"):
        assert rows[name]["power"]["k"] == 3
    assert rows["verdict"]["role"] == "verdict" and rows["random-entry"]["role"] == "robustness"
    term = run_cli("audit", small_store, "--n-plant", 2, "--n-null", 19, "--universe", "garch-gjr-t")
    assert term.exit_code == 0 and "false positives" in term.stdout and "verdict" in term.stdout
    # at B = 19 the Clopper-Pearson upper end of 0/19 is 0.18: no verdict can clear 0.05, and that is said
    assert "with --n-null 19 the verdict cannot say Skill at all" in term.stderr
    assert "use --n-null 72 or more (220 for one deciding null to be enough)" in term.stderr


def test_how_many_deciding_nulls_must_be_beaten_outright_at_each_b():
    from parallelverse.verdict.skill import min_null_paths_for_skill, nulls_needed_for_skill

    # u0 = 1 - 0.025^(1/B): 0.0366 at 99 (3 x u0 / 3 < 0.05 only), 0.0243 at 150 (3 x u0 / 2 = 0.036), 0.0166 at 220
    assert [nulls_needed_for_skill(b, 3) for b in (19, 71, 72, 99, 150, 219, 220)] == [4, 4, 3, 3, 2, 2, 1]
    assert min_null_paths_for_skill(0.05) == 72 and min_null_paths_for_skill(0.05, 1 / 3) == 220


def test_audit_refuses_unknown_universes_and_non_finite_edges(small_store, run_cli):
    """One line each, naming the value: a universe the store lacks (with the ones it has), and --edge nan."""
    r = run_cli("audit", small_store, "--universe", "nope")
    assert r.exit_code == 2 and "no universe 'nope' in the store; it has:" in r.stderr and "garch-gjr-t" in r.stderr
    r = run_cli("audit", small_store, "--edge", "nan")
    assert r.exit_code == 2 and "--edge nan is not a finite number" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_cli("audit", small_store, "--n-null", "1e9")  # a whole number in float notation: the largest allowed
    assert r.exit_code == 2 and "--n-null '1e9' is not a whole number written in digits, and 1,000,000,000 is above " \
                                "the largest allowed, 1,000,000" in r.stderr and "e.g. --n-null 1000000" in r.stderr
    (small_store.parent / "notstore").mkdir()  # audit takes the store as an argument: no '--store' in the fix
    r = run_cli("audit", small_store.parent / "notstore")
    assert r.exit_code != 0 and "is not a parallelverse store; pass the store (the .zarr directory)" in r.stderr
    assert "--store" not in r.stderr


def test_no_rate_without_a_test_and_fewer_plants_than_asked_are_said(tmp_path, run_cli):
    # 30-bar paths: the GARCH null needs 100 bars, so it has no rate (not 0/0 = nan%); the others decide
    store = tmp_path / "short.zarr"
    assert run_cli("generate", "--seed-window", "2019-12", "--context", 200, "--horizon", 30, "--n-paths", 6,
                   "--generators", "bootstrap", "--out", store).exit_code == 0
    term = run_cli("audit", store, "--n-plant", 8, "--n-null", 19)
    table = " ".join(term.stdout.replace("│", " ").split())
    assert term.exit_code == 0 and "nan" not in term.stdout and "n/a (0 plants)" not in term.stdout
    assert "n/a: not built" in table  # tried on every plant, built on none: not '0 plants'
    said = " ".join(term.stderr.split())
    assert "bootstrap has 6 paths: 6 plants, not 8" in said
    # each plant once (not its zero-edge and known-edge runs: 12), with why and the fix
    assert "garch null could not be built on 6 of 6 plant(s) (30 realized bars; a GARCH fit needs 100; generate with " \
           "--horizon 100 or more for it); the other deciding nulls decided there" in said, said
    js = json.loads(run_cli("audit", store, "--n-plant", 8, "--n-null", 19, "--json").stdout)
    assert js["plants"] == {"bootstrap": 6}
    assert js["unavailable"]["garch"]["plants"] == 6 and js["unavailable"]["garch"]["of"] == 6
    rows = {r["test"]: r for r in js["rows"]}
    assert rows["garch"]["power"]["n"] == 0 and rows["garch"]["false_positive"]["n"] == 0
    assert rows["verdict"]["power"]["n"] == 6 and rows["verdict"]["false_positive"]["n"] == 6
    assert all(r[k]["interval"] == "Clopper-Pearson 95%" for r in js["rows"] for k in ("power", "false_positive"))
    # the footnote's arithmetic follows the nulls that were there: 2 deciding nulls at B = 100, and no note for 3
    # (GARCH was built on no plant)
    term = run_cli("audit", store, "--n-plant", 2, "--n-null", 100)
    said = " ".join(term.stderr.split())
    assert "where only 2 deciding null(s) could be built the verdict (Simes over the Monte Carlo intervals of the 2 " \
           "deciding nulls) says Skill only when at least 2 of them" in said, said
    assert "of the 3 deciding nulls" not in said
    notes = json.loads(run_cli("audit", store, "--n-plant", 2, "--n-null", 100, "--json").stdout)["notes"]
    assert any("where only 2 deciding null(s) could be built" in n for n in notes)  # --json carries them too


def test_a_horizon_too_short_for_any_test_is_refused_up_front(tmp_path, run_cli):
    store = tmp_path / "short.zarr"
    assert run_cli("generate", "--seed-window", "2019-12", "--context", 200, "--horizon", 10, "--n-paths", 6,
                   "--generators", "bootstrap", "--out", store).exit_code == 0
    r = run_cli("audit", store, "--n-null", 19)
    assert r.exit_code != 0 and len(r.stderr.strip().splitlines()) == 1
    assert "has a 10-bar horizon; the skill tests need at least 20 bars" in r.stderr and "--horizon 20" in r.stderr