"""`parallelverse train`: no future leak in the normalisation, time-ordered split, resumable, and a tiny
model that trains in seconds and loads in `generate`."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from parallelverse.bars import invariant_violations
from parallelverse.generators.bootstrap import VOL_REGIME_SD as BOOTSTRAP_VOL_REGIME_SD
from parallelverse.generators.drift import PRIOR_SD
from parallelverse.store import read_paths
from parallelverse.train.data import make_windows, normalise_window
from parallelverse.train.loop import TrainConfig, train


def test_normalisation_never_sees_the_predicted_bars(aapl):
    """Changing the bars a window predicts leaves its normalised lookback untouched, and the predicted
    bars are scaled with the lookback's statistics only."""
    x = np.random.default_rng(0).lognormal(size=(100, 6)).astype(np.float32)
    a = normalise_window(x, 90)
    y = x.copy()
    y[90:] *= 50.0  # a crash or a squeeze in the predicted bars
    b = normalise_window(y, 90)
    np.testing.assert_array_equal(a[:90], b[:90])
    ref = x[:90]
    np.testing.assert_allclose(a[95], np.clip((x[95] - ref.mean(0)) / (ref.std(0) + 1e-5), -5, 5), rtol=1e-5)
    # The same through make_windows on real bars: perturb everything after a window's lookback.
    tr, _, _ = make_windows([aapl], 90, 10, 5, "2016-01-01", "2017-01-01", None)
    s = aapl.slice(0, len(aapl))
    bumped = type(s)(s.symbol, s.source, s.time, s.open, s.high, s.low, s.close.copy(), s.volume, True)
    bumped.close[90:] *= 3.0
    tr2, _, _ = make_windows([bumped], 90, 10, 5, "2016-01-01", "2017-01-01", None)
    np.testing.assert_array_equal(tr.x[0][:90], tr2.x[0][:90])  # window 0's lookback is bars 0..89


def test_split_is_time_ordered_and_holdout_is_validation_only(market):
    series = [market.select(s) for s in ("AAPL", "NVDA")]
    tr, va, used = make_windows(series, 60, 10, 10, "2017-01-01", "2019-01-01", "NVDA")
    assert set(used) == {"AAPL", "NVDA"} and all(u["last"] < "2019-01-01" for u in used.values())
    n_aapl_train = sum(1 for s in range(0, used["AAPL"]["bars"] - 70 + 1, 10)
                       if series[0].time[s + 69] < np.datetime64("2017-01-01").astype("datetime64[ns]").astype(np.int64))
    assert len(tr) == n_aapl_train  # NVDA windows never train


@pytest.fixture(scope="module")
def windows(market):
    return make_windows([market.select("AAPL")], 40, 8, 10, "2017-01-01", "2018-01-01", None)[:2]


