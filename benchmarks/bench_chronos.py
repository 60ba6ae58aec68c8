"""Chronos: our generator vs calling ChronosPipeline.predict directly, same settings, same work.

The model is a random-initialised T5 with the shape of amazon/chronos-t5-tiny
(d_model 256, 4+4 layers, 8M parameters; the Hub is unreachable here, and random
weights cost the same compute). Equal work: N paths of one 64-step segment from
the same context, temperature 1, top_k 50, top_p 1.

- peer: `pipeline.predict(context, prediction_length=64, num_samples=N)`;
- ours: `make_generator("chronos", ...).fit(context).sample(64, seed, 0, N)` with
  batch_size N — the same predict call plus seeding and full-bar synthesis.

Past 64 steps the work differs (ours re-encodes each path's own history, upstream
one median), so that case is timed for information, not as a ratio of equal work.

    python benchmarks/bench_chronos.py [--n-paths 256] [--repeat 3] [--model DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-paths", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", help="a Chronos-T5 directory (default: a random chronos-t5-tiny-shaped model)")
    args = ap.parse_args()

    import torch
    from chronos import ChronosPipeline

    from _timing import best_of

    from parallelverse.generators import make_generator
    from parallelverse.generators.chronos import save_random_chronos
    from parallelverse.market import load_market
    from parallelverse.window import parse_seed_window, split_at_window

    tmp = tempfile.TemporaryDirectory()
    model = args.model or str(save_random_chronos(Path(tmp.name) / "chronos-t5-tiny-shape", shape="tiny"))
    split = split_at_window(load_market().select("AAPL"), parse_seed_window("2020-01"), 400, 64)
    n = args.n_paths

    pipe = ChronosPipeline.from_pretrained(model, device_map="cpu", dtype=torch.float32)
    ctx = torch.tensor(split.context.close, dtype=torch.float32)
    fitted = make_generator("chronos", {"model": model, "batch_size": n}).fit(split.context)

    def peer():
        torch.manual_seed(0)
        return pipe.predict(ctx, prediction_length=64, num_samples=n, temperature=1.0, top_k=50, top_p=1.0)

    def ours():
        return fitted.sample(64, 0, 0, n)

    peer(), ours()  # warm up
    t_peer, t_ours = best_of(peer, args.repeat), best_of(ours, args.repeat)
    print(f"{n} paths x 64 steps, {Path(model).name}, {torch.get_num_threads()} torch threads, best of {args.repeat}")
    print(f"bare ChronosPipeline.predict  {t_peer:7.2f} s  {n / t_peer:8.1f} paths/s")
    print(f"parallelverse chronos         {t_ours:7.2f} s  {n / t_ours:8.1f} paths/s  "
          f"overhead {100 * (t_ours / t_peer - 1):+.1f}%")
    t_long = best_of(lambda: fitted.sample(128, 0, 0, n), 1)
    print(f"(info) 128 steps, own-history chaining: {t_long:.2f} s; upstream median chaining is not comparable work")
    assert np.isfinite(ours().close).all()


if __name__ == "__main__":
    main()
