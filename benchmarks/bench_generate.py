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
A third row times the GARCH simulation alone under estimation uncertainty (one drawn
parameter set per block of PARAM_BLOCK paths, the same shocks): `garch_kernel` for all
blocks in one call against arch's forecaster called once per block, as generation did before.

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
        kernel_vs_arch(plan_generate(req).split.context, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def kernel_vs_arch(context, args) -> None:
    from parallelverse.generators import make_generator
    from parallelverse.generators.garch import PARAM_BLOCK
    from parallelverse.generators.garch_kernel import gjr_paths_nb

    fitted = make_generator("garch").fit(context)
    n_blocks = args.n_paths // PARAM_BLOCK
    params = [fitted.block_params(0, k) for k in range(n_blocks)]
    rows = np.repeat(np.array([fitted._kernel_row(p) for p in params]), PARAM_BLOCK, axis=0)
    shocks = np.random.default_rng(0).standard_normal((n_blocks * PARAM_BLOCK, args.horizon))
    out = np.empty((args.horizon, len(rows)))

    def ours():
        gjr_paths_nb(fitted.returns, rows, shocks, out)

    def peer():
        for k, p in enumerate(params):
            fitted._arch_paths(p, shocks[k * PARAM_BLOCK:(k + 1) * PARAM_BLOCK])

    ours()
    t_ours, t_peer = best_of(ours, args.repeat), best_of(peer, args.repeat)
    print(f"{'garch sim':<12} {t_ours:8.3f} {len(rows) / t_ours:10,.0f} {t_peer:8.2f} {t_ours / t_peer:7.3f}  "
          f"arch forecast per block of {PARAM_BLOCK} drawn parameter sets, returns only")


if __name__ == "__main__":
    main()
