"""Held-out calibration of Kronos against GARCH-GJR-t and the bootstrap (issue 13's bar).

Cells: the six bundled symbols x seed windows 2020-01 .. 2022-07 every 3 months (all after the
shipped checkpoint's training span, which ends 2019-12-31); each generator samples --paths paths
of 252 bars from --context real bars; horizons 63 and 252 are scored on the same paths'
prefixes with `parallelverse.calibrate.scores` (the calibrate command's own scoring).

Printed per generator (means over cells unless noted):
  cov90      pointwise 90% band coverage of the realized closes
  outer10    share of final-price PITs outside [0.05, 0.95]
  crps       CRPS of the final log price
  gap_ratio  median over cells of median|first synthetic gap| / median|context gaps|
  vol_seg    median annualised close-to-close vol of the paths per segment of the path
             (bars 1-8, 9-32, 33-63, 64-126, 127-252) over the context's vol: must not fade or explode
Every cell's record goes to --out (JSON) so a rerun with --only skips nothing but is cheap to
extend; the bar: cov90 in [0.80, 0.97], outer10 <= 0.15, crps <= GARCH's, gap_ratio <= 2.

    python benchmarks/eval_kronos_heldout.py [--model DIR] [--paths 500] [--generators kronos,garch,bootstrap]
        [--set kronos.renorm_every=8] [--out /tmp/heldout.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

WINDOWS = [f"{y}-{m:02d}" for y in (2020, 2021, 2022) for m in (1, 4, 7, 10)][:-1]  # 2020-01 .. 2022-07
SEGMENTS = ((0, 8), (8, 32), (32, 63), (63, 126), (126, 252))


def parse_sets(items):
    out = {}
    for it in items or ():
        key, val = it.split("=", 1)
        gen, name = key.split(".", 1)
        try:
            v = json.loads(val)
        except ValueError:
            v = val
        out.setdefault(gen, {})[name] = v
    return out


def cell_record(fitted, split, n_paths: int, seed: int) -> dict:
    from parallelverse.calibrate.scores import score_horizon
    from parallelverse.trading_calendar import bars_per_year

    ctx, real = split.context, split.realized
    t0 = time.perf_counter()
    b = fitted.sample(252, seed, 0, n_paths)
    secs = time.perf_counter() - t0
    rec = {"seconds": secs, "horizons": {}}
    for h in (63, 252):
        if len(real) >= h:
            rec["horizons"][str(h)] = score_horizon(ctx.close, b.close[:h], real.close[:h], bars_per_year(ctx.time))
    ctx_gap = np.abs(np.log(ctx.open[1:] / ctx.close[:-1]))
    rec["gap_ratio"] = float(np.median(np.abs(np.log(b.open[0] / ctx.close[-1]))) / np.median(ctx_gap))
    r = np.diff(np.log(np.vstack([np.full((1, b.close.shape[1]), ctx.close[-1]), b.close])), axis=0)
    ctx_vol = float(np.std(np.diff(np.log(ctx.close[-120:]))))
    rec["vol_seg"] = [float(np.median(np.sqrt(np.mean(r[a:z] ** 2, axis=0))) / ctx_vol) for a, z in SEGMENTS]
    rec["median_drift"] = float(np.median(np.log(b.close[-1] / ctx.close[-1])))
    return rec


def summarise(cells: dict) -> dict:
    out = {}
    for gen, recs in cells.items():
        s = {}
        for h in ("63", "252"):
            hs = [r["horizons"][h] for r in recs.values() if h in r["horizons"]]
            pits = np.array([x["pit_final"] for x in hs])
            s[h] = {"cells": len(hs), "cov90": float(np.mean([x["path_cov90"] for x in hs])),
                    "outer10": float(np.mean((pits < 0.05) | (pits > 0.95))),
                    "crps": float(np.mean([x["crps_final"] for x in hs])),
                    "drift_bias": float(np.median([x["drift_bias"] for x in hs])),
                    "vol_ratio": float(np.median([x["vol_ratio"] for x in hs if x["vol_ratio"] is not None]))}
        s["gap_ratio"] = float(np.median([r["gap_ratio"] for r in recs.values()]))
        s["vol_seg"] = np.median([r["vol_seg"] for r in recs.values()], axis=0).round(3).tolist()
        s["seconds_per_cell"] = float(np.mean([r["seconds"] for r in recs.values()]))
        out[gen] = s
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="")
    ap.add_argument("--paths", type=int, default=500)
    ap.add_argument("--context", type=int, default=400)
    ap.add_argument("--generators", default="kronos,garch,bootstrap")
    ap.add_argument("--symbols", default="AAPL,AMZN,GOOG,META,NFLX,NVDA")
    ap.add_argument("--windows", default=",".join(WINDOWS))
    ap.add_argument("--set", action="append", dest="sets")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="")
    ap.add_argument("--merge", nargs="*", default=None, help="only summarise these --out files (shards) together")
    args = ap.parse_args()
    if args.merge is not None:
        cells: dict = {}
        for f in args.merge:
            with open(f) as fh:
                for gen, recs in json.load(fh)["cells"].items():
                    cells.setdefault(gen, {}).update(recs)
        print(json.dumps(summarise(cells), indent=1))
        return

    import torch

    from parallelverse.generate import fit_generator
    from parallelverse.generators import make_generator
    from parallelverse.market import load_market
    from parallelverse.window import parse_seed_window, split_at_window

    torch.set_num_threads(args.threads)
    sets = parse_sets(args.sets)
    if args.model:
        sets.setdefault("kronos", {})["model"] = args.model
    m = load_market()
    cells: dict = {}
    for gen_name in args.generators.split(","):
        spec = make_generator(gen_name, sets.get(gen_name, {}))
        cells[spec.name] = {}
        for sym in args.symbols.split(","):
            for w in args.windows.split(","):
                split = split_at_window(m.select(sym), parse_seed_window(w), args.context, 252)
                rec = cell_record(fit_generator(spec, split), split, args.paths, args.seed)
                cells[spec.name][f"{sym}@{w}"] = rec
                h = rec["horizons"].get("252") or rec["horizons"]["63"]
                print(f"{spec.name:28s} {sym:5s} {w} cov90 {h['path_cov90']:.2f} pit {h['pit_final']:.2f} "
                      f"gap {rec['gap_ratio']:.2f} vol {np.round(rec['vol_seg'], 2)} {rec['seconds']:.1f}s", flush=True)
                if args.out:  # after every cell, so an interrupted run keeps what it scored
                    with open(args.out, "w") as fh:
                        json.dump({"args": vars(args), "cells": cells}, fh, indent=1)
    summary = summarise(cells)
    print(json.dumps(summary, indent=1))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"args": vars(args), "summary": summary, "cells": cells}, fh, indent=1)


if __name__ == "__main__":
    main()
