"""Where Kronos's volatility clustering goes: tokenizer round trip, one-step response, and along its own paths.

`report` flags the shipped model's universes for too little |r| autocorrelation (and for skew and leverage).
Three measurements on pre-2020 bars of the bundled six stocks locate the cause:

1. Round trip: 120-bar real windows encoded and decoded by the tokenizer — correlation of |r| before and
   after, and the lag-1 autocorrelation of |r| in both.
2. One step: for windows every 40 bars, the spread of 200 sampled next-bar close moves against the trailing
   10-bar RMS return (log-log slope), beside the same slope for the realized next |r|.
3. Along paths: 300 paths of 252 bars after three seed windows; the within-path slope of log|r| on the
   log trailing 10-bar RMS, beside the same slope in the context.

    python benchmarks/kronos_clustering.py [--model DIR]

Measured with the shipped model (issue 13 note, 2026-11-30, 1.5 min): round trip corr(|r|) 0.966, acf 0.071 -> 0.067
(240 windows);
one-step slope 0.24 (real 0.27, 222 windows); along paths 0.21-0.24 against 0.39-0.60 in the contexts —
about half the real clustering, and the shortfall is the predictor's.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from parallelverse.generators import make_generator
from parallelverse.generators.kronos import representation as rep
from parallelverse.generators.kronos.sampler import _decode_window
from parallelverse.market import load_market
from parallelverse.window import parse_seed_window, split_at_window

CUT = np.datetime64("2020-01-01").astype("datetime64[ns]").astype(np.int64)
SYMBOLS = ("AAPL", "AMZN", "GOOG", "META", "NFLX", "NVDA")


def acf1(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(0)
    return (x[1:] * x[:-1]).sum(0) / (x * x).sum(0)


def slope(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(0), y - y.mean(0)
    return float((x * y).sum() / (x * x).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="Kronos checkpoint (default: the shipped model)")
    a = ap.parse_args()
    gen = make_generator("kronos", {"model": a.model} if a.model else {})
    tok, _, max_ctx, _ = gen.prepare()
    m = load_market()

    rows = []
    for sym in SYMBOLS:
        c = m.select(sym)
        for start in range(200, len(c.close) - 130, 60):
            sl = slice(start, start + 120)
            x = rep.raw_features("logret", c.open[sl], c.high[sl], c.low[sl], c.close[sl], c.volume[sl],
                                 float(c.close[start - 1]))
            xn = rep.normalise(x, rep.fit_scale("logret", x))
            with torch.no_grad():
                s1, s2 = tok.encode(torch.from_numpy(xn)[None])
                z = _decode_window(tok, s1[0, :0], s1[0, :0], s1, s2, max_ctx)[0].numpy()
            rows.append((np.corrcoef(np.abs(xn[:, 1]), np.abs(z[:, 1]))[0, 1], acf1(np.abs(xn[:, 1])), acf1(np.abs(z[:, 1]))))
    r = np.array(rows).mean(0)
    print(f"1. round trip, {len(rows)} windows: corr(|r|) {r[0]:.3f}; acf1(|r|) real {r[1]:.3f}, decoded {r[2]:.3f}")

    xs, ys, real = [], [], []
    for sym in SYMBOLS:
        c = m.select(sym)
        last = int(np.searchsorted(c.time, CUT)) - 2
        for end in range(300, last, 40):
            ctx = c.slice(0, end)
            b = gen.fit(ctx).sample(3, end, 0, 200)
            lr = np.diff(np.log(ctx.close[-121:]))
            rms = np.sqrt(np.mean(lr ** 2))
            xs.append(np.log(np.sqrt(np.mean(lr[-10:] ** 2)) / rms))
            ys.append(np.log(np.log(b.close[0] / ctx.close[-1]).std() / rms))
            real.append(np.log(abs(np.log(c.close[end] / c.close[end - 1])) / rms + 1e-12))
    xs, ys, real = map(np.array, (xs, ys, real))
    ok = real > -20
    print(f"2. one step, {len(xs)} windows: slope of log(sampled sd) on log(trailing-10 RMS) {slope(xs, ys):.3f}; "
          f"realized next |r| {slope(xs[ok], real[ok]):.3f}")

    for sym, win in (("AAPL", "2020-01"), ("NVDA", "2019-01"), ("AMZN", "2018-06")):
        split = split_at_window(m.select(sym), parse_seed_window(win), 400, 252)
        b = gen.fit(split.context).sample(252, 0, 0, 300)
        r = np.diff(np.log(np.vstack([np.full((1, 300), split.context.close[-1]), b.close])), axis=0)
        tr = np.sqrt(np.array([np.mean(r[t - 10:t] ** 2, 0) for t in range(10, 252)]))
        rc = np.diff(np.log(split.context.close))
        trc = np.sqrt(np.array([np.mean(rc[t - 10:t] ** 2) for t in range(10, len(rc))]))
        print(f"3. {sym} after {win}: along paths slope {slope(np.log(tr), np.log(np.abs(r[10:]) + 1e-12)):.3f}, "
              f"context {slope(np.log(trc), np.log(np.abs(rc[10:]) + 1e-12)):.3f}; acf1(|r|) paths median "
              f"{np.median(acf1(np.abs(r))):.3f}, context {acf1(np.abs(rc)):.3f}")


if __name__ == "__main__":
    main()
