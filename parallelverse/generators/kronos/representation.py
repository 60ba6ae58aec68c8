"""How bars become the numbers a Kronos tokenizer sees, and back: one home for both directions.

Two representations, named in a checkpoint's `parallelverse.json` (`representation`):

- `zscore` (the official one; official checkpoints always use it): open, high, low, close,
  volume, amount = volume x mean(OHLC), each column z-scored with the mean and std (ddof 0,
  eps 1e-5) of a reference span, clipped to +-5. It encodes *levels*, so a model trained on
  it learns to pull toward the reference span's mean.
- `logret` (what `parallelverse train` writes by default): five numbers per bar that carry no
  price level at all —
      open gap    log(O_t / C_{t-1}) / s
      close move  log(C_t / C_{t-1}) / s
      upper wick  log(H_t / max(O_t, C_t)) / s      (>= 0)
      lower wick  log(min(O_t, C_t) / L_t) / s      (>= 0)
      volume      (log1p(V_t) - m) / sd
  where s is the RMS close-to-close log return of the reference span (the training window's
  lookback) and m, sd the mean and std of log1p(volume) there; clipped to +-CLIP_LOGRET.
  Decoding continues from the last real close (so the first synthetic bar has no seam),
  and wicks are taken as max(0, .) so every decoded bar satisfies the bar invariants.

`Scale` holds a reference span's statistics; the same functions serve training windows
and sampling, so the model sees at generation exactly the transform it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from parallelverse.errors import GeneratorError

CLIP_ZSCORE = 5.0
CLIP_LOGRET = 8.0
EPS = 1e-5
REPRESENTATIONS = ("zscore", "logret")
D_IN = {"zscore": 6, "logret": 5}


@dataclass(frozen=True)
class Scale:
    """Statistics of a reference span: zscore -> per-column mean/std (6,); logret -> s, m, sd."""

    kind: str
    mean: np.ndarray  # zscore: (6,) column means; logret: (5,) [0, 0, 0, 0, m]
    std: np.ndarray  # zscore: (6,) column stds; logret: (5,) [s, s, s, s, sd]

    def describe(self) -> dict:
        return {"representation": self.kind, "mean": self.mean.tolist(), "std": self.std.tolist(), "eps": EPS,
                "clip": CLIP_ZSCORE if self.kind == "zscore" else CLIP_LOGRET}


def check(kind: str) -> str:
    if kind not in REPRESENTATIONS:
        raise GeneratorError(f"representation {kind!r} is unknown; use one of {', '.join(REPRESENTATIONS)}")
    return kind


def raw_features(kind: str, o, h, lo, c, v, prev_close: float | None = None) -> np.ndarray:
    """Un-normalised features of bars (n,) -> (n, d). logret needs the close before the first bar
    (prev_close); without one, the first bar's open stands in for it."""
    if kind == "zscore":
        ohlc = np.stack([o, h, lo, c], axis=1)
        return np.column_stack([ohlc, v, v * ohlc.mean(axis=1)])
    prev = np.concatenate([[prev_close if prev_close is not None else o[0]], c[:-1]])
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    return np.column_stack([np.log(o / prev), np.log(c / prev), np.log(h / top), np.log(bottom / lo), np.log1p(v)])


def fit_scale(kind: str, raw: np.ndarray) -> Scale:
    """Statistics of the reference rows raw (n, d)."""
    if kind == "zscore":
        return Scale(kind, raw.mean(axis=0), raw.std(axis=0))
    s = max(float(np.sqrt(np.mean(raw[:, 1] ** 2))), 1e-4)
    m, sd = float(raw[:, 4].mean()), float(raw[:, 4].std())
    return Scale(kind, np.array([0.0, 0.0, 0.0, 0.0, m]), np.array([s, s, s, s, sd]))


def normalise(raw: np.ndarray, scale: Scale) -> np.ndarray:
    """(…, d) raw features -> the model's inputs, float32."""
    clip = CLIP_ZSCORE if scale.kind == "zscore" else CLIP_LOGRET
    return np.clip((raw - scale.mean) / (scale.std + EPS), -clip, clip).astype(np.float32)


def denormalise(z: np.ndarray, scale: Scale) -> np.ndarray:
    """(…, d) model outputs -> raw features (float64)."""
    return z.astype(np.float64) * (scale.std + EPS) + scale.mean


def to_bars(kind: str, raw: np.ndarray, last_close) -> tuple[np.ndarray, ...]:
    """raw features (n_paths, h, d) -> open, high, low, close, volume, each (h, n_paths).

    zscore: the features are the levels. logret: prices compound from `last_close` (a float, or
    (n_paths,) per-path closes); wicks below zero are read as zero."""
    if kind == "zscore":
        x = raw.transpose(2, 1, 0)
        return x[0], x[1], x[2], x[3], x[4]
    x = raw.transpose(2, 1, 0)  # (d, h, n)
    log_c = np.log(np.asarray(last_close, dtype=np.float64)) + np.cumsum(x[1], axis=0)
    log_prev = np.concatenate([np.broadcast_to(np.log(np.asarray(last_close, np.float64)), log_c[:1].shape), log_c[:-1]])
    o, c = np.exp(log_prev + x[0]), np.exp(log_c)
    h = np.maximum(o, c) * np.exp(np.maximum(x[2], 0.0))
    lo = np.minimum(o, c) * np.exp(-np.maximum(x[3], 0.0))
    return o, h, lo, c, np.expm1(np.maximum(x[4], 0.0))
