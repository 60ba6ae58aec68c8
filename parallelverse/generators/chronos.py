"""Chronos universes via chronos-forecasting's ChronosPipeline (T5), with coherent long paths.

Chronos samples genuine paths (temperature, top-k, top-p) but only `prediction_length`
steps (64 for the released T5 models) at a time, and upstream continues longer
horizons from the *median* of all samples — every path forgets its own history.
Here each path continues from its own sampled history (chained sampling):

    segment 0: predict(context, num_samples=batch)           -> (batch, L0)
    segment k: predict([context + own samples of path i], 1)  -> (batch, Lk), one row per path

so path i's bars after step 64 are conditioned on path i's own first 64. The model
sees at most its `context_length` (512) latest values at each segment: the real
context plus the path's own samples, oldest first dropped; `describe()` records the
mix for every segment.

Chronos is univariate: it samples the close (in price, where its mean-scaled bins
are 0.73% of the price level wide), and full bars come from `bars.synthesize_bars`.

Randomness: paths come in blocks of `batch_size`; block b runs under
torch.manual_seed(key(seed, universe name, b)) in a forked RNG, so the same seed
gives the same paths whatever the store chunking (a chunk that splits a block
regenerates the block and keeps its slice).
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from parallelverse.bars import BarShapes, PathBatch, bar_shapes, synthesize_bars
from parallelverse.errors import GeneratorError
from parallelverse.generators.hub import hub_snapshot, model_family
from parallelverse.inputs import check_sampling
from parallelverse.market import Ohlcv
from parallelverse.rng import path_rngs

DEFAULT_MODEL = "amazon/chronos-t5-small"
_QUANTILE_ONLY = {"ChronosBoltPipeline": "Chronos-Bolt", "Chronos2Pipeline": "Chronos-2"}


@dataclass(frozen=True)
class Chronos:
    model: str = DEFAULT_MODEL  # Hub id (amazon/chronos-t5-tiny ... -large) or a local directory
    temperature: float = 1.0
    top_k: int = 50  # upstream default; 0 disables
    top_p: float = 1.0
    batch_size: int = 250  # paths per sampling block (and per forward pass)
    device: str = "cpu"  # cpu | cuda | auto

    def __post_init__(self):
        check_sampling("chronos", self.temperature, self.top_k, self.top_p)
        if self.batch_size < 1:
            raise GeneratorError(f"chronos batch_size={self.batch_size} must be >= 1")

    @property
    def name(self) -> str:
        slug = Path(self.model.rstrip("/")).name.lower()
        slug = re.sub(r"^chronos-", "", re.sub(r"[^a-z0-9.-]+", "-", slug)).strip("-") or "model"
        return f"chronos-{slug}-T{self.temperature:g}"

    def _device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def prepare(self) -> None:
        """Load (and cache) the model now, so a bad --model fails before anything is written."""
        load_pipeline(self.model, self._device())

    def fit(self, context: Ohlcv, horizon_time: np.ndarray | None = None) -> FittedChronos:
        pipeline, provenance = load_pipeline(self.model, self._device())
        return FittedChronos(self, pipeline, provenance, np.asarray(context.close, np.float64),
                             bar_shapes(context), float(context.close[-1]))


def _refuse_quantile_models(model: str) -> None:
    if model_family(model) == "kronos":
        raise GeneratorError(f"{model!r} is a Kronos model, not Chronos; use --generators kronos --model {model}")
    low = model.lower()
    if "bolt" in low or "chronos-2" in low:
        kind = "Chronos-Bolt" if "bolt" in low else "Chronos-2"
        raise GeneratorError(
            f"{model!r} is a {kind} model: it predicts quantiles, not sample paths, so it cannot drive "
            "path-dependent backtests; use a Chronos-T5 model such as amazon/chronos-t5-small"
        )
    cfg = Path(model) / "config.json"
    if cfg.is_file():
        try:
            pipeline_class = json.loads(cfg.read_text()).get("chronos_pipeline_class", "ChronosPipeline")
        except json.JSONDecodeError:
            raise GeneratorError(f"{cfg} is not valid JSON; point --model at a Chronos-T5 model directory") from None
        if pipeline_class in _QUANTILE_ONLY:
            raise GeneratorError(
                f"{model!r} is a {_QUANTILE_ONLY[pipeline_class]} model: it predicts quantiles, not sample paths; "
                "use a Chronos-T5 model such as amazon/chronos-t5-small"
            )


_LOADED: dict = {}  # (model, device) -> (pipeline, provenance): load once per process


def load_pipeline(model: str, device: str = "cpu"):
    """A ChronosPipeline (T5) from a Hub id or local directory, plus provenance for the store."""
    key = (str(Path(model).resolve()) if Path(model).is_dir() else model, device)
    if key not in _LOADED:
        _LOADED[key] = _load_pipeline(model, device)
    return _LOADED[key]


def _load_pipeline(model: str, device: str):
    _refuse_quantile_models(model)
    local = Path(model).is_dir()
    offline = (f"could not load Chronos model {model!r} from the Hugging Face Hub (offline or unknown id); download it "
               "where the Hub is reachable and pass --model DIR, or fill the HF cache (HF_HOME)")
    source = model if local else str(hub_snapshot(model, ["*.json", "*.safetensors"], offline))
    try:
        pipeline, info = _pipeline_from_pretrained(source, device)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # a damaged checkpoint: safetensors header, config types, sizes
        if local:
            raise GeneratorError(
                f"could not load a Chronos-T5 model from {model!r} ({str(exc).splitlines()[0][:120]}); "
                "the directory needs config.json with a chronos_config block and the weights"
            ) from None
        raise GeneratorError(f"could not load Chronos model {model!r} from its Hub snapshot "
                             f"({str(exc).splitlines()[0][:120]}); clear it from the HF cache and fetch it again") from None
    problems = [f"{what} {_some(keys)}" for what, keys in (("missing", info.get("missing_keys")),
                                                          ("unexpected", info.get("unexpected_keys")),
                                                          ("shape-mismatched", info.get("mismatched_keys"))) if keys]
    if problems:  # transformers would fill these with random numbers: wrong forecasts, silently
        fix = ("config.json and the weights do not belong together, or the weights are incomplete; restore the "
               "checkpoint" if local else "clear it from the HF cache and fetch it again")
        raise GeneratorError(f"Chronos model {model!r}: the weights do not match the architecture "
                             f"({'; '.join(problems)}); {fix}")
    cfg = pipeline.model.config
    for key in ("prediction_length", "context_length"):
        v = getattr(cfg, key, None)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise GeneratorError(f"Chronos model {model!r}: chronos_config {key} = {v!r} must be a whole number >= 1; "
                                 "fix its config.json")
    provenance = {"model": model}
    if local:
        weights = sorted(Path(model).glob("*.safetensors")) or sorted(Path(model).glob("*.bin"))
        provenance["path"] = str(Path(model).resolve())
        provenance["weights_sha256"] = {w.name: _sha256(w) for w in weights}
    else:
        provenance["revision"] = getattr(pipeline.model.config, "_commit_hash", None) or getattr(
            pipeline.model.model.config, "_commit_hash", None)
    return pipeline, provenance


def _some(keys) -> str:
    """A few weight names, e.g. 'encoder.block.0...q.weight, ... (+3 more)'."""
    names = sorted(k if isinstance(k, str) else str(k[0]) for k in keys)
    return ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")


def _pipeline_from_pretrained(source: str, device: str):
    """ChronosPipeline.from_pretrained, but strict: (pipeline, transformers' loading info).

    Upstream loads the T5 non-strictly: a missing or mis-shaped weight is initialised at random and only a report
    (dozens of lines) is printed. Here the report is silenced and its keys returned, so the caller refuses them in one
    line. Shape mismatches are collected rather than raised (ignore_mismatched_sizes) for the same reason."""
    import torch
    from chronos import ChronosConfig, ChronosModel, ChronosPipeline
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM
    from transformers.utils import logging as hf_logging

    config = AutoConfig.from_pretrained(source)
    if not hasattr(config, "chronos_config"):
        raise ValueError("config.json has no chronos_config block")
    chronos_config = ChronosConfig(**config.chronos_config)
    auto = AutoModelForSeq2SeqLM if chronos_config.model_type == "seq2seq" else AutoModelForCausalLM
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()  # 'Loading weights: 100%' is not ours to print on stderr
    hf_logging.set_verbosity_error()  # the LOAD REPORT: its keys are refused in one line instead
    try:
        inner, info = auto.from_pretrained(source, device_map=device, dtype=torch.float32, output_loading_info=True,
                                           ignore_mismatched_sizes=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    pipeline = ChronosPipeline(tokenizer=chronos_config.create_tokenizer(),
                               model=ChronosModel(config=chronos_config, model=inner))
    return pipeline, info


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def block_seed(seed: int, name: str, block: int) -> int:
    ss = np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(name.encode()), block))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))  # torch seeds are < 2**63


@dataclass
class FittedChronos:
    spec: Chronos
    pipeline: object
    provenance: dict
    context: np.ndarray  # (n,) real closes
    shapes: BarShapes
    last_close: float
    repairs: int = 0  # non-positive sampled closes lifted to a floor, counted in this process
    segments: list = field(default_factory=list)

    def describe(self) -> dict:
        cfg = self.pipeline.model.config
        return {
            **self.provenance,
            "prediction_length": int(cfg.prediction_length),
            "context_length": int(cfg.context_length),
            "chained_sampling": "each path continues from its own samples",
            "segments": self.segments,
            "repairs": self.repairs,
        }

    def _plan_segments(self, horizon: int) -> list[dict]:
        pl, cl = int(self.pipeline.model.config.prediction_length), int(self.pipeline.model.config.context_length)
        out, done = [], 0
        while done < horizon:
            n = min(pl, horizon - done)
            used = min(cl, len(self.context) + done)
            out.append({"first_bar": done, "bars": n, "context_values": used,
                        "own_samples": min(done, used), "real_bars": used - min(done, used)})
            done += n
        return out

    def sample_block(self, horizon: int, seed: int, block: int) -> np.ndarray:
        """Closes (horizon, batch_size) of block `block`."""
        import torch

        spec, pipe = self.spec, self.pipeline
        kw = dict(temperature=spec.temperature, top_k=spec.top_k, top_p=spec.top_p, limit_prediction_length=True)
        ctx = torch.tensor(self.context, dtype=torch.float32)
        pieces = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(block_seed(seed, spec.name, block))
            for k, seg in enumerate(self._plan_segments(horizon)):
                if k == 0:  # one context, many samples: the encoder runs once
                    out = pipe.predict(ctx, prediction_length=seg["bars"], num_samples=spec.batch_size, **kw)[0]
                else:  # every path from its own history
                    own = torch.cat(pieces, dim=1)
                    series = torch.cat([ctx.expand(spec.batch_size, -1), own], dim=1)
                    out = pipe.predict(series, prediction_length=seg["bars"], num_samples=1, **kw)[:, 0]
                pieces.append(out)  # (batch, bars)
        return torch.cat(pieces, dim=1).T.numpy().astype(np.float64)

    def sample(self, horizon_bars: int, seed: int, start: int, stop: int) -> PathBatch:
        b = self.spec.batch_size
        self.segments = self._plan_segments(horizon_bars)
        blocks = range(start // b, (stop - 1) // b + 1)
        closes = np.hstack([self.sample_block(horizon_bars, seed, k) for k in blocks])
        closes = closes[:, start - blocks[0] * b : stop - blocks[0] * b]
        floor = 1e-4 * float(np.mean(self.context))
        bad = ~(closes > floor)
        if bad.any():
            self.repairs += int(bad.sum())
            closes = np.where(bad, floor, closes)
        prev = np.vstack([np.full((1, closes.shape[1]), self.last_close), closes[:-1]])
        log_returns = np.log(closes / prev)
        u = np.stack([r.random(horizon_bars) for r in path_rngs(seed, self.spec.name + "/bars", start, stop)], axis=1)
        return synthesize_bars(self.shapes, self.last_close, log_returns, u)


# Shapes of random-initialised models: "test" is a few hundred KB for unit tests;
# "tiny" has amazon/chronos-t5-tiny's architecture (8M parameters) for benchmarks.
RANDOM_SHAPES = {
    "test": dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, prediction_length=8, context_length=64),
    "tiny": dict(d_model=256, d_kv=64, d_ff=1024, num_layers=4, num_heads=4, prediction_length=64, context_length=512),
}


def save_random_chronos(path: str | Path, shape: str = "test", seed: int = 0) -> Path:
    """Save a random-initialised Chronos-T5 in the released layout (config.json with a
    chronos_config block + model.safetensors), loadable by ChronosPipeline.from_pretrained.
    For tests, benchmarks and trying the pipeline without the Hub; its forecasts are noise."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    s = dict(RANDOM_SHAPES[shape])
    pl, cl = s.pop("prediction_length"), s.pop("context_length")
    n_tokens = 4096
    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=n_tokens, num_decoder_layers=s["num_layers"], feed_forward_proj="relu",
                   pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, initializer_factor=0.05, **s)
    cfg.chronos_config = dict(
        tokenizer_class="MeanScaleUniformBins", tokenizer_kwargs={"low_limit": -15.0, "high_limit": 15.0},
        context_length=cl, prediction_length=pl, n_tokens=n_tokens, n_special_tokens=2, pad_token_id=0,
        eos_token_id=1, use_eos_token=True, model_type="seq2seq", num_samples=20, temperature=1.0, top_k=50, top_p=1.0,
    )
    T5ForConditionalGeneration(cfg).save_pretrained(path)
    return Path(path)
