"""Faults: SIGKILL at random moments, damaged chunks, concurrent writers, overwrites, and hostile strategies.

Kill tests fork this (already warmed-up) process to run the real CLI command, SIGKILL
it after a delay drawn uniformly over the measured duration of one uninterrupted run
(seeded), then rerun the same command to completion and compare the store with an
uninterrupted run's: every array and every attribute, bit for bit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import zarr

from parallelverse.cli import main

ROOT = Path(__file__).resolve().parents[1]
N_KILLS = 12  # random kill moments per command (each one a kill and a rerun to the end)
GEN = ["generate", "--seed-window", "2020-01", "--context", "200", "--horizon", "20", "--n-paths", "24",
       "--chunk-paths", "4", "--seed", "3", "--generators", "garch,bootstrap", "--set", "bootstrap.uncertainty=none"]


# ---- running the CLI in a forked copy of this process -------------------------------------------------

def _start(args: list[str]) -> int:
    pid = os.fork()
    if pid == 0:  # the child runs the command as `parallelverse ...` would, and never returns into pytest
        code = 70
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            try:
                import torch

                torch.set_num_threads(1)  # no OpenMP pool inherited across the fork
            except ImportError:
                pass
            try:
                main.main([str(a) for a in args], standalone_mode=False)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                code = 1
        finally:
            os._exit(code)
    return pid


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def run(args: list[str]) -> tuple[int, float]:
    """Exit code and wall seconds of the command run to the end."""
    t0 = time.perf_counter()
    code = _wait(_start(args))
    return code, time.perf_counter() - t0


def run_here(args: list[str]) -> None:
    """Run the command in this process: the uninterrupted reference, and it warms this process up (imports,
    numba, caches) so that the forked runs time the command itself."""
    from click.testing import CliRunner

    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def run_killed(args: list[str], delay_s: float) -> bool:
    """Run the command and SIGKILL it after delay_s; True if the kill landed before it finished."""
    pid = _start(args)
    deadline = time.monotonic() + delay_s
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
        time.sleep(min(0.002, max(0.0, deadline - time.monotonic())))
    os.kill(pid, signal.SIGKILL)  # still our unreaped child: the pid cannot have been reused
    return _wait(pid) == -signal.SIGKILL


# ---- comparing stores -------------------------------------------------------------------------------

def snapshot(path: Path, group: str = "") -> dict:
    """Every array and every group's attributes under `group`, by key (versions included)."""
    root = zarr.open_group(str(path), mode="r")
    g = root[group] if group else root
    out = {}

    def walk(g, prefix):
        out[f"{prefix}@attrs"] = json.dumps(g.attrs.asdict(), sort_keys=True)
        for name, a in sorted(g.arrays()):
            out[f"{prefix}{name}"] = a[:]
            out[f"{prefix}{name}@attrs"] = json.dumps(a.attrs.asdict(), sort_keys=True)
        for name, sub in sorted(g.groups()):
            walk(sub, f"{prefix}{name}/")

    walk(g, "")
    return out


def assert_same(a: dict, b: dict, what: str) -> None:
    assert sorted(a) == sorted(b), f"{what}: {sorted(set(a) ^ set(b))}"
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k], equal_nan=True), f"{what}: {k}"
        else:
            assert a[k] == b[k], f"{what}: {k}"


def leftovers(path: Path) -> list[str]:
    return [str(p) for p in path.parent.rglob("*") if p.name.endswith(".partial") or ".old-" in p.name]


