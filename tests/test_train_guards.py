"""`parallelverse train` writes only where it may: a new or empty --out, or a run of its own (recognised by the
recipe in its training.json), never a user's files, a copy of the shipped model or a store; checkpoint files are
replaced whole; --init decides the representation; every refusal is one line and writes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import tree_digest

SHIPPED = Path(__file__).resolve().parents[1] / "parallelverse" / "models" / "kronos-pv-small"
TINY = ("--size", "tiny", "--until", "2020-01-01", "--val-from", "2019-07-01", "--lookback", "40", "--predict", "8",
        "--stride", "10", "--steps", "4", "--eval-every", "2", "--batch-size", "8")


@pytest.fixture
def csv(tmp_path, aapl_frame):
    f = tmp_path / "aapl.csv"
    aapl_frame.to_csv(f, index=False)  # real AAPL bars 2018-2020
    return f


def one_line_error(result, says: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and says in lines[0], result.output
    assert "internal error" not in result.output and "--set" not in result.output


def test_out_that_is_not_a_train_run_is_refused_and_left_unchanged(tmp_path, csv, run_cli):
    """A user's files (even under our own file names), a copy of the shipped model and a store (its root or inside
    it) are refused before anything is read or written; an own run, finished, is rerun without complaint."""
    users = tmp_path / "users"
    (users / "tokenizer").mkdir(parents=True)
    for rel, text in (("parallelverse.json", "{\"mine\": 1}"), ("training.json", "{\"mine\": 2}"),
                      ("tokenizer/config.json", "{\"mine\": 3}")):
        (users / rel).write_text(text)
    ship = tmp_path / "ship"
    shutil.copytree(SHIPPED, ship)
    store = tmp_path / "s.zarr"
    store.mkdir()
    (store / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group",
                                                 "attributes": {"format": "parallelverse-store/3"}}))
    own = tmp_path / "own"
    first = run_cli("train", "--data", csv, "--out", own, *TINY)
    assert first.exit_code == 0, first.output
    (own / "notes.txt").write_text("mine")
    cases = ((users, "training.json records no recipe"), (ship, "did not write (first: MODEL_CARD.md)"),
             (store, "is a parallelverse store"), (store / "ckpt", f"is inside the parallelverse store {str(store)!r}; write it beside the store, e.g. "
                                     f"--out {store.parent / 'my-kronos'}"),
             (own, "did not write (first: notes.txt)"))
    for out, says in cases:
        before = tree_digest(tmp_path)
        one_line_error(run_cli("train", "--data", csv, "--out", out, *TINY), says)
        assert tree_digest(tmp_path) == before, out
    (own / "notes.txt").unlink()
    again = run_cli("train", "--data", csv, "--out", own, *TINY)  # the same run, finished: rerun, nothing refused
    assert again.exit_code == 0, again.output


def test_init_takes_the_checkpoint_representation(tmp_path, csv, run_cli):
    """A zscore checkpoint fine-tunes in zscore without --representation (the README's --init recipe with an official,
    zscore, checkpoint failed inside torch: 'mat1 and mat2 shapes cannot be multiplied'); a conflicting one is refused
    before anything is written."""
    base = tmp_path / "base"
    made = run_cli("train", "--data", csv, "--out", base, "--representation", "zscore", *TINY)
    assert made.exit_code == 0, made.output
    tuned = tmp_path / "tuned"
    result = run_cli("train", "--data", csv, "--out", tuned, "--init", base, *TINY)
    assert result.exit_code == 0, result.output
    assert json.loads((tuned / "parallelverse.json").read_text())["representation"] == "zscore"
    one_line_error(run_cli("train", "--data", csv, "--out", tmp_path / "c", "--init", base, "--representation",
                           "logret", *TINY), "--representation logret conflicts with --init")
    assert not (tmp_path / "c").exists()


def test_checkpoints_are_replaced_whole_and_a_damaged_one_is_named_on_resume(tmp_path, market):
    """Every file a run rewrites is replaced by rename (a hard link to the old one keeps the old bytes: nothing is
    written in place, so a kill cannot leave a truncated file); a damaged best checkpoint (it cannot be rebuilt from
    state.pt, which holds the last weights, not the best) stops the resume with one line naming it."""
    from parallelverse.errors import TrainError
    from parallelverse.train.data import make_windows
    from parallelverse.train.loop import TrainConfig, train

    tr, va, _ = make_windows([market.select("AAPL")], 40, 8, 10, "2017-01-01", "2018-01-01", None)
    cfg = TrainConfig(steps=10, batch_size=8, eval_every=5, seed=3)
    out = tmp_path / "run"

    def stop_at_5(stage, step, total, loss, val):
        if stage == "tokenizer" and step == 5 and val is not None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tr, va, out, "tiny", cfg, progress=stop_at_5)
    files = ["tokenizer/model.safetensors", "tokenizer/config.json", "training.json", "state.pt"]
    (tmp_path / "links").mkdir()
    old = {}
    for rel in files:
        link = tmp_path / "links" / rel.replace("/", "_")
        link.hardlink_to(out / rel)
        old[rel] = link.read_bytes()
    state = train(tr, va, out, "tiny", cfg)  # resumes to the end
    assert state["tokenizer"]["best_step"] == 10  # so the tokenizer's best checkpoint was rewritten
    for rel in files:
        assert (tmp_path / "links" / rel.replace("/", "_")).read_bytes() == old[rel], rel  # never written in place
    assert (out / "tokenizer" / "model.safetensors").read_bytes() != old["tokenizer/model.safetensors"]
    with open(out / "predictor" / "model.safetensors", "r+b") as fh:
        fh.truncate(1000)
    with pytest.raises(TrainError, match=r"predictor/model.safetensors' is damaged or missing \(SafetensorError\)"):
        train(tr, va, out, "tiny", cfg)


def test_no_training_windows_asks_for_a_later_val_from(market):
    """Training windows end before --val-from, so too few of them needs a later --val-from, not an earlier one."""
    from parallelverse.errors import DataError
    from parallelverse.train.data import make_windows

    with pytest.raises(DataError, match="end before --val-from 2013-03-01; set a later --val-from"):
        make_windows([market.select("AAPL")], 40, 8, 10, "2013-03-01", None, None)
