"""Held-out calibration figures of issue 14 from a `parallelverse calibrate` output directory.

    parallelverse calibrate --windows 2020-01:2022-07 --every 3M --horizon 252 --n-paths 500 \
        --generators garch,bootstrap --out calibration-heldout
    python benchmarks/heldout_pit_summary.py calibration-heldout

Per universe: cells, the share of final-price PITs in the outer 10% (< 0.05 or > 0.95), the mean 90%
band coverage of the realized path (path_cov90) and the share of final prices inside the 90% band,
the mean CRPS of the final log price, the mean drift bias, and the estimation-uncertainty setting the cells were generated with.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def _uncertainty(params: dict) -> str:
    """The estimation-uncertainty setting of a cell's generator (Kronos: its drift prior and regimes, -1 = the
    checkpoint's declared values)."""
    if "uncertainty" in params:
        return str(params["uncertainty"])
    if "drift_prior_sd" in params:
        show = lambda v: "checkpoint's" if v == -1 else f"{v:g}"  # noqa: E731
        return f"drift prior {show(params['drift_prior_sd'])}, regimes {show(params.get('vol_regime_sd', -1))}"
    return "none (before issue 14)"


def main(out: str, horizon: str = "252"):
    rows: dict[str, list[dict]] = {}
    seen = set()
    for f in sorted((Path(out) / "cells").glob("*.json")):
        d = json.loads(f.read_text())
        if "horizons" not in d or horizon not in d["horizons"] or d["horizons"][horizon].get("in_sample"):
            continue
        if (d["universe"], d["symbol"], d["window"], d.get("n_paths"), d.get("seed")) in seen:  # a cell rerun under a new key
            continue
        seen.add((d["universe"], d["symbol"], d["window"], d.get("n_paths"), d.get("seed")))
        rows.setdefault(d["universe"], []).append({**d["horizons"][horizon], "params": d.get("params", {})})
    for u, cells in rows.items():
        pit = np.array([c["pit_final"] for c in cells])
        outer = np.mean((pit < 0.05) | (pit > 0.95))
        unc = sorted({_uncertainty(c["params"]) for c in cells})
        print(f"{u:22s} cells {len(cells):3d}  outer-10% PIT share {outer:.3f}  mean 90% path coverage "
              f"{np.mean([c['path_cov90'] for c in cells]):.3f}  final in 90% band {np.mean([c['final_hit90'] for c in cells]):.3f}  "
              f"mean CRPS {np.mean([c['crps_final'] for c in cells]):.4f}  "
              f"mean drift bias {np.mean([c['drift_bias'] for c in cells]):+.3f}/yr  uncertainty {', '.join(unc)}")


if __name__ == "__main__":
    main(*sys.argv[1:])