def test_resume_after_interruption_is_identical(windows, tmp_path):
    tr, va = windows
    cfg = TrainConfig(steps=20, batch_size=8, eval_every=10, seed=3)
    whole = tmp_path / "whole"
    train(tr, va, whole, "tiny", cfg)

    def stop_at_15(stage, step, total, loss, val):
        if stage == "predictor" and step >= 10 and val is not None:
            raise KeyboardInterrupt

    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        train(tr, va, cut, "tiny", cfg, progress=stop_at_15)
    state = torch.load(cut / "state.pt", weights_only=False)
    assert state["tokenizer"]["done"] and state["predictor"]["step"] == 10
    from parallelverse.errors import GeneratorError
    from parallelverse.generators.kronos.load import resolve

    # the interrupted run's checkpoint is the best weights so far, not the recipe's: generate must not take it
    with pytest.raises(GeneratorError, match=r"unfinished `parallelverse train` run \(predictor at step 10 of 20\); "
                                             "rerun the same train command"):
        resolve(str(cut))
    train(tr, va, cut, "tiny", cfg)
    resolve(str(cut))
    from safetensors.torch import load_file

    for part in ("tokenizer", "predictor"):
        a, b = load_file(str(whole / part / "model.safetensors")), load_file(str(cut / part / "model.safetensors"))
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_a_resume_with_other_data_or_settings_is_refused(windows, tmp_path):
    """OUT continues only the run that made it: other settings, size or windows are refused before a step, and
    the predictor stage alone needs a trained tokenizer."""
    from parallelverse.errors import TrainError

    tr, va = windows
    cfg = TrainConfig(steps=10, batch_size=8, eval_every=5, seed=3)
    out = tmp_path / "run"
    train(tr, va, out, "tiny", cfg, stages=("tokenizer",))
    before = (out / "state.pt").read_bytes()
    other = type(tr)(tr.x[::-1].copy(), tr.stamp[::-1].copy(), tr.symbols)
    for args, says in (((tr, va, out, "tiny", TrainConfig(steps=10, batch_size=8, eval_every=5, seed=3, lr_tokenizer=0.1)),
                        "differs in: lr_tokenizer"),
                       ((tr, va, out, "small", cfg), "differs in: size"),
                       ((other, va, out, "tiny", cfg), "differs in: the data (its windows)")):
        with pytest.raises(TrainError, match=re.escape(f"holds a training run made with other settings ({says})")):
            train(*args)
        assert (out / "state.pt").read_bytes() == before
    train(tr, va, out, "tiny", cfg, stages=("predictor",))  # the same run, its second stage: allowed
    with pytest.raises(TrainError, match="--stage predictor needs a trained tokenizer"):
        train(tr, va, tmp_path / "fresh", "tiny", cfg, stages=("predictor",))
    assert not (tmp_path / "fresh").exists()  # refused before anything is written
    with pytest.raises(TrainError, match="--lr-tokenizer 1e\\+308 must be a number > 0 and at most 1"):
        TrainConfig(lr_tokenizer=1e308)
    from parallelverse.errors import GeneratorError
    from parallelverse.generators.kronos.load import resolve

    only_tok = tmp_path / "tok_only"
    train(tr, va, only_tok, "tiny", cfg, stages=("tokenizer",), meta={"stages": ["tokenizer"]})
    with pytest.raises(GeneratorError, match="has no trained predictor"):
        resolve(str(only_tok))


def test_tiny_training_then_generate(tmp_path, aapl_frame, run_cli):
    data = tmp_path / "aapl.csv"
    aapl_frame.to_csv(data, index=False)  # 2018-2020 real bars
    out = tmp_path / "model"
    result = run_cli("train", "--data", data, "--out", out, "--size", "tiny", "--until", "2020-01-01", "--val-from",
                     "2019-07-01", "--lookback", 60, "--predict", 8, "--steps", 40, "--eval-every", 20, "--json")
    assert result.exit_code == 0, result.output
    rec = json.loads(result.stdout)
    assert rec["predictor"]["done"] and rec["predictor"]["history"][-1]["val_loss"] > 0
    assert rec["meta"]["data"]["aapl"]["last"] < "2020-01-01"
    assert (out / "tokenizer" / "config.json").is_file() and (out / "predictor" / "model.safetensors").is_file()
    store = tmp_path / "s.zarr"
    gen = run_cli("generate", "--data", data, "--seed-window", "2020-01", "--context", 200, "--generators", "kronos",
                  "--model", out, "--n-paths", 10, "--horizon", 20, "--out", store)
    assert gen.exit_code == 0, gen.output
    import zarr

    g = zarr.open_group(str(store), mode="r")["universes/kronos-model-T1"]
    assert not invariant_violations(read_paths(g)).any()
    assert g.attrs["fitted"]["max_context"] == 68 and g.attrs["fitted"]["norm_window"] == 60
    declared = json.loads((out / "parallelverse.json").read_text())
    assert declared["representation"] == "logret" and g.attrs["fitted"]["normalisation"]["representation"] == "logret"
    assert (declared["train_start"], declared["train_end"]) == ("2018-01-02", "2019-12-31")
    # a trained checkpoint's universes carry the drift's and the volatility regime's uncertainty by default
    assert (declared["drift_prior_sd"], declared["vol_regime_sd"]) == (PRIOR_SD, BOOTSTRAP_VOL_REGIME_SD) != (0, 0)
    fitted = g.attrs["fitted"]
    assert fitted["drift_prior_sd"] == PRIOR_SD and fitted["vol_regime"]["sd"] == BOOTSTRAP_VOL_REGIME_SD
    off = run_cli("generate", "--data", data, "--seed-window", "2020-01", "--context", 200, "--generators", "kronos",
                  "--model", out, "--n-paths", 10, "--horizon", 20, "--out", store, "--set", "kronos.drift_prior_sd=0",
                  "--set", "kronos.vol_regime_sd=0")
    assert off.exit_code == 0, off.output
    fitted = zarr.open_group(str(store), mode="r")["universes/kronos-model-T1-dp0-vr0"].attrs["fitted"]
    assert fitted["uncertainty"] == "none" and fitted["drift_prior_sd"] == 0 and fitted["vol_regime"]["sd"] == 0


