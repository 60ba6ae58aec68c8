"""Kronos universes: joint OHLCV paths from the Kronos foundation model, every path kept.

What the model sees is the checkpoint's *representation* (`representation.py`, declared in
its parallelverse.json): official checkpoints use the official `zscore` of open, high, low,
close, volume, amount (per-column mean and std (ddof 0), eps 1e-5, clipped to +-5);
checkpoints that `parallelverse train` writes use `logret` (returns from the previous close
scaled by the lookback's RMS return — no price level to be pulled back to). Time stamps are
minute of hour, hour, weekday, day, month. Decoded paths are checked against the bar
invariants and every repair is counted in the universe's attributes.

No seam: only the last `norm_window` bars (the checkpoint's training lookback; else
max_context) are encoded, normalised on exactly those bars. The tokenizer is causal, so
encoding a longer context than it was trained on changes every token and made the first
synthetic bar jump; for official checkpoints with a context up to max_context nothing changes.

Long horizons: by default one normalisation serves the whole path (the official
semantics; for `logret` it only sets the unit of a return). `renorm_every=N` re-normalises
each path on its trailing `norm_window` bars (real, then its own) every N bars and re-encodes
them, so every window the model sees is distributed like a training window; for `zscore`
checkpoints this removes the pull back to the context's mean (labelled `-rnN`; slower: each
block re-encodes every path). `reanchor_drift=true` remains as a cruder, labelled mitigation.

Drift and regime (declared by a checkpoint's parallelverse.json, and on in every checkpoint
`parallelverse train` writes, the shipped one included; official checkpoints declare none, and
`--set kronos.drift_prior_sd=0 --set kronos.vol_regime_sd=0` turns them off): a model fitted
on a few thousand windows has no more idea of next year's drift than a GARCH has, and
its paths carry whatever drift it learned (the shipped model: about +30%/yr above what
followed on the held-out 2020-2022 windows). `drift_prior_sd=S` replaces it: each path
keeps the model's moves around the model's own median drift (estimated once per seed
from PILOT_PATHS pilot paths, so chunking does not matter) and gets its own drift from the
posterior under the equity-premium prior of generators/drift.py; `vol_regime_sd=S` puts
each path in its own volatility regime as for GARCH and the bootstrap (generators/regime.py).
Set explicitly, both are labelled (`-dpS`, `-vrS`); either way the values used are recorded.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from parallelverse.bars import PathBatch
from parallelverse.errors import GeneratorError
from parallelverse.generators.bootstrap import VOL_REGIME_SD as BOOTSTRAP_VOL_REGIME_SD
from parallelverse.generators.drift import PRIOR_SD, check_prior_sd, drift_posterior
from parallelverse.generators.kronos import representation as rep
from parallelverse.generators.regime import LEVEL_DRIFT_SLOPE, check_regime_sd, path_regimes, place_paths
from parallelverse.inputs import check_sampling
from parallelverse.market import Ohlcv
from parallelverse.rng import path_rngs
from parallelverse.trading_calendar import extend_calendar

# The model this package ships (trained by `parallelverse train` on real bars before 2020;
# see its MODEL_CARD.md); pass --model NeoQuasar/Kronos-small etc. for the official ones.
SHIPPED_MODEL = Path(__file__).resolve().parent.parent.parent / "models" / "kronos-pv-small"
DEFAULT_MODEL = str(SHIPPED_MODEL)
_LOADED: dict = {}
MAX_CONTEXT_LIMIT = 100_000  # tokens: far past any Kronos checkpoint (512; 2,048 for mini)
PILOT_PATHS = 64  # paths that estimate the model's own median drift when the drift prior replaces it
# What `parallelverse train` declares in a checkpoint's parallelverse.json, so that a model's universes carry
# the estimation uncertainty path luck needs (issue 14) as GARCH's and the bootstrap's do: the drift prior of
# generators/drift.py, and the bootstrap's regime sd, since a Kronos path's own 252-bar volatility varies about
# as little as a resampled one's (log sd about 0.09 against 0.38 on real pre-2020 markets; regime.py).
TRAINED_DRIFT_PRIOR_SD = PRIOR_SD
TRAINED_VOL_REGIME_SD = BOOTSTRAP_VOL_REGIME_SD


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
    window_slide: int = 0  # tokens dropped per rebuild past max_context; 0 = the checkpoint's or max_context // 4, 1 = official
    norm_window: int = 0  # bars encoded and normalised on (0 = the checkpoint's training window, else max_context)
    renorm_every: int = -1  # re-normalise each path on its trailing window every N bars; -1 = the checkpoint's default
    reanchor_drift: bool = False  # mitigation: shift each path's log prices so the paths' median drift = context drift
    bf16: bool = False  # bfloat16 weights on a GPU
    drift_prior_sd: float = -1.0  # annual sd of the drift prior (generators/drift.py); -1 = the checkpoint's, 0 = the model's drift
    vol_regime_sd: float = -1.0  # sd of each path's log volatility level (generators/regime.py); -1 = the checkpoint's, 0 = none

    def __post_init__(self):
        check_sampling("kronos", self.temperature, self.top_k, self.top_p)
        if self.batch_size < 0:
            raise GeneratorError(f"kronos batch_size={self.batch_size} must be >= 0 (0 = sized to the device)")
        if self.renorm_every < -1:
            raise GeneratorError(f"kronos renorm_every={self.renorm_every}: use renorm_every >= 0 (0 = never), or -1 "
                                 "for the checkpoint's default")
        if self.norm_window < 0:
            raise GeneratorError(f"kronos norm_window={self.norm_window}: use norm_window >= 0 (0 = the checkpoint's)")
        if not (self.max_context == 0 or 2 <= self.max_context <= MAX_CONTEXT_LIMIT):
            raise GeneratorError(f"kronos max_context={self.max_context} must be 0 (the model's own) or from 2 to "
                                 f"{MAX_CONTEXT_LIMIT:,} tokens")
        if self.window_slide < 0:
            raise GeneratorError(f"kronos window_slide={self.window_slide} must be >= 0 (0 = the checkpoint's or "
                                 "max_context // 4; 1 = the official per-step slide)")
        if self.drift_prior_sd != -1.0:  # -1: the checkpoint's
            check_prior_sd("kronos", self.drift_prior_sd)
        if self.vol_regime_sd != -1.0:
            check_regime_sd("kronos", self.vol_regime_sd)
        if self.device not in ("auto", "cpu", "cuda"):
            raise GeneratorError(f"kronos device={self.device!r} is not auto, cpu or cuda")

    @property
    def name(self) -> str:
        slug = Path(self.model.rstrip("/")).name.lower()
        slug = re.sub(r"^kronos-", "", re.sub(r"[^a-z0-9.-]+", "-", slug)).strip("-") or "model"
        tags = (f"-nw{self.norm_window}" if self.norm_window else "") + ("-anchored" if self.reanchor_drift else "") \
            + (f"-rn{self.renorm_every}" if self.renorm_every > 0 else "") \
            + (f"-dp{self.drift_prior_sd:g}" if self.drift_prior_sd >= 0 else "") \
            + (f"-vr{self.vol_regime_sd:g}" if self.vol_regime_sd >= 0 else "")
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
            tb, pb = (tok.config["s1_bits"], tok.config["s2_bits"]), (pred.config["s1_bits"], pred.config["s2_bits"])
            if tb != pb:  # the predictor reads the tokenizer's codes: other bit counts are another vocabulary
                raise GeneratorError(f"the tokenizer {str(tok_dir)!r} makes {tb[0]}+{tb[1]}-bit codes but the predictor "
                                     f"{str(pred_dir)!r} reads {pb[0]}+{pb[1]}-bit ones; pair them as trained")
            if self.bf16:
                if device != "cuda":
                    raise GeneratorError("kronos bf16=true needs a GPU; on CPU Kronos runs in float32")
                import torch

                pred = pred.to(torch.bfloat16)
            _LOADED[key] = (tok, pred, max_ctx, {"predictor": str(Path(pred_dir).resolve()),  # where, from anywhere
                                                 "tokenizer": str(Path(tok_dir).resolve())})
        return _LOADED[key]

    def fit(self, context: Ohlcv, horizon_time: np.ndarray | None = None) -> FittedKronos:
        from parallelverse.generators.kronos.load import sampling_defaults

        tok, pred, max_ctx, where = self.prepare()
        declared = sampling_defaults(self.model)
        norm_window = self.norm_window or int(declared.get("norm_window", 0))
        renorm = self.renorm_every if self.renorm_every >= 0 else int(declared.get("renorm_every", 0))
        kind = rep.check(declared.get("representation", "zscore"))
        if tok.config["d_in"] != rep.D_IN[kind]:
            missing = not (Path(str(self.model)) / "parallelverse.json").is_file()
            raise GeneratorError(f"{self.model}: the tokenizer takes {tok.config['d_in']} features but representation "
                                 f"{kind!r} has {rep.D_IN[kind]}; "
                                 + ("its parallelverse.json (which declares the representation) is missing: restore "
                                    "the one `parallelverse train` wrote" if missing else "fix parallelverse.json"))
        slide = self.window_slide or int(declared.get("window_slide", 0))
        window = self.max_context or max_ctx
        if norm_window > window:
            raise GeneratorError(f"kronos norm_window={norm_window} is longer than the model's window of {window} tokens; "
                                 f"use norm_window <= {window}")
        if slide >= window:
            raise GeneratorError(f"kronos window_slide={slide} must be below the window of {window} tokens")
        prior = self.drift_prior_sd if self.drift_prior_sd >= 0 else float(declared.get("drift_prior_sd", 0.0))
        regime = self.vol_regime_sd if self.vol_regime_sd >= 0 else float(declared.get("vol_regime_sd", 0.0))
        return FittedKronos(self, tok, pred, window, where, context, norm_window, kind, renorm, slide,
                            horizon_time, prior, regime)


_LANES = threading.Lock()


def _on_cpu_lanes(fn, items: list, lanes: int) -> list:
    """fn over items on `lanes` threads, torch running one thread in each, in order.

    A decoding step is hundreds of small matrix products that two intra-op threads share
    poorly (1.5x on 2 cores); whole batches side by side, one thread each, use the cores
    fully (benchmarks/bench_kronos.py --lanes). The batches are the same ones either way
    (batch_size paths each), so the paths are bit-identical to one batch at a time. The lock keeps two
    samplers in one process (threaded Dask workers) from racing on torch's global
    thread count."""
    import torch

    with _LANES:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(lanes, initializer=torch.set_num_threads, initargs=(1,)) as ex:
                return list(ex.map(fn, items))
        finally:
            torch.set_num_threads(threads)


def stamps(time_ns: np.ndarray) -> np.ndarray:
    """(n, 5) float32: minute of hour, hour, weekday (Monday 0), day, month — the official features."""
    t = pd.DatetimeIndex(time_ns.astype("datetime64[ns]"))
    return np.stack([t.minute, t.hour, t.day_of_week, t.day, t.month], axis=1).astype(np.float32)


@dataclass
class FittedKronos:
    spec: Kronos
    tokenizer: object
    predictor: object
    max_context: int
    where: dict
    context: Ohlcv
    norm_window: int = 0  # bars encoded and normalised on (0 = max_context)
    representation: str = "zscore"
    renorm_every: int = 0  # re-normalise each path on its trailing window every N bars (0 = never)
    window_slide: int = 0  # tokens dropped per window rebuild (0 = max_context // 4)
    horizon_time: np.ndarray | None = None  # the horizon's stamps given to fit (None: the context's calendar continued)
    drift_prior_sd: float = 0.0  # > 0: paths' drift from the posterior under the equity-premium prior, not the model's
    vol_regime_sd: float = 0.0  # > 0: each path in its own volatility regime
    repairs: dict = field(default_factory=lambda: {"price_floor": 0, "high": 0, "low": 0, "volume": 0})

    def __post_init__(self):
        import torch

        # No seam: encode only the bars a training window holds (the tokenizer is causal, so encoding a longer
        # context changes every token), normalised on exactly those bars.
        self.n_encoded = min(len(self.context), self.norm_window or self.max_context)
        if self.renorm_every and self.n_encoded + self.renorm_every > self.max_context:
            raise GeneratorError(f"kronos renorm_every={self.renorm_every} plus the {self.n_encoded} encoded bars exceeds "
                                 f"max_context {self.max_context}; use renorm_every <= {self.max_context - self.n_encoded}")
        x = self._raw(self.context, len(self.context) - self.n_encoded)
        self.scale = rep.fit_scale(self.representation, x)
        dev = next(self.predictor.parameters()).device
        with torch.no_grad():
            s1, s2 = self.tokenizer.encode(torch.from_numpy(rep.normalise(x, self.scale))[None].to(dev))
        self.s1, self.s2 = s1[0], s2[0]
        self.stamp = torch.from_numpy(stamps(self.context.time[-self.n_encoded:])).to(dev)

    def _raw(self, c: Ohlcv, start: int) -> np.ndarray:
        """Raw features of bars start.. of `c` (the close before `start` anchors logret's first bar)."""
        prev = float(c.close[start - 1]) if start > 0 else None
        return rep.raw_features(self.representation, c.open[start:], c.high[start:], c.low[start:], c.close[start:],
                                c.volume[start:] if c.has_volume else np.zeros(len(c) - start), prev)

    def describe(self) -> dict:
        return {**self.where, "max_context": self.max_context, "norm_window": self.norm_window, "context_bars": len(self.context),
                "encoded_bars": self.n_encoded, "renorm_every": self.renorm_every, "window_slide": self.window_slide,
                "normalisation": self.scale.describe(), "repairs": dict(self.repairs),
                "top_k_and_top_p": "composed (top-k, then top-p)",
                "uncertainty": "drift-prior" if self.drift_prior_sd > 0 or self.vol_regime_sd > 0 else "none",
                "drift_prior_sd": self.drift_prior_sd,
                "vol_regime": {"sd": self.vol_regime_sd, "level_drift_slope": LEVEL_DRIFT_SLOPE},
                "pilot_paths": PILOT_PATHS,
                "device": self.s1.device.type,  # where the paths were computed (the spec records what was asked)
                "batch_size": self.spec.batch_size or ("by free GPU memory" if self.s1.device.type == "cuda" else 256)}

    def sample(self, horizon_bars: int, seed: int, start: int, stop: int) -> PathBatch:
        batch = self._sample(horizon_bars, seed, start, stop)
        if self.drift_prior_sd > 0 or self.vol_regime_sd > 0:
            batch = self._with_uncertainty(batch, seed, start, stop)
        return batch

    def _with_uncertainty(self, b: PathBatch, seed: int, start: int, stop: int) -> PathBatch:
        """The model's paths around a drift that is not taken from the model: each path's log prices relative
        to the last close, less the model's median drift (from PILOT_PATHS pilot paths on their own streams,
        so every chunk uses the same), times its regime level, plus its own drift drawn from the posterior
        under the equity-premium prior and its regime's shift (generators/drift.py, regime.py)."""
        h = b.shape[0]
        last = float(self.context.close[-1])
        r = np.diff(np.log(self.context.close))
        m, se = float(r.mean()), float(r.std(ddof=1) / np.sqrt(len(r)))
        pm, ps = drift_posterior(m, se, self.context.year(), self.drift_prior_sd) \
            if self.drift_prior_sd > 0 else (self._model_drift(h, seed), 0.0)
        z = np.array([g.standard_normal() for g in path_rngs(seed, self.spec.name + "-drift", start, stop)])
        regimes = path_regimes(seed, self.spec.name, start, stop, self.vol_regime_sd, float(r.std()), h)
        return place_paths(b, last, regimes.level, self._model_drift(h, seed), pm + ps * z + regimes.drift)

    def _model_drift(self, h: int, seed: int) -> float:
        """Median per-bar log drift of PILOT_PATHS paths of the model itself over h bars (cached)."""
        cache = self.__dict__.setdefault("_pilot", {})
        if (h, seed) not in cache:
            p = self._sample(h, seed, 0, PILOT_PATHS, stream=self.spec.name + "-pilot")
            cache[(h, seed)] = float(np.median(np.log(p.close[-1] / float(self.context.close[-1])) / h))
        return cache[(h, seed)]

    def _sample(self, horizon_bars: int, seed: int, start: int, stop: int, stream: str = "", lanes: int = 0) -> PathBatch:
        """lanes: batches computed side by side on CPU (0 = torch's thread count; 1 = one batch at a time,
        torch's own threads inside each)."""
        import torch

        dev = self.s1.device
        times = self.horizon_time if self.horizon_time is not None and len(self.horizon_time) >= horizon_bars \
            else extend_calendar(self.context.time, horizon_bars)
        future = torch.from_numpy(stamps(times[:horizon_bars])).to(dev)
        n = stop - start
        if n <= 0:
            return PathBatch(*(np.empty((horizon_bars, 0)) for _ in range(5)))
        rngs = path_rngs(seed, stream or self.spec.name, start, stop)
        lanes = (lanes or torch.get_num_threads()) if dev.type == "cpu" else 1
        step = self.spec.batch_size or self._auto_batch(horizon_bars)  # never the lanes: they must not change a path
        us = [torch.from_numpy(np.stack([r.random((horizon_bars, 2)) for r in rngs[lo : lo + step]])).to(dev, torch.float32)
              for lo in range(0, n, step)]

        def one(u):
            return self._sample_renormalised(u, future) if self.renorm_every else self._sample_frozen(u, future)

        outs = _on_cpu_lanes(one, us, lanes) if lanes > 1 and len(us) > 1 else [one(u) for u in us]
        bars = [np.concatenate([o[i] for o in outs], axis=1) for i in range(5)]  # each (h, n)
        batch = self._repair(*bars)
        return self._reanchor(batch) if self.spec.reanchor_drift else batch

    def _sample_frozen(self, u, future) -> tuple[np.ndarray, ...]:
        """One normalisation for the whole path (the official semantics): tokens slide through the window."""
        from parallelverse.generators.kronos.sampler import KronosSampler, decode_paths

        sampler = KronosSampler(self.tokenizer, self.predictor, self.max_context, self.window_slide)
        g1, g2 = sampler.generate(self.s1, self.s2, self.stamp, future, u, self.spec.temperature, self.spec.top_k,
                                  self.spec.top_p)
        z = decode_paths(self.tokenizer, self.s1, self.s2, g1, g2, self.max_context).float().cpu().numpy()
        return rep.to_bars(self.representation, rep.denormalise(z, self.scale), float(self.context.close[-1]))

    def _sample_renormalised(self, u, future) -> tuple[np.ndarray, ...]:
        """Every `renorm_every` bars each path's trailing `n_encoded` bars (real, then its own) are
        re-normalised on themselves and re-encoded, so every window the model sees is distributed like a
        training window. (B, h) uniforms -> bars, each (h, B)."""
        import torch

        from parallelverse.generators.kronos.sampler import KronosSampler, _decode_window

        b, h = u.shape[0], u.shape[1]
        n, every, dev = self.n_encoded, self.renorm_every, self.s1.device
        sampler = KronosSampler(self.tokenizer, self.predictor, self.max_context, self.window_slide)
        c = self.context
        hist = [np.repeat(getattr(c, f)[-n - 1:][None], b, 0) for f in ("open", "high", "low", "close")]
        hist.append(np.repeat((c.volume if c.has_volume else np.zeros(len(c)))[-n - 1:][None], b, 0))  # (B, n+1) each
        all_stamps = torch.cat([torch.from_numpy(stamps(c.time[-n:])).to(dev), future])
        for lo in range(0, h, every):
            k = min(every, h - lo)
            win = [a[:, -n:] for a in hist]
            prev = hist[3][:, -n - 1] if hist[3].shape[1] > n else None
            raw = np.stack([self._raw_paths(win, prev, i) for i in range(b)])  # (B, n, d)
            scales = [rep.fit_scale(self.representation, r) for r in raw]
            xn = np.stack([rep.normalise(r, s) for r, s in zip(raw, scales)])
            with torch.no_grad():
                s1, s2 = self.tokenizer.encode(torch.from_numpy(xn).to(dev))
            st = all_stamps[lo : lo + n]
            g1, g2 = sampler.generate_per_path(s1, s2, st, all_stamps[lo + n : lo + n + k], u[:, lo : lo + k],
                                               self.spec.temperature, self.spec.top_k, self.spec.top_p)
            empty = s1[0, :0]
            z = _decode_window(self.tokenizer, empty, empty, torch.cat([s1, g1], 1), torch.cat([s2, g2], 1),
                               self.max_context)[:, -k:].float().cpu().numpy()
            new = [np.empty((b, k)) for _ in range(5)]
            for i in range(b):
                bars = rep.to_bars(self.representation, rep.denormalise(z[i : i + 1], scales[i]), hist[3][i, -1])
                for f in range(5):
                    new[f][i] = bars[f][:, 0]
            hist = [np.concatenate([a, x], axis=1)[:, -n - 1:] for a, x in zip(hist, new)]
            if lo == 0:
                out = new
            else:
                out = [np.concatenate([o, x], axis=1) for o, x in zip(out, new)]
        return tuple(o.T for o in out)

    def _raw_paths(self, win, prev, i) -> np.ndarray:
        return rep.raw_features(self.representation, win[0][i], win[1][i], win[2][i], win[3][i], win[4][i],
                                None if prev is None else float(prev[i]))

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