def kill_and_resume(tmp_path: Path, make_args, reference: Path, group: str, seed: int, prepare=None,
                    n_kills: int = N_KILLS) -> list[float]:
    """n_kills times: kill the command at a random moment, rerun it, compare with `reference`."""
    # the shorter of two uninterrupted runs: one slowed by leftover load (a previous module's dask workers
    # shutting down) would put most kills after the end
    seconds = min(run(make_args(tmp_path / f"timing{k}.zarr", prepare))[1] for k in range(2))
    want = snapshot(reference, group)
    rng = np.random.default_rng(seed)
    delays = rng.uniform(0, seconds, n_kills)
    landed = 0
    for i, delay in enumerate(delays):
        out = tmp_path / f"run{i}.zarr"
        landed += run_killed(make_args(out, prepare), float(delay))
        code, _ = run(make_args(out, prepare))
        assert code == 0, f"rerun {i} after a kill at {delay:.3f} s failed with exit code {code}"
        assert_same(snapshot(out, group), want, f"run {i}, killed at {delay:.3f} s of {seconds:.3f} s")
        assert not leftovers(out), leftovers(out)
        shutil.rmtree(out)
    assert landed >= n_kills // 2, f"only {landed} of {n_kills} kills landed before the run ended"
    return list(delays)


# ---- SIGKILL: generate (GARCH + bootstrap), generate (Kronos, tiny model), stress ----------------------

def test_generate_killed_anywhere_resumes_bit_identical(tmp_path):
    ref = tmp_path / "ref.zarr"
    run_here([*GEN, "--out", ref])
    kill_and_resume(tmp_path, lambda out, _: [*GEN, "--out", out], ref, "", seed=11)


def test_kronos_generate_killed_anywhere_resumes_bit_identical(tmp_path, tiny_kronos):
    def args(out, _):
        return ["generate", "--seed-window", "2020-01", "--context", "200", "--horizon", "8", "--n-paths", "12",
                "--chunk-paths", "2", "--seed", "3", "--generators", "kronos", "--model", tiny_kronos,
                "--device", "cpu", "--temperature", "1.0", "--out", out]

    ref = tmp_path / "ref.zarr"
    run_here(args(ref, None))
    fitted = zarr.open_group(str(ref), mode="r")["universes/kronos-tiny-kronos-T1"].attrs["fitted"]
    assert set(fitted["repairs"]) == {"price_floor", "high", "low", "volume"}  # recorded: totals over chunks
    kill_and_resume(tmp_path, args, ref, "", seed=12)


STRATEGY = ROOT / "strategies" / "sma_crossover.py"


def test_stress_killed_anywhere_resumes_bit_identical(tmp_path):
    base = tmp_path / "base.zarr"
    run_here([*GEN, "--out", base])

    def args(out, _):
        if not out.exists():
            shutil.copytree(base, out)
        return ["stress", STRATEGY, "--store", out, "--json"]

    ref = tmp_path / "ref.zarr"
    run_here(args(ref, None))
    kill_and_resume(tmp_path, args, ref, "results", seed=13, n_kills=6)  # each stress run starts a strategy process


def test_kill_and_resume_existing_results_stay_or_are_replaced_whole(tmp_path):
    """A stress killed while replacing earlier results leaves the earlier ones or the new ones, never none."""
    base = tmp_path / "base.zarr"
    run_here([*GEN, "--out", base])
    run_here(["stress", STRATEGY, "--store", base, "--fees", "1"])
    old = snapshot(base, "results")
    assert run(["stress", STRATEGY, "--store", base, "--fees", "3"])[0] == 0
    new = snapshot(base, "results")
    _, seconds = run(["stress", STRATEGY, "--store", base, "--fees", "1"])
    rng = np.random.default_rng(14)
    for i, delay in enumerate(rng.uniform(0, seconds, 4)):
        assert run(["stress", STRATEGY, "--store", base, "--fees", "3" if i % 2 else "1"])[0] == 0
        before = snapshot(base, "results")
        run_killed(["stress", STRATEGY, "--store", base, "--fees", "1" if i % 2 else "3"], float(delay))
        from parallelverse.store import read_store

        with read_store(base, write=True):  # the next writer puts back what a kill left mid-swap
            pass
        after = snapshot(base, "results")
        for got in (after,):
            assert any(_equal(got, x) for x in (before, old, new)), f"kill at {delay:.3f} s left a mix"
        assert not leftovers(base)


def _equal(a: dict, b: dict) -> bool:
    try:
        assert_same(a, b, "")
        return True
    except AssertionError:
        return False
