"""The whole `parallelverse stress` command: wall time on a 10,000-path store, peak memory on 100,000 paths.

Runs the real CLI in subprocesses, as a user would: `generate` once to make the
store, then `stress strategies/sma_crossover.py` twice (the first run fills the
numba cache, the second is "warm"), reporting wall time and the child's peak RSS.
Streaming keeps memory flat: peak RSS should barely move between 10k and 100k paths.

    python benchmarks/bench_stress_cli.py [--n-paths 10000] [--generators garch,bootstrap] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def peak_rss(cmd: list[str]) -> tuple[float, float]:
    code = ("import resource, subprocess, sys, time; t = time.perf_counter();"
            f"p = subprocess.run({cmd!r}, capture_output=True, text=True);"
            "w = time.perf_counter() - t;"
            "sys.exit(p.stderr) if p.returncode else None;"
            "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(out.stderr)
    wall, rss = out.stdout.split()
    return float(wall), float(rss)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-paths", type=int, default=10_000)
    ap.add_argument("--generators", default="garch,bootstrap")
    ap.add_argument("--keep", help="keep the store in this directory")
    args = ap.parse_args()

    d = Path(args.keep or tempfile.mkdtemp(prefix="pv-stress-"))
    d.mkdir(parents=True, exist_ok=True)
    store = d / f"bench-{args.n_paths}.zarr"
    cli = [sys.executable, "-m", "parallelverse"]
    try:
        t_gen, rss_gen = peak_rss(cli + ["generate", "--seed-window", "2020-01", "--n-paths", str(args.n_paths),
                                         "--generators", args.generators, "--out", str(store), "--overwrite", "--json"])
        stress = cli + ["stress", str(ROOT / "strategies" / "sma_crossover.py"), "--store", str(store), "--json"]
        t_cold, rss_cold = peak_rss(stress)
        t_warm, rss_warm = peak_rss(stress)
        n_total = args.n_paths * len(args.generators.split(","))
        print(f"store: {args.n_paths:,} paths x 252 bars per generator ({args.generators}), {n_total:,} paths in all; "
              f"{os.cpu_count()} CPUs")
        print(f"generate          {t_gen:7.2f} s   peak RSS {rss_gen:7.0f} MB")
        print(f"stress (1st run)  {t_cold:7.2f} s   peak RSS {rss_cold:7.0f} MB   (numba cache filled if empty)")
        print(f"stress (warm)     {t_warm:7.2f} s   peak RSS {rss_warm:7.0f} MB   "
              f"{n_total * 4 / t_warm:,.0f} path-configurations/s (4 configurations)")
    finally:
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
