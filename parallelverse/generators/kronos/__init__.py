"""Kronos universes: joint OHLCV paths from the Kronos foundation model, every path kept.

Input handling matches the official predictor: features open, high, low, close,
volume, amount (missing amount = volume x mean(OHLC)); per-column mean and std (ddof
0) over the context, (x - mean) / (std + 1e-5), clipped to +-5; time stamps minute of
hour, hour, weekday, day, month. Paths are de-normalised, then the bar invariants are
enforced (high >= max(open, close), low <= min(open, close), prices > 0, volume >= 0)
and every repair is counted in the universe's attributes.

Normalisation bias: like upstream, the context is z-scored as one window, which pulls
forecasts of trending series back toward the window mean (users report inverted
rankings on strongly trending stocks). That is what the checkpoints were trained on,
so it stays the default; two labelled mitigations are offered: `norm_window=N`
(z-score with the last N bars' statistics) and `reanchor_drift=true` (tilt every path
so the paths' median drift equals the context's own). The report's drift diagnostic
shows the difference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from parallelverse.bars import PathBatch
from parallelverse.errors import GeneratorError
from parallelverse.market import Ohlcv
from parallelverse.rng import path_rngs
from parallelverse.window import extend_calendar

# The model this package ships (trained by `parallelverse train` on real bars before 2020;
# see its MODEL_CARD.md); pass --model NeoQuasar/Kronos-small etc. for the official ones.
SHIPPED_MODEL = Path(__file__).resolve().parent.parent.parent / "models" / "kronos-pv-small"
DEFAULT_MODEL = str(SHIPPED_MODEL)
CLIP = 5.0
_LOADED: dict = {}


@dataclass(frozen=True)
class Kronos:
    model: str = DEFAULT_MODEL  # the shipped model, a Hub id (NeoQuasar/Kronos-mini/-small/-base) or a directory
    tokenizer: str = ""  # default: the official pairing, or DIR/tokenizer beside DIR/predictor
    temperature: float = 1.0
    top_k: int = 0  # 0 = off; composes with top_p
    top_p: float = 1.0
    batch_size: int = 0  # paths per forward pass; 0 = sized to the device (256 on CPU, by free memory on a GPU)
    device: str = "auto"  # auto | cpu | cuda
    max_context: int = 0  # 0 = the model's own (512; 2048 for Kronos-mini)
    window_slide: int = 0  # tokens dropped per rebuild past max_context; 0 = max_context // 4, 1 = official
    norm_window: int = 0  # mitigation: z-score on the last N context bars only (0 = whole context, as upstream)
    reanchor_drift: bool = False  # mitigation: shift each path's log prices so the paths' median drift = context drift
    bf16: bool = False  # bfloat16 weights on a GPU

    def __post_init__(self):
        if self.temperature <= 0 or not 0 < self.top_p <= 1 or self.top_k < 0 or self.batch_size < 0:
            raise GeneratorError("kronos needs temperature > 0, 0 < top_p <= 1, top_k >= 0 and batch_size >= 0")
        if self.device not in ("auto", "cpu", "cuda"):
            raise GeneratorError(f"kronos device={self.device!r} is not auto, cpu or cuda")

    @property
    def name(self) -> str:
        slug = Path(self.model.rstrip("/")).name.lower()
        slug = re.sub(r"^kronos-", "", re.sub(r"[^a-z0-9.-]+", "-", slug)).strip("-") or "model"
        tags = (f"-nw{self.norm_window}" if self.norm_window else "") + ("-anchored" if self.reanchor_drift else "")
        return f"kronos-{slug}-T{self.temperature:g}{tags}"

    def _device(self) -> str:
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device == "cuda" and not torch.cuda.is_available():
            raise GeneratorError("kronos device=cuda but no CUDA device is available; use device=cpu or auto")
        return self.device

    def prepare(self):
        """Load (and cache) the checkpoints now, so a bad model fails before anything is written."""
        from parallelverse.generators.kronos.load import load_module, resolve
        from parallelverse.generators.kronos.model import KronosPredictor, KronosTokenizer

        device = self._device()
        key = (self.model, self.tokenizer, device, self.bf16)
        if key not in _LOADED:
            pred_dir, tok_dir, max_ctx = resolve(self.model, self.tokenizer)
            tok = load_module(KronosTokenizer, tok_dir, "tokenizer").to(device)
            pred = load_module(KronosPredictor, pred_dir, "predictor").to(device)
            if self.bf16:
                if device != "cuda":
                    raise GeneratorError("kronos bf16=true needs a GPU; on CPU Kronos runs in float32")
                import torch

                pred = pred.to(torch.bfloat16)
            _LOADED[key] = (tok, pred, max_ctx, {"predictor": str(pred_dir), "tokenizer": str(tok_dir)})
        return _LOADED[key]

    def fit(self, context: Ohlcv) -> FittedKronos:
        from parallelverse.generators.kronos.load import sampling_defaults

        tok, pred, max_ctx, where = self.prepare()
        norm_window = self.norm_window or int(sampling_defaults(self.model).get("norm_window", 0))
        return FittedKronos(self, tok, pred, self.max_context or max_ctx, where, context, norm_window)


def stamps(time_ns: np.ndarray) -> np.ndarray:
    """(n, 5) float32: minute of hour, hour, weekday (Monday 0), day, month — the official features."""
    t = pd.DatetimeIndex(time_ns.astype("datetime64[ns]"))
    return np.stack([t.minute, t.hour, t.day_of_week, t.day, t.month], axis=1).astype(np.float32)


def features(context: Ohlcv) -> np.ndarray:
    """(n, 6): open, high, low, close, volume, amount = volume x mean(OHLC)."""
    ohlc = np.stack([context.open, context.high, context.low, context.close], axis=1)
    vol = context.volume if context.has_volume else np.zeros(len(context))
    return np.column_stack([ohlc, vol, vol * ohlc.mean(axis=1)])


@dataclass
class FittedKronos:
    spec: Kronos
    tokenizer: object
    predictor: object
    max_context: int
    where: dict
    context: Ohlcv
    norm_window: int = 0  # 0 = the whole context
    horizon_time: np.ndarray | None = None  # set by `generate` to the store's horizon timestamps
    repairs: dict = field(default_factory=lambda: {"price_floor": 0, "high": 0, "low": 0, "volume": 0})

    def __post_init__(self):
        import torch

        x = features(self.context).astype(np.float32)
        ref = x[-self.norm_window:] if self.norm_window else x
        self.mean, self.std = ref.mean(axis=0), ref.std(axis=0)
        xn = np.clip((x - self.mean) / (self.std + 1e-5), -CLIP, CLIP)
        dev = next(self.predictor.parameters()).device
        with torch.no_grad():
            s1, s2 = self.tokenizer.encode(torch.from_numpy(xn)[None].to(dev))
        self.s1, self.s2 = s1[0], s2[0]
        self.stamp = torch.from_numpy(stamps(self.context.time)).to(dev)

    def describe(self) -> dict:
        return {**self.where, "max_context": self.max_context, "norm_window": self.norm_window, "context_bars": len(self.context),
                "normalisation": {"mean": self.mean.tolist(), "std": self.std.tolist(), "eps": 1e-5, "clip": CLIP},
                "repairs": dict(self.repairs), "top_k_and_top_p": "composed (top-k, then top-p)"}

    def sample(self, horizon_bars: int, seed: int, start: int, stop: int) -> PathBatch:
        import torch

        from parallelverse.generators.kronos.sampler import KronosSampler, decode_paths

        dev = self.s1.device
        times = self.horizon_time if self.horizon_time is not None and len(self.horizon_time) >= horizon_bars \
            else extend_calendar(self.context.time, horizon_bars)
        future = torch.from_numpy(stamps(times[:horizon_bars])).to(dev)
        sampler = KronosSampler(self.tokenizer, self.predictor, self.max_context, self.spec.window_slide)
        rngs = path_rngs(seed, self.spec.name, start, stop)
        outs = []
        step = self.spec.batch_size or self._auto_batch(horizon_bars)
        for lo in range(0, stop - start, step):
            batch = rngs[lo : lo + step]
            u = torch.from_numpy(np.stack([r.random((horizon_bars, 2)) for r in batch])).to(dev, torch.float32)
            g1, g2 = sampler.generate(self.s1, self.s2, self.stamp, future, u, self.spec.temperature,
                                      self.spec.top_k, self.spec.top_p)
            z = decode_paths(self.tokenizer, self.s1, self.s2, g1, g2, self.max_context).float().cpu().numpy()
            outs.append(z.astype(np.float64) * (self.std + 1e-5) + self.mean)  # (b, h, 6)
        x = np.concatenate(outs, axis=0).transpose(2, 1, 0)  # (6, h, n)
        batch = self._repair(x[0], x[1], x[2], x[3], x[4])
        return self._reanchor(batch) if self.spec.reanchor_drift else batch

    def _reanchor(self, b: PathBatch) -> PathBatch:
        """Tilt every path's prices by exp(k * (context drift - median path drift)) at bar k."""
        r_ctx = float(np.mean(np.diff(np.log(self.context.close))))
        last = float(self.context.close[-1])
        r_paths = np.log(b.close[-1] / last) / b.shape[0]
        tilt = np.exp(np.arange(1, b.shape[0] + 1)[:, None] * (r_ctx - float(np.median(r_paths))))
        return PathBatch(b.open * tilt, b.high * tilt, b.low * tilt, b.close * tilt, b.volume)

    def _auto_batch(self, horizon_bars: int) -> int:
        """Paths per pass: 256 on CPU; on a GPU as many as a quarter of the free memory holds (at most 8,192).
        Per path: its own keys/values (layers x 2 x window x d_model) and the step's activations."""
        import torch

        dev = self.s1.device
        if dev.type != "cuda":
            return 256
        free, _ = torch.cuda.mem_get_info(dev)
        m = self.predictor
        window = min(self.max_context, len(self.context) + horizon_bars)
        per_path = 4 * (len(m.transformer) * 2 * window * m.d_model + 8 * window * 16 + 2 ** m.s1_bits * 4 + 8 * m.d_model * 4)
        return int(max(1, min(8192, free // 4 // per_path)))

    def _repair(self, o, h, lo, c, v) -> PathBatch:
        floor = 1e-4 * float(np.mean(self.context.close))
        prices = np.stack([o, h, lo, c])
        bad = prices < floor
        self.repairs["price_floor"] += int(bad.any(axis=0).sum())
        o, h, lo, c = np.maximum(prices, floor)
        top, bottom = np.maximum(o, c), np.minimum(o, c)
        self.repairs["high"] += int((h < top).sum())
        self.repairs["low"] += int((lo > bottom).sum())
        self.repairs["volume"] += int((v < 0).sum())
        return PathBatch(o, np.maximum(h, top), np.minimum(lo, bottom), c, np.maximum(v, 0.0))
