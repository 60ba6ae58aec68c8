"""--cluster local:N against one process: GARCH generation speed, and stress memory per worker at a million paths.

Part 1, generate: GARCH, N paths x 252 bars into a fresh store, `run_generate` in one
process (today's default) and on a LocalCluster of `--workers` processes (1 thread each),
same seed; the ratio is one process / cluster in wall time (above 1: the cluster is
faster). The cluster's start-up is timed apart (a real cluster is started once, not per
run). The stores are compared file by file (they must be identical), and the client's
share of the cluster run spent writing chunks (compress + write, the part that does not
scale out) is printed.

Part 2, stress: a store of M GARCH paths (generated on the cluster), then
`strategies/sma_crossover.py` (4 configurations) over all of it on the cluster; the
workers are restarted before the stress so each worker's peak RSS (getrusage maxrss)
is that of the stress alone. `--stress-single` also times one process on the same store.

The CPU load average is printed before each measurement: on a shared machine, wall-time
ratios move with it.

    python benchmarks/bench_distributed.py [--gen-paths 100000] [--stress-paths 1000000] [--workers 2]
        [--stress-single] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load average {a:.1f} / {b:.1f} / {c:.1f} on {os.cpu_count()} CPUs"


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: since its exec, unlike ru_maxrss, which a spawned
    worker inherits from the process that forked it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: an upper bound


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gen-paths", type=int, default=100_000)
    ap.add_argument("--stress-paths", type=int, default=1_000_000)
    ap.add_argument("--horizon", type=int, default=252)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--stress-single", action="store_true", help="also time stress in one process")
    ap.add_argument("--strategy", default=str(ROOT / "strategies" / "sma_crossover.py"))
    ap.add_argument("--skip-generate", action="store_true", help="only part 2 (with --keep: reuse its store)")
    ap.add_argument("--keep", help="directory for the stores (default: a temporary one, removed at the end)")
    args = ap.parse_args()

    from parallelverse import store
    from parallelverse.distributed import connect

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pv-bench-dist-"))
    tmp.mkdir(parents=True, exist_ok=True)
    writing = [0.0]
    write_chunk = store.UniverseWriter.write_chunk

    def timed_write(self, *a, **kw):  # the client's share: compress + write of each returned chunk
        t0 = time.perf_counter()
        write_chunk(self, *a, **kw)
        writing[0] += time.perf_counter() - t0

    store.UniverseWriter.write_chunk = timed_write
    try:
        if not args.skip_generate:
            t_one = generate_one_process(args, tmp)
        t0 = time.perf_counter()
        with connect(f"local:{args.workers}") as cluster:
            t_start = time.perf_counter() - t0
            print(f"    cluster start: {t_start:.1f} s; {load()}")
            if not args.skip_generate:
                generate_on_cluster(args, tmp, cluster, t_one, t_start, writing)
            t_stress, big = stress_on_cluster(args, tmp, cluster)
        if args.stress_single:
            print(f"    {load()}")
            t0 = time.perf_counter()
            from parallelverse.stress import StressRequest, run_stress

            run_stress(StressRequest(args.strategy, str(big)))
            t_single = time.perf_counter() - t0
            print(f"    one process: {t_single:.1f} s; ratio one process / local:{args.workers} = {t_single / t_stress:.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def request(args, out: Path, n: int):
    from parallelverse.generate import GenerateRequest

    return GenerateRequest(seed_window="2020-01", generators=("garch",), n_paths=n, horizon_bars=args.horizon,
                           out=str(out), overwrite=True)


def generate_one_process(args, tmp: Path) -> float:
    from parallelverse.generate import plan_generate, run_generate

    print(f"[1] GARCH {args.gen_paths:,} paths x {args.horizon} bars, one process vs local:{args.workers}")
    run_generate(plan_generate(request(args, tmp / "warm.zarr", 1000)))  # imports and numba caches, as a second run has
    print(f"    {load()}")
    t0 = time.perf_counter()
    run_generate(plan_generate(request(args, tmp / "one.zarr", args.gen_paths)))
    t_one = time.perf_counter() - t0
    print(f"    one process: {t_one:.1f} s ({args.gen_paths / t_one:,.0f} paths/s)")
    return t_one


def generate_on_cluster(args, tmp: Path, cluster, t_one: float, t_start: float, writing: list) -> None:
    from conftest import tree_digest

    from parallelverse.generate import plan_generate, run_generate

    run_generate(plan_generate(request(args, tmp / "warm.zarr", 1000)), cluster=cluster)  # workers' imports and caches
    writing[0] = 0.0
    t0 = time.perf_counter()
    run_generate(plan_generate(request(args, tmp / "many.zarr", args.gen_paths)), cluster=cluster)
    t_many = time.perf_counter() - t0
    print(f"    local:{args.workers}: {t_many:.1f} s ({args.gen_paths / t_many:,.0f} paths/s); client writing "
          f"chunks {writing[0]:.1f} s ({100 * writing[0] / t_many:.0f}% of the run)")
    print(f"    ratio one process / local:{args.workers} = {t_one / t_many:.2f}"
          f" (with start-up: {t_one / (t_many + t_start):.2f})")
    print(f"    stores identical: {tree_digest(tmp / 'one.zarr') == tree_digest(tmp / 'many.zarr')}")
    shutil.rmtree(tmp / "one.zarr")
    shutil.rmtree(tmp / "many.zarr")


def stress_on_cluster(args, tmp: Path, cluster) -> tuple[float, Path]:
    from parallelverse import store
    from parallelverse.generate import plan_generate, run_generate
    from parallelverse.stress import StressRequest, run_stress

    big = tmp / "big.zarr"
    print(f"[2] stress {Path(args.strategy).stem} over {args.stress_paths:,} paths x {args.horizon} bars "
          f"on local:{args.workers}")
    if not (big.exists() and store.read_store(big).universe_names()):
        t0 = time.perf_counter()
        run_generate(plan_generate(request(args, big, args.stress_paths)), cluster=cluster)
        print(f"    generated the store on the cluster: {time.perf_counter() - t0:.1f} s, "
              f"{store.store_size_bytes(big) / 1e9:.1f} GB on disk")
    cluster.client.restart()  # fresh worker processes: their peak RSS is the stress's alone
    rss0 = cluster.client.run(peak_rss_mb)
    print(f"    {load()}; workers' peak RSS after restart: " + ", ".join(f"{v:.0f} MB" for v in rss0.values()))
    client_before = peak_rss_mb()
    t0 = time.perf_counter()
    run_stress(StressRequest(args.strategy, str(big)), cluster=cluster)
    t_stress = time.perf_counter() - t0
    rss = cluster.client.run(peak_rss_mb)
    print(f"    local:{args.workers}: {t_stress:.1f} s ({args.stress_paths / t_stress:,.0f} paths/s); {load()}")
    print("    peak RSS per worker: " + ", ".join(f"{v:,.0f} MB" for v in rss.values())
          + f" (limit 2,048 MB: {'under' if max(rss.values()) < 2048 else 'OVER'})")
    print(f"    client peak RSS: {peak_rss_mb():,.0f} MB (before the stress: {client_before:,.0f} MB; it holds "
          "the per-path metrics of every configuration)")
    return t_stress, big


if __name__ == "__main__":
    main()
