"""Runs on a dask.distributed cluster (`--cluster`): the same stores and results as one process, bit for bit,
even when a worker is killed mid-run. One LocalCluster of 2 worker processes (1 thread each) for the module."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from conftest import tree_digest  # noqa: E402

import parallelverse  # noqa: E402
from parallelverse.backtest.strategy import StrategyError  # noqa: E402
from parallelverse.distributed import ClusterError, connect, parse_cluster  # noqa: E402
from parallelverse.generate import GenerateRequest, plan_generate, run_generate  # noqa: E402
from parallelverse.stress import StressRequest, run_stress  # noqa: E402

ROOT = Path(__file__).parent.parent
SMA = ROOT / "strategies" / "sma_crossover.py"


@pytest.fixture(scope="module")
def cluster():
    with connect("local:2") as c:
        assert sorted(c.client.nthreads().values()) == [1, 1]
        yield c


def _generate(out: Path, cluster=None, progress=None, **kw):
    req = GenerateRequest(seed_window="2020-01", out=str(out), **{"horizon_bars": 60, **kw})
    return run_generate(plan_generate(req), progress, cluster)


def test_cluster_forms_and_one_line_errors(tmp_path):
    assert parse_cluster("local:3").n_workers == 3 and parse_cluster("local").n_workers >= 1
    assert parse_cluster("tcp://10.0.0.5:8786").target == "tcp://10.0.0.5:8786"
    sched = tmp_path / "scheduler.json"
    sched.write_text(json.dumps({"address": "tcp://10.0.0.5:8786", "type": "Scheduler"}))
    assert parse_cluster(str(sched)).kind == "file"
    for text in ("{garbage", "{}", "[1]"):  # not a scheduler file: said so, not "answered, but not as a scheduler"
        sched.write_text(text)
        with pytest.raises(ClusterError, match="is not a dask scheduler file"):
            parse_cluster(str(sched))
    for bad, needle in (("local:0", "1..1024"), ("lokal", "local:N"), ("nope.json", "dask scheduler --scheduler-file")):
        with pytest.raises(ClusterError, match="--cluster") as e:
            parse_cluster(bad)
        assert needle in str(e.value) and "\n" not in str(e.value)


def test_unreachable_scheduler_is_one_line_naming_the_address():
    with pytest.raises(ClusterError) as e:
        with connect("tcp://127.0.0.1:9", timeout_s=1):
            pass
    msg = str(e.value)
    assert "tcp://127.0.0.1:9" in msg and "dask scheduler" in msg and "\n" not in msg


def test_a_port_that_accepts_but_never_answers_fails_within_the_timeout():
    """A listener that is no dask scheduler: connect used to wait for it for minutes; now the timeout holds."""
    import socket
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    port = server.getsockname()[1]
    t0 = time.perf_counter()
    try:
        with pytest.raises(ClusterError) as e:
            with connect(f"tcp://127.0.0.1:{port}", timeout_s=1):
                pass
    finally:
        server.close()
    assert time.perf_counter() - t0 < 20 and f"tcp://127.0.0.1:{port}" in str(e.value) and "\n" not in str(e.value)


def test_bad_cluster_option_fails_before_writing(tmp_path, run_cli):
    out = tmp_path / "s.zarr"
    r = run_cli("generate", "--seed-window", "2020-01", "--generators", "garch", "--out", out, "--cluster", "local:x")
    assert r.exit_code != 0 and "--cluster 'local:x'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_generate_garch_and_bootstrap_identical_to_one_process(tmp_path, cluster):
    kw = dict(generators=("garch", "bootstrap"), n_paths=240, chunk_paths=40)
    _generate(tmp_path / "one.zarr", **kw)
    seen = []
    _generate(tmp_path / "many.zarr", cluster, lambda name, done, total, bars: seen.append((name, done)), **kw)
    assert tree_digest(tmp_path / "one.zarr") == tree_digest(tmp_path / "many.zarr")
    assert ("garch-gjr-t", 240) in seen and ("bootstrap", 240) in seen  # progress from the futures
    assert [d for n, d in seen if n == "bootstrap"] == sorted(d for n, d in seen if n == "bootstrap")
    # the lazy dask-backed view reads the same numbers
    ds = parallelverse.open_universe(tmp_path / "many.zarr", "garch-gjr-t")
    u = ds["close"].isel(path=slice(0, 50))
    assert u.shape == (60, 50) and ds.sizes["path"] == 240
    from parallelverse.store import read_store

    np.testing.assert_array_equal(u.values, read_store(tmp_path / "one.zarr").universe("garch-gjr-t").close(0, 50))


def test_kronos_tiny_model_identical_to_one_process(tmp_path, cluster, tiny_kronos):
    kw = dict(generators=("kronos",), model=str(tiny_kronos), device="cpu", n_paths=8, chunk_paths=3, horizon_bars=12,
              temperatures=(1.0,), top_k=12)
    _generate(tmp_path / "one.zarr", **kw)
    _generate(tmp_path / "many.zarr", cluster, **kw)
    assert tree_digest(tmp_path / "one.zarr") == tree_digest(tmp_path / "many.zarr")


def test_stress_identical_to_one_process(tmp_path, cluster):
    _generate(tmp_path / "one.zarr", generators=("garch", "bootstrap"), n_paths=300, chunk_paths=50, horizon_bars=252)
    shutil.copytree(tmp_path / "one.zarr", tmp_path / "many.zarr")
    run_stress(StressRequest(str(SMA), str(tmp_path / "one.zarr"), batch_paths=100))
    run_stress(StressRequest(str(SMA), str(tmp_path / "many.zarr"), batch_paths=100), cluster=cluster)
    a, b = (tmp_path / s / "results" / "sma_crossover" for s in ("one.zarr", "many.zarr"))
    assert tree_digest(a) == tree_digest(b)
    res = parallelverse.open_results(tmp_path / "many.zarr", "sma_crossover", "bootstrap")
    assert res.sharpe.dims == ("config", "path") and res.sharpe.shape == (4, 300)
    assert res.bh_sharpe.dims == ("path",)


def test_strategy_code_runs_contained_in_the_workers(tmp_path, cluster):
    _generate(tmp_path / "s.zarr", generators=("bootstrap",), n_paths=60, chunk_paths=30, horizon_bars=30)
    strat = tmp_path / "exits.py"
    strat.write_text("import os\nimport numpy as np\n\n\ndef positions(bars):\n    if bars.close.shape[1] > 10:\n"
                     "        os._exit(3)  # only on a worker's batch: the look-ahead check sees 4 paths\n"
                     "    return np.ones_like(bars.close)\n")
    pids = set(cluster.client.run(os.getpid).values())
    with pytest.raises(StrategyError, match=r"exits\.py:7.*os\._exit") as e:
        run_stress(StressRequest(str(strat), str(tmp_path / "s.zarr"), batch_paths=30), cluster=cluster)
    assert "\n" not in str(e.value)
    assert set(cluster.client.run(os.getpid).values()) == pids  # the sandbox died, not the worker


def test_calibrate_identical_to_one_process(tmp_path, cluster):
    from parallelverse.calibrate import CalibrateRequest, plan_calibrate, run_calibrate

    def run(out, **kw):
        req = CalibrateRequest(symbols=("AAPL",), windows="2019-01:2019-06", every="1M", horizons=(10, 21), n_paths=40,
                               generators=("garch", "bootstrap"), out=str(out), workers=1)
        return run_calibrate(plan_calibrate(req), **kw)

    one, many = run(tmp_path / "one"), run(tmp_path / "many", cluster=cluster)
    assert many.computed == 12 and one.records == many.records
    files = [{p.name: p.read_bytes() for p in sorted((tmp_path / d / "cells").glob("*.json"))} for d in ("one", "many")]
    assert files[0] == files[1] and len(files[0]) == 12


def test_cli_on_a_running_scheduler_by_address_and_by_scheduler_file(tmp_path, cluster, run_cli):
    address = cluster.client.scheduler.address
    (tmp_path / "scheduler.json").write_text(json.dumps({"address": address}))
    common = ["generate", "--seed-window", "2020-01", "--generators", "bootstrap", "--n-paths", 90, "--chunk-paths", 30,
              "--horizon", 30, "--json"]
    one = run_cli(*common, "--out", tmp_path / "one.zarr")
    many = run_cli(*common, "--out", tmp_path / "many.zarr", "--cluster", address)
    assert one.exit_code == 0 and many.exit_code == 0, many.output
    assert tree_digest(tmp_path / "one.zarr") == tree_digest(tmp_path / "many.zarr")
    s1 = run_cli("stress", SMA, "--store", tmp_path / "one.zarr", "--json")
    s2 = run_cli("stress", SMA, "--store", tmp_path / "many.zarr", "--json", "--cluster", tmp_path / "scheduler.json")
    assert s1.exit_code == 0 and s2.exit_code == 0, s2.output
    drop = ("store", "seconds")
    assert {k: v for k, v in json.loads(s1.stdout).items() if k not in drop} == \
        {k: v for k, v in json.loads(s2.stdout).items() if k not in drop}
    assert cluster.client.status == "running"  # the CLI closed its own client, not the cluster


def test_a_worker_killed_mid_run_costs_only_its_tasks(tmp_path, cluster):
    kw = dict(generators=("garch",), n_paths=600, chunk_paths=20)
    _generate(tmp_path / "one.zarr", **kw)
    before = set(cluster.client.run(os.getpid).values())
    killed = []

    def kill_one_worker(name, done, total, bars):
        if done >= 40 and not killed:  # two chunks in: the other 28 are queued or running on both workers
            pid = sorted(before)[0]
            os.kill(pid, signal.SIGKILL)
            killed.append((pid, done))

    _generate(tmp_path / "many.zarr", cluster, kill_one_worker, **kw)
    assert killed and killed[0][1] < 600, "the worker was not killed mid-run"
    assert tree_digest(tmp_path / "one.zarr") == tree_digest(tmp_path / "many.zarr")
    cluster.client.wait_for_workers(2, timeout=60)  # the nanny restarted it
    assert killed[0][0] not in set(cluster.client.run(os.getpid).values())
