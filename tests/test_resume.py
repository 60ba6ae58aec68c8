"""Killing `generate` mid-run and rerunning it finishes the store bit-identical to an uninterrupted run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from parallelverse.errors import StoreError
from parallelverse.store import open_universe

ARGS = ["--seed-window", "2020-01", "--n-paths", "6000", "--chunk-paths", "200", "--seed", "5", "--json",
        "--generators", "garch,bootstrap"]


def _cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "parallelverse", "generate", *ARGS, "--out", str(out)]


def _done_chunks(out: Path) -> int:
    return sum(1 for p in out.glob("universes/*/chunk_done/c/*") if not p.name.endswith(".partial"))


def _arrays(path: Path) -> dict[str, np.ndarray]:
    root = zarr.open_group(str(path), mode="r")
    out = {}
    for gname in ["history"] + [f"universes/{n}" for n, _ in root["universes"].groups()]:
        for aname, arr in root[gname].arrays():
            out[f"{gname}/{aname}"] = arr[:]
    return out


@pytest.mark.slow
def test_kill_and_resume_is_bit_identical(tmp_path):
    killed = tmp_path / "killed.zarr"
    proc = subprocess.Popen(_cmd(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _done_chunks(killed) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.002)
    # proc.kill(), not os.kill(pid): once poll() has reaped a finished process its pid may be gone
    # (ProcessLookupError) or reused; Popen.kill does nothing for a process it has already reaped.
    proc.kill()
    proc.wait()
    n_done = _done_chunks(killed)
    assert 3 <= n_done < 60, f"kill landed at {n_done} of 60 chunks; the test needs a mid-run kill"

    # The interrupted store does not look complete, and readers refuse it.
    root = zarr.open_group(str(killed), mode="r")
    names = [n for n, _ in root["universes"].groups()]
    assert not all(root[f"universes/{n}"].attrs["complete"] for n in names) or len(names) < 2
    with pytest.raises(StoreError, match="incomplete|no universe"):
        for n in ("garch-gjr-t", "bootstrap"):
            open_universe(killed, n)

    resumed = subprocess.run(_cmd(killed), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    clean = tmp_path / "clean.zarr"
    full = subprocess.run(_cmd(clean), capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stderr

    a, b = _arrays(killed), _arrays(clean)
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    for n in ("garch-gjr-t", "bootstrap"):
        ga, gb = open_universe(killed, n), open_universe(clean, n)  # complete now
        assert ga.attrs.asdict() == gb.attrs.asdict()
    # The rerun wrote only what was missing.
    written = {u["name"]: u["chunks_written"] for u in json.loads(resumed.stdout)["universes"]}
    assert set(written) == {"garch-gjr-t", "bootstrap"}
    assert sum(written.values()) == 60 - n_done


def test_a_replaced_model_is_not_resumed_into_the_old_universe(tiny_kronos, tmp_path, run_cli):
    # the universe records its weights' digest: rerunning after the checkpoint changed must not mix two models
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_kronos, model)
    args = ["generate", "--seed-window", "2020-01", "--context", "200", "--horizon", "8", "--n-paths", "4",
            "--generators", "kronos", "--model", model, "--device", "cpu", "--out", tmp_path / "k.zarr"]
    assert run_cli(*args).exit_code == 0
    digest = zarr.open_group(str(tmp_path / "k.zarr"), mode="r")["universes/kronos-model-T1"].attrs["spec"]["model_digest"]
    assert len(digest) == 64
    assert run_cli(*args).exit_code == 0  # the same model: nothing to do
    cfg = model / "predictor" / "config.json"
    cfg.write_text(cfg.read_text().replace("{", '{"edited": 1, ', 1))
    result = run_cli(*args)
    assert result.exit_code == 2 and "model_digest" in result.stderr and "rerun with the options" in result.stderr


def test_the_model_digest_covers_linked_directories_and_an_outside_tokenizer(tiny_kronos, tmp_path):
    """A predictor/ reached through a symbolic link, and a tokenizer given apart from the model, are part of
    what identifies the weights: changing either changes the digest."""
    import shutil

    from parallelverse.generators import make_generator, model_digest

    real = tmp_path / "predictor-files"
    shutil.copytree(tiny_kronos / "predictor", real)
    model = tmp_path / "linked"
    model.mkdir()
    shutil.copytree(tiny_kronos / "tokenizer", model / "tokenizer")
    (model / "predictor").symlink_to(real)
    before = model_digest(make_generator("kronos", {"model": str(model)}))
    cfg = real / "config.json"
    cfg.write_text(cfg.read_text().replace("{", '{"edited": 1, ', 1))
    assert model_digest(make_generator("kronos", {"model": str(model)})) != before
    tok = tmp_path / "tok"
    shutil.copytree(tiny_kronos / "tokenizer", tok)
    with_tok = model_digest(make_generator("kronos", {"model": str(tiny_kronos), "tokenizer": str(tok)}))
    (tok / "config.json").write_text((tok / "config.json").read_text().replace("{", '{"edited": 1, ', 1))
    assert model_digest(make_generator("kronos", {"model": str(tiny_kronos), "tokenizer": str(tok)})) != with_tok


def test_ctrl_c_while_the_command_is_still_importing_is_one_line(tmp_path):
    """The `parallelverse` entry point imports the CLI before any command can catch a Ctrl-C: an interrupt in that
    import (simulated where the import starts, then real ones at several moments) is one line and exit 130."""
    code = ("import importlib.abc, sys\n"
            "class Interrupt(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'parallelverse.cli':\n"
            "            raise KeyboardInterrupt\n"
            "sys.meta_path.insert(0, Interrupt())\n"
            "from parallelverse.__main__ import run\n"
            "run()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stderr, r.stdout) == (130, "interrupted\n", "")
    for delay in (0.5, 1.0, 1.5):  # past the interpreter's own start-up (a signal there is Python's, not ours)
        p = subprocess.Popen([sys.executable, "-m", "parallelverse", "generate", "--seed-window", "2020-01",
                              "--n-paths", "50", "--horizon", "20", "--out", str(tmp_path / f"s{delay}.zarr")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        p.send_signal(2)
        out, err = p.communicate(timeout=60)
        # 130, or ended by the SIGINT itself after its one line (-2, which a shell also reports as 130; seen once
        # in CI, cause not yet found)
        assert "Traceback" not in err and p.returncode in (0, 130, -2), (delay, p.returncode, err)
        assert p.returncode == 0 or err.strip().splitlines()[-1].startswith("interrupted"), (delay, err)