@pytest.mark.parametrize("option, value, says", [
    ("--lookback", "0", "--lookback 0 must be a whole number >= 1"),
    ("--predict", "-3", "--predict -3 must be a whole number >= 1"),
    ("--steps", "0", "--steps 0 must be a whole number >= 1"),
    ("--lr-predictor", "nan", "--lr-predictor nan must be a number > 0 and at most 1"),
    ("--lr-tokenizer", "inf", "--lr-tokenizer inf must be a number > 0 and at most 1"),
    ("--lr-tokenizer", "1e308", "--lr-tokenizer 1e+308 must be a number > 0 and at most 1"),
    ("--threads", "100000", "--threads 100000 is more than 1024"),
    ("--symbols", "AAPL,ZZZ", "--symbols ZZZ: not in the data (AAPL, AMZN, GOOG, META, NFLX, NVDA)"),
    ("--symbols", "", "--symbols '' names no symbol"),
    ("--until", "2018-06-30", "--val-from 2019-01-01 is not before --until 2018-06-30"),
    ("--until", "abc", "--until 'abc' is not a date"),
    ("--holdout-symbol", "ZZZ", "--holdout-symbol 'ZZZ' is not in the data"),
    ("--init", "/no/such/checkpoint", "--init '/no/such/checkpoint' does not exist"),
    ("--patience", "-1", "--patience -1 must be a whole number >= 0"),
    ("--lookback", "100000", "--lookback 100000 + --predict 10 = 100,010 bars per window is more than 2,048"),
    ("--batch-size", "100000000", "--batch-size 100000000 is out of range; use a whole number from 1 to 1,024"),
    ("--seed", "99999999999999999999", "--seed 99999999999999999999 is out of range; use a whole number from 0 to"),
    ("--init", "no/such-hub", "--init 'no/such-hub' is not a directory nor a known Kronos Hub id; pass a checkpoint "
                              "directory"),
    ("--data", "arch:nope", "--data 'arch:nope' is neither a training source nor an existing file; choose from "
                            "bundled, arch:sp500"),
])
def test_bad_options_are_one_line_errors_and_write_nothing(tmp_path, run_cli, option, value, says):
    out = tmp_path / "model"
    result = run_cli("train", "--out", out, "--val-from", "2019-01-01", "--size", "tiny", option, value)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1 and says in lines[0], result.output
    assert "Traceback" not in result.output and "--set" not in result.output and not out.exists()


