"""Kronos sampling: ours vs the official auto_regressive_inference, same random weights, same work per bar.

Shapes of Kronos-small (predictor d_model 512, 8 layers, 8 heads, ff 1024, 10+10 bits;
tokenizer d_model 256, 4 heads, ff 512, 4+4 layers), context 400 bars, horizon 20.
The official code (kronos-model-arch 0.1.0, installed with --no-deps) repeats the
context per sample and recomputes the whole window every step; we prefill the shared
context once and decode with a KV cache. Both sides are timed in the same run; the
official side with fewer paths (its cost is linear in paths), compared in bars/s.

    python benchmarks/bench_kronos.py [--paths 256] [--official-paths 4] [--horizon 20] [--device cpu]

`--headline` instead times `parallelverse generate --seed-window 2020-01 --generators kronos,garch,bootstrap`
(2,000 paths x 252 bars each, the shipped Kronos model), end to end in a fresh
directory: wall time, CPU time (user + sys of the command) and each universe's own seconds. The bar
(issue 13): at most 60 s wall on 2 free cores. On a shared machine wall time is inflated by other load,
so CPU seconds / 2 is printed beside it as the 2-free-core estimate.

    python benchmarks/bench_kronos.py --headline

`--lanes` times the shipped model on CPU (AAPL after 2020-01, 500 paths x 252 bars, the generator's own
batches): batches side by side on one torch thread each (what `generate` does) against one batch at a
time with torch's intra-op threads (the peer), same paths, and prints the ratio.

    python benchmarks/bench_kronos.py --lanes
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SMALL = dict(s1_bits=10, s2_bits=10, n_layers=8, d_model=512, n_heads=8, ff_dim=1024, ffn_dropout_p=0.25,
             attn_dropout_p=0.1, resid_dropout_p=0.25, token_dropout_p=0.1, learn_te=True)
MINI = dict(SMALL, n_layers=4, d_model=256, n_heads=4, ff_dim=512)
BASE = dict(SMALL, n_layers=12, d_model=832, n_heads=16, ff_dim=2048)
TOKENIZER = dict(d_in=6, d_model=256, n_heads=4, ff_dim=512, n_enc_layers=4, n_dec_layers=4, ffn_dropout_p=0.0,
                 attn_dropout_p=0.0, resid_dropout_p=0.0, s1_bits=10, s2_bits=10, beta=0.05, gamma0=1.0, gamma=1.1,
                 zeta=0.05, group_size=4)
SHAPES = {"small": SMALL, "mini": MINI, "base": BASE}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=256)
    ap.add_argument("--official-paths", type=int, default=4)
    ap.add_argument("--horizon", type=int, default=20)
    ap.add_argument("--context", type=int, default=400)
    ap.add_argument("--shape", choices=list(SHAPES), default="small")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--skip-official", action="store_true")
    ap.add_argument("--headline", action="store_true", help="time `parallelverse generate --seed-window 2020-01`")
    ap.add_argument("--lanes", action="store_true", help="side-by-side CPU batches vs torch's intra-op threads")
    args = ap.parse_args()
    if args.headline:
        return headline()
    if args.lanes:
        return lanes(500 if args.paths == 256 else args.paths)

    import torch
    import model as official  # kronos-model-arch

    from parallelverse.generators import make_generator
    from parallelverse.market import load_market
    from parallelverse.window import parse_seed_window, split_at_window

    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp(prefix="pv-kronos-"))
    otok, opred = official.KronosTokenizer(**TOKENIZER).eval(), official.Kronos(**SHAPES[args.shape]).eval()
    otok.save_pretrained(tmp / "tokenizer")
    opred.save_pretrained(tmp / "predictor")
    split = split_at_window(load_market().select("AAPL"), parse_seed_window("2020-01"), args.context, args.horizon)
    dev = args.device
    print(f"Kronos-{args.shape} shape, context {args.context}, horizon {args.horizon}, device {dev}, "
          f"{torch.get_num_threads()} torch threads")

    gen = make_generator("kronos", {"model": str(tmp), "device": dev, "batch_size": args.batch_size, "top_p": 0.95})
    fitted = gen.fit(split.context)
    fitted.sample(args.horizon, 0, 0, min(8, args.paths))  # warm-up
    if dev == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    batch = fitted.sample(args.horizon, 1, 0, args.paths)
    if dev == "cuda":
        torch.cuda.synchronize()
    t_ours = time.perf_counter() - t0
    ours_bars = args.paths * args.horizon / t_ours
    assert np.isfinite(batch.close).all()
    print(f"ours      {args.paths:6d} paths  {t_ours:8.2f} s  {args.paths / t_ours:9.1f} paths/s  {ours_bars:9.1f} bars/s")

    if not args.skip_official:
        x = torch.randn(1, args.context, 6).clamp(-5, 5).to(dev)
        st = torch.randint(0, 7, (1, args.context + args.horizon, 5)).float().to(dev)
        otok.to(dev), opred.to(dev)
        t0 = time.perf_counter()
        official.kronos.auto_regressive_inference(otok, opred, x, st[:, : args.context], st[:, args.context:], 512,
                                                  args.horizon, T=1.0, top_k=0, top_p=0.95,
                                                  sample_count=args.official_paths)
        t_off = time.perf_counter() - t0
        off_bars = args.official_paths * args.horizon / t_off
        print(f"official  {args.official_paths:6d} paths  {t_off:8.2f} s  {args.official_paths / t_off:9.1f} paths/s  "
              f"{off_bars:9.1f} bars/s")
        print(f"ratio (bars/s): {ours_bars / off_bars:.0f}x")


def lanes(n_paths: int):
    import torch

    from parallelverse.generators import make_generator
    from parallelverse.market import load_market
    from parallelverse.window import parse_seed_window, split_at_window

    split = split_at_window(load_market().select("AAPL"), parse_seed_window("2020-01"), 400, 252)
    fitted = make_generator("kronos", {}).fit(split.context)
    fitted.sample(16, 0, 0, 8)  # warm-up
    threads = torch.get_num_threads()
    times, closes = {}, {}
    for name, k in (("intra-op threads, one batch at a time", 1), (f"{threads} lanes, one thread each", threads)):
        t0 = time.perf_counter()
        closes[name] = fitted._sample(252, 0, 0, n_paths, lanes=k).close
        times[name] = time.perf_counter() - t0
        print(f"{name:40s} {n_paths} paths x 252 bars  {times[name]:7.2f} s  {1e3 * times[name] / n_paths:6.1f} ms/path")
    a, b = closes.values()
    print(f"ratio ours/peer: {list(times.values())[1] / list(times.values())[0]:.2f}; same paths: "
          f"max relative difference {np.max(np.abs(b / a - 1)):.1e}")


def headline():
    import json
    import resource
    import subprocess
    import sys

    d = Path(tempfile.mkdtemp(prefix="pv-headline-"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "parallelverse", "generate", "--seed-window", "2020-01", "--generators",
                          "kronos,garch,bootstrap", "--json"], cwd=d,
                         capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = json.loads(out.stdout)
    for u in summary.get("universes", []):
        print(f"{u.get('name', '?'):28s} {u.get('n_paths', '')} paths  {u.get('seconds', float('nan')):7.1f} s")
    print(f"parallelverse generate --seed-window 2020-01: wall {wall:.1f} s, CPU {cpu:.1f} s "
          f"(2-free-core estimate {cpu / 2:.1f} s; bar 60 s)")


if __name__ == "__main__":
    main()
