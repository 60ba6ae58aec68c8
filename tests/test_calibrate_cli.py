"""`parallelverse calibrate` end to end: resume after SIGKILL, worker-count independence, the
contamination guard with a tiny real Kronos checkpoint, scenarios, HTML, strict JSON, bad inputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from parallelverse.calibrate import CalibrateRequest, aggregate, plan_calibrate, run_calibrate
from parallelverse.jsonsafe import strict_json
from parallelverse.generators import make_generator
from parallelverse.generators.training_span import checkpoint_span, horizon_warning, training_span

SMALL = ["--symbols", "AAPL", "--windows", "2019-01:2020-12", "--every", "1M", "--horizon", "10,21", "--n-paths", "60",
         "--generators", "garch,bootstrap"]


def cell_files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((d / "cells").glob("*.json"))}


def strict(text: str):
    def refuse(c):
        raise ValueError(f"non-strict JSON constant {c}")

    return json.loads(text, parse_constant=refuse)


def test_killed_run_resumes_with_identical_results_whatever_the_workers(tmp_path, run_cli):
    killed, ref = tmp_path / "killed", tmp_path / "ref"
    args = ["calibrate", *SMALL, "--out", str(killed), "--workers", "1", "--json"]
    proc = subprocess.Popen([sys.executable, "-m", "parallelverse", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((killed / "cells").glob("*.json"))) < 3 and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = cell_files(killed)
    assert 3 <= len(partial) < 48, "the run was not interrupted in the middle"
    for data in partial.values():
        strict(data.decode())  # whole files only: written to a temp name, then renamed
    done = run_cli(*args)
    assert done.exit_code == 0, done.output
    summary = strict(done.stdout)
    assert summary["cells_reused"] == len(partial) and summary["cells_computed"] == 48 - len(partial)
    assert not list((killed / "cells").glob(".*.partial"))  # a killed writer's temporary is gone once its cell is written
    # an uninterrupted run with two worker processes writes the same bytes
    req = CalibrateRequest(symbols=("AAPL",), windows="2019-01:2020-12", every="1M", horizons=(10, 21), n_paths=60,
                           generators=("garch", "bootstrap"), out=str(ref), workers=2)
    plan = plan_calibrate(req)
    run = run_calibrate(plan)
    assert run.computed == 48 and cell_files(killed) == cell_files(ref)
    cal = aggregate(run.records, req.horizons, plan.every_months, plan.reference, plan.spans).to_json()
    assert strict(json.dumps(strict_json(cal)))["summaries"] == summary["summaries"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_the_worker_pool_at_once_in_one_line(tmp_path, run_cli, sig):
    """Ctrl-C reaches the whole process group: the workers printed tracebacks, the parent waited for the cells in
    flight (33 s after a signal at 10 s), and once hung for good at exit (a hostile tester). Now: one line, exit
    130 within seconds, whole cells only, and the rerun finishes them."""
    out = tmp_path / "cal"
    args = ["calibrate", *SMALL, "--out", str(out), "--workers", "2", "--json"]
    proc = subprocess.Popen([sys.executable, "-m", "parallelverse", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "cells").glob("*.json"))) < 2 and proc.poll() is None:
        time.sleep(0.01)
    t0 = time.time()
    os.killpg(proc.pid, sig)  # as a terminal's Ctrl-C (or a scheduler's stop) reaches every process of the group
    _, stderr = proc.communicate(timeout=60)
    assert time.time() - t0 < 15 and proc.returncode == 130, (proc.returncode, stderr)
    lines = stderr.decode().strip().splitlines()
    assert lines[-1] == "interrupted: rerun the same command to resume" and "Traceback" not in stderr.decode(), lines
    partial = cell_files(out)
    assert len(partial) < 48
    for data in partial.values():
        strict(data.decode())
    done = run_cli(*args)
    assert done.exit_code == 0 and strict(done.stdout)["cells_computed"] == 48 - len(partial)


def test_json_is_strict_and_html_is_self_contained(tmp_path, run_cli):
    out, page = tmp_path / "cal", tmp_path / "cal.html"
    r = run_cli("calibrate", "--symbols", "AAPL,NFLX", "--windows", "2020-01:2020-12", "--every", "3M", "--horizon", "21",
                "--n-paths", "40", "--generators", "bootstrap", "--set", "bootstrap.block_bars=5", "--out", out,
                "--html", page, "--json")
    assert r.exit_code == 0, r.output
    doc = strict(r.stdout)
    assert doc["universes"] == ["bootstrap-b5", "garch-gjr-t"] and doc["cells_planned"] == 16  # GARCH: the reference
    s = {x["universe"]: x for x in doc["summaries"]}
    assert s["bootstrap-b5"]["n_cells"] == 8 and s["garch-gjr-t"]["vs_reference"] is None
    assert set(s["bootstrap-b5"]["coverage"]) == {"50", "90"} and len(s["bootstrap-b5"]["pit_final"]["hist"]) == 10
    text = page.read_text()
    assert text.count("data:image/png;base64,") >= 3 and "http" not in text.replace("http-equiv", "")
    for f in (out / "cells").glob("*.json"):
        strict(f.read_text())
    table = run_cli("calibrate", "--symbols", "AAPL,NFLX", "--windows", "2020-01:2020-12", "--every", "3M", "--horizon",
                    "21", "--n-paths", "40", "--generators", "bootstrap", "--set", "bootstrap.block_bars=5", "--out", out)
    assert table.exit_code == 0 and "bootstrap-b5" in table.stdout and "0 computed, 16 reused" in table.stderr
    assert "too few cells" in table.stdout and " yes " not in table.stdout  # 4 independent cells: no word on uniformity
    # one changed digit in a stored score is damage: that cell is recomputed (and said), the result is as made
    before = cell_files(out)
    victim = sorted((out / "cells").glob("AAPL_*bootstrap*.json"))[0]
    text = victim.read_text()
    at = text.index('"crps_final"')
    digit = next(i for i in range(at + 14, len(text)) if text[i] in "123456789")
    victim.write_text(text[:digit] + str(int(text[digit]) % 9 + 1) + text[digit + 1:])
    again = run_cli("calibrate", "--symbols", "AAPL,NFLX", "--windows", "2020-01:2020-12", "--every", "3M", "--horizon",
                    "21", "--n-paths", "40", "--generators", "bootstrap", "--set", "bootstrap.block_bars=5", "--out", out,
                    "--json")
    assert again.exit_code == 0 and "1 cell file(s) under" in again.stderr and "were damaged" in again.stderr
    js = strict(again.stdout)
    assert (js["cells_computed"], js["cells_reused"], js["cells_damaged"]) == (1, 15, 1)
    assert cell_files(out) == before


def test_scenario_calibrate_table(tmp_path, run_cli):
    sc = tmp_path / "cal.toml"
    sc.write_text('symbol = "GOOG"\nseed_window = "2020-01"\nn_paths = 30\n[garch]\ndist = "normal"\n'
                  '[calibrate]\nwindows = "2021-01:2021-06"\nevery = "3M"\nhorizons = [21]\ngenerators = ["garch"]\n'
                  f'out = "{tmp_path / "o"}"\nworkers = 1\n')
    r = run_cli("calibrate", "--scenario", sc, "--json")
    assert r.exit_code == 0, r.output
    doc = strict(r.stdout)
    assert doc["universes"] == ["garch-gjr-normal", "garch-gjr-t"] and doc["cells_planned"] == 4
    assert doc["request"]["symbols"] == ["GOOG"] and doc["request"]["n_paths"] == 30
    # options on the command line win; generate still reads the same file and ignores [calibrate]
    r2 = run_cli("calibrate", "--scenario", sc, "--n-paths", "20", "--json")
    assert strict(r2.stdout)["request"]["n_paths"] == 20
    from parallelverse.scenario import load_scenario

    assert load_scenario(sc)["seed_window"] == "2020-01"
    bad = tmp_path / "bad.toml"
    bad.write_text('[calibrate]\nwindowz = "2021-01"\n')
    r3 = run_cli("calibrate", "--scenario", bad)
    assert r3.exit_code == 2 and "unknown key 'windowz' in the calibrate table" in r3.stderr


@pytest.mark.parametrize("args, needle", [
    (["--windows", "2020-13:2021-01"], "month outside 01-12"),
    (["--windows", "2021:2020"], "ends before it starts"),
    (["--every", "0M"], "--every '0M'"),
    (["--horizon", "0"], "must be bar counts >= 1"),
    (["--horizon", "21,x"], "--horizon '21,x'"),
    (["--horizon", "21,21"], "repeats a horizon"),
    (["--symbols", "ZZZZ"], "unknown symbol 'ZZZZ'"),
    (["--n-paths", "1"], "--n-paths 1 must be at least 2"),
    (["--workers", "0"], "--workers 0 must be from 1 to 256"),
    (["--generators", "nope"], "unknown generator 'nope'"),
    (["--set", "bootstrap.block_bars=5"], "not among the generators"),
    (["--windows", "2023-09:2023-09"], "realized bars"),
    (["--windows", "2013-02:2013-04"], "bars of context"),
    (["--data", "missing.csv"], "does not exist"),
    (["--html", "no/such/dir/x.html"], "does not exist"),
    # checked before any cell: the garch cells were written, then the bootstrap's fit failed (a hostile tester)
    (["--generators", "garch,bootstrap", "--set", "bootstrap.block_bars=100000"], "longer than a quarter of the 399"),
])
def test_bad_inputs_are_one_line_errors_and_write_nothing(tmp_path, run_cli, args, needle):
    out = tmp_path / "cal"
    base = {"--windows": "2020-01:2020-06", "--every": "3M", "--horizon": "21", "--symbols": "AAPL", "--n-paths": "20",
            "--generators": "garch"}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    flat = [x for kv in base.items() for x in kv]
    r = run_cli("calibrate", *flat, "--out", out)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_out_that_is_a_file_is_refused(tmp_path, run_cli):
    f = tmp_path / "x"
    f.write_text("keep")
    r = run_cli("calibrate", "--symbols", "AAPL", "--windows", "2020-01", "--horizon", "21", "--out", f)
    assert r.exit_code == 2 and "is a file" in r.stderr and f.read_text() == "keep"


def test_out_at_the_working_directory_or_root_and_html_inside_out_are_refused_before_any_cell(tmp_path, run_cli,
                                                                                              monkeypatch):
    """`calibrate --out /` wrote cells/ into the filesystem root (a hostile tester); --html equal to --out failed
    only after every cell was computed."""
    monkeypatch.chdir(tmp_path)
    base = ["calibrate", "--symbols", "AAPL", "--windows", "2020-01", "--horizon", "5", "--n-paths", "5",
            "--generators", "garch"]
    for out in ("/", ".", str(tmp_path.parent)):
        r = run_cli(*base, "--out", out)
        assert r.exit_code == 2 and "is the working directory or one above it" in r.stderr, (out, r.stderr)
    assert not Path("/cells").exists() and list(tmp_path.iterdir()) == []
    r = run_cli(*base, "--out", "cal", "--html", "cal")
    assert r.exit_code == 2 and "--html 'cal' is --out" in r.stderr and list(tmp_path.iterdir()) == []
    (tmp_path / "cal").mkdir()
    r = run_cli(*base, "--out", "cal", "--html", "cal/page.html")
    assert r.exit_code == 2 and "inside --out" in r.stderr and list((tmp_path / "cal").iterdir()) == []


# --- contamination guard ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_kronos_until_2020(tmp_path_factory):
    """A tiny real Kronos (the test_kronos configuration) whose training.json says: bars before 2020-01-01."""
    torch = pytest.importorskip("torch")
    from parallelverse.generators.kronos.load import save_module
    from parallelverse.generators.kronos.model import KronosPredictor, KronosTokenizer
    from test_kronos import PRED, TOK

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("models") / "tiny-pv"
    save_module(KronosTokenizer(**TOK), d / "tokenizer")
    save_module(KronosPredictor(**PRED), d / "predictor")
    (d / "training.json").write_text(json.dumps({"meta": {"until": "2020-01-01", "data": {
        "AAPL": {"source": "stocks_daily", "first": "2013-01-02", "last": "2019-12-31"}}}}))
    return d


def test_training_span_shapes(tmp_path, tiny_kronos_until_2020):
    span = training_span(make_generator("kronos", {"model": str(tiny_kronos_until_2020)}))
    assert (str(span.start.date()), str(span.end.date())) == ("2013-01-02", "2020-01-01")
    d = tmp_path / "ck"
    d.mkdir()
    (d / "training.json").write_text(json.dumps({"train_start": "2015-03-01", "train_end": "2021-06-30"}))
    span = checkpoint_span(d)  # train_end is the last day used: the span ends (exclusive) the day after
    assert (str(span.start.date()), str(span.end.date())) == ("2015-03-01", "2021-07-01")
    assert span.overlaps(pd.Timestamp("2021-06-30"), pd.Timestamp("2021-09-30"))
    assert not span.overlaps(pd.Timestamp("2021-07-01"), pd.Timestamp("2021-09-30"))
    (d / "training.json").write_text(json.dumps({"meta": {"train_end": "2018-01-01"}}))
    assert checkpoint_span(d).start is None and str(checkpoint_span(d).end.date()) == "2018-01-02"
    (d / "training.json").unlink()
    (d / "parallelverse.json").write_text(json.dumps({"max_context": 128, "train_start": "1962-01-02",
                                                      "train_end": "2019-12-31"}))  # the shipped model's shape
    assert str(checkpoint_span(d).end.date()) == "2020-01-01"
    (d / "parallelverse.json").unlink()
    (d / "training.json").write_text("not json")
    assert checkpoint_span(d) is None
    official = training_span(make_generator("kronos", {"model": "NeoQuasar/Kronos-small"}))
    assert official.start is None and official.end == pd.Timestamp("2025-08-02") and "2508.02739" in official.source
    assert training_span(make_generator("garch")) is None
    # a checkpoint without a readable record is treated as trained on everything: warned about, never trusted
    line = horizon_warning(make_generator("kronos", {"model": str(d)}), pd.Timestamp("2021-01-04"),
                           pd.Timestamp("2021-12-31"))
    assert line is not None and "treated as trained on everything" not in line and "overlaps" in line


def test_a_cell_inside_the_training_data_is_in_sample(tmp_path, tiny_kronos_until_2020, run_cli):
    model = str(tiny_kronos_until_2020)
    req = CalibrateRequest(symbols=("AAPL",), windows="2019-06:2020-01", every="7M", horizons=(21,), n_paths=8,
                           generators=("kronos",), model=model, out=str(tmp_path / "o"), workers=1,
                           generator_params={"kronos": {"device": "cpu"}})
    plan = plan_calibrate(req)
    flags = {(c.window, c.name): c.in_sample for c in plan.cells}
    assert flags[("2019-06", "kronos-tiny-pv-T1")] == (True,)  # horizon July 2019: inside the training data
    assert flags[("2020-01", "kronos-tiny-pv-T1")] == (False,)  # horizon from February 2020: after it
    assert flags[("2019-06", "garch-gjr-t")] == (False,)  # GARCH learns from the context only
    run = run_calibrate(plan)
    assert run.skipped_in_sample == 1 and run.computed == 3
    cal = aggregate(run.records, (21,), plan.every_months, plan.reference, plan.spans)
    assert cal.summary("kronos-tiny-pv-T1", 21).n_cells == 1
    inc = CalibrateRequest(**{**req.__dict__, "include_in_sample": True})
    run2 = run_calibrate(plan_calibrate(inc))
    assert run2.computed == 1 and run2.reused == 3
    cal2 = aggregate(run2.records, (21,), plan.every_months, plan.reference, plan.spans, include_in_sample=True)
    assert cal2.summary("kronos-tiny-pv-T1", 21).n_cells == 2
    cal3 = aggregate(run2.records, (21,), plan.every_months, plan.reference, plan.spans)
    assert cal3.summary("kronos-tiny-pv-T1", 21).n_in_sample == 1 and cal3.summary("kronos-tiny-pv-T1", 21).n_cells == 1
    # generate warns, in one line on stderr, when the horizon lies inside the training data
    r = run_cli("generate", "--seed-window", "2019-06", "--generators", "kronos", "--model", model, "--device", "cpu",
                "--n-paths", 4, "--horizon", 10, "--out", tmp_path / "s.zarr")
    assert r.exit_code == 0, r.output
    warn = [ln for ln in r.stderr.splitlines() if "warning:" in ln]
    assert len(warn) == 1 and "overlaps the model's training data" in warn[0] and "2013-01-02" in warn[0]
    r = run_cli("generate", "--seed-window", "2020-01", "--generators", "kronos", "--model", model, "--device", "cpu",
                "--n-paths", 4, "--horizon", 10, "--out", tmp_path / "t.zarr")
    assert r.exit_code == 0 and "warning:" not in r.stderr