def test_non_finite_loss_stops_with_an_error_and_never_saves_nan_weights(windows, tmp_path):
    """One window of absurd values, first drawn at step 8: the stage stops there with a one-line error, and OUT
    keeps the finite checkpoint of the step-5 evaluation."""
    from safetensors.torch import load_file

    from parallelverse.errors import TrainError

    tr, va = windows
    cfg = TrainConfig(steps=10, batch_size=8, eval_every=5, seed=0)
    gen = torch.Generator().manual_seed(cfg.seed)  # the tokenizer stage's batch draws
    draws = [set(torch.randint(0, len(tr), (cfg.batch_size,), generator=gen).tolist()) for _ in range(8)]
    bad_index = min(draws[7] - set().union(*draws[:7]))
    x = tr.x.copy()
    x[bad_index] = 1e30
    with pytest.raises(TrainError, match=r"tokenizer loss is (nan|inf) at step 8; nothing was saved"):
        train(type(tr)(x, tr.stamp, tr.symbols), va, tmp_path, "tiny", cfg)
    saved = load_file(str(tmp_path / "tokenizer" / "model.safetensors"))
    assert all(torch.isfinite(v).all() for v in saved.values())
    assert not (tmp_path / "predictor").exists()


def test_early_stopping_keeps_the_best_validation_checkpoint(windows, tmp_path):
    """The saved weights are those of the lowest validation loss (re-evaluated here), the stage stops after
    `patience` evaluations without improvement (the same command giving the same weights is the resume test's
    uninterrupted-vs-resumed comparison)."""
    from parallelverse.generators.kronos.load import load_module
    from parallelverse.generators.kronos.model import KronosPredictor, KronosTokenizer
    from parallelverse.train.loop import _eval, predictor_loss

    tr, va = windows
    cfg = TrainConfig(steps=150, batch_size=8, eval_every=5, seed=1, patience=2, lr_predictor=3e-2)
    state = train(tr, va, tmp_path / "a", "tiny", cfg)
    rec = state["predictor"]
    losses = [h["val_loss"] for h in rec["history"]]
    assert rec["best_val_loss"] == min(losses) and rec["best_step"] == rec["history"][int(np.argmin(losses))]["step"]
    assert rec["step"] < 150 and rec["step"] - rec["best_step"] == 2 * cfg.eval_every  # stopped early
    tok = load_module(KronosTokenizer, tmp_path / "a" / "tokenizer", "tokenizer")
    pred = load_module(KronosPredictor, tmp_path / "a" / "predictor", "predictor")
    assert _eval(lambda x, s: predictor_loss(pred, tok, x, s), va, 32) == pytest.approx(rec["best_val_loss"], rel=1e-5)


def test_training_sources_are_cut_so_nothing_counts_twice_and_no_flat_bars_train():
    import importlib.util

    from parallelverse.errors import DataError
    from parallelverse.train.sources import load_all, load_source

    with pytest.raises(DataError, match="unknown training source 'yahoo'"):
        load_source("yahoo")
    series, status = load_all()
    assert status["bundled"].startswith("used") and status["arch:sp500"].startswith("used")
    spans = {s.symbol: (str(s.dates()[0].date()), str(s.dates()[-1].date())) for s in series}
    if importlib.util.find_spec("great_tables") is None:
        assert status["great-tables:sp500"].startswith("skipped: training source 'great-tables:sp500' needs")
    else:
        assert spans["SP500-1962"] == ("1962-01-02", "1998-12-31") and spans["SP500"][0] == "1999-01-04"
    if importlib.util.find_spec("bokeh_sampledata") is not None:
        aapl = next(s for s in series if s.symbol == "AAPL-bokeh")
        assert spans["AAPL-bokeh"][1] <= "2012-12-31" < spans["AAPL"][0]
        i = int(np.searchsorted(aapl.dates(), np.datetime64("2005-02-28")))  # AAPL's 2:1 split
        assert abs(np.log(aapl.close[i] / aapl.close[i - 1])) < 0.1  # split-adjusted (unadjusted: -0.69)
    for s in series:
        assert (s.high > s.low).mean() > 0.95, s.symbol  # real OHLC, not close-only records
