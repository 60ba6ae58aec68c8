"""Generation speed: 10,000 paths x 252 bars per generator, store write included.

Ours: `plan_generate` + `run_generate` into a fresh Zarr store (fit, per-path
streams, bar synthesis, invariant check, compressed chunked write).
Peers, same run, same machine:
  GARCH     - arch's own `forecast(method="simulation")` of the same fitted model:
              close returns only, no bars, nothing written.
  bootstrap - arch's `StationaryBootstrap` drawing the same number of index sets
              over the context (indices only, no bars, nothing written).
The ratio is ours / peer in wall time: what full bars plus a durable store cost
over the bare simulation.

    python benchmarks/bench_generate.py [--n-paths 10000] [--horizon 252] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from _timing import best_of


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-paths", type=int, default=10_000)
    ap.add_argument("--horizon", type=int, default=252)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from arch.bootstrap import StationaryBootstrap

    from parallelverse.generate import GenerateRequest, plan_generate, run_generate
    from parallelverse.generators import make_generator

    tmp = Path(tempfile.mkdtemp(prefix="pv-bench-"))
    print(f"{args.n_paths:,} paths x {args.horizon} bars, AAPL, seed window 2020-01, best of {args.repeat}; "
          f"{os.cpu_count()} CPUs")
    print(f"{'generator':<12} {'ours s':>8} {'paths/s':>10} {'peer s':>8} {'ratio':>7}  peer")
    try:
        for name in ("garch", "bootstrap"):
            req = GenerateRequest(seed_window="2020-01", n_paths=args.n_paths, horizon_bars=args.horizon,
                                  generators=(name,), out=str(tmp / f"{name}.zarr"), overwrite=True)

            def ours():
                run_generate(plan_generate(req))

            ours()  # warm caches and imports once
            t_ours = best_of(ours, args.repeat)

            split = plan_generate(req).split
            fitted = make_generator(name).fit(split.context)
            if name == "garch":
                def peer():
                    fitted.result.forecast(horizon=args.horizon, method="simulation",
                                           simulations=args.n_paths, reindex=False)
                label = "arch forecast(method='simulation'), returns only"
            else:
                bs = StationaryBootstrap(fitted.block, np.arange(split.context_end - 1), seed=0)

                def peer():
                    for _ in range(args.n_paths):
                        bs.update_indices()
                label = "arch StationaryBootstrap indices only"
            t_peer = best_of(peer, args.repeat)
            print(f"{name:<12} {t_ours:8.2f} {args.n_paths / t_ours:10,.0f} {t_peer:8.2f} {t_ours / t_peer:7.2f}  {label}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
