"""Loading Kronos checkpoints: Hub ids (cached by huggingface_hub) or local directories.

A checkpoint directory holds `config.json` (the constructor's keyword arguments) and
`model.safetensors`, the layout of the official NeoQuasar/Kronos-* repositories.
Weights load strictly: a missing or unexpected key is an error naming it (the
official mixin loads non-strictly and hides such mistakes).

`--model` may name a predictor (Hub id or directory), with the tokenizer found as
- the official pairing for Hub ids (Kronos-mini -> Kronos-Tokenizer-2k, small/base ->
  Kronos-Tokenizer-base), or
- a `tokenizer/` directory beside `predictor/` when `--model` is a directory holding
  both (what `parallelverse train` writes), or
- the generator's `tokenizer` parameter.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from parallelverse.errors import GeneratorError
from parallelverse.generators.hub import hub_snapshot, is_hub_id, model_family

HUB_TOKENIZERS = {
    "NeoQuasar/Kronos-mini": "NeoQuasar/Kronos-Tokenizer-2k",
    "NeoQuasar/Kronos-small": "NeoQuasar/Kronos-Tokenizer-base",
    "NeoQuasar/Kronos-base": "NeoQuasar/Kronos-Tokenizer-base",
}
HUB_MAX_CONTEXT = {"NeoQuasar/Kronos-mini": 2048}
DEFAULT_MAX_CONTEXT = 512
MAX_SIZE = 16_384  # any width, head count, layer count or bit count of a Kronos config is far below this


def _local_or_hub(ref: str) -> Path:
    p = Path(ref)
    if p.is_dir():
        return p
    if p.exists() or ref.startswith((".", "/")) or ref.count("/") != 1:
        raise GeneratorError(f"Kronos checkpoint {ref!r} is neither a directory nor a Hub id like NeoQuasar/Kronos-small")
    return hub_snapshot(ref, ["config.json", "model.safetensors"],
                        f"could not fetch {ref!r} from the Hugging Face Hub (offline or unknown id); download it where "
                        "the Hub is reachable and pass --model DIR, or fill the HF cache (HF_HOME)")


# parallelverse.json: what `train` declares for sampling, each key's check (value -> ok) and what it must be
_DECLARED = {
    "max_context": (lambda v: _whole(v) and v >= 1, "a whole number of tokens >= 1"),
    "norm_window": (lambda v: _whole(v) and v >= 0, "a whole number of bars >= 0"),
    "renorm_every": (lambda v: _whole(v) and v >= 0, "a whole number of bars >= 0"),
    "window_slide": (lambda v: _whole(v) and v >= 0, "a whole number of tokens >= 0"),
    "representation": (lambda v: isinstance(v, str), "a representation name"),
    "drift_prior_sd": (lambda v: _number(v) and 0 <= v <= 2, "a number from 0 to 2"),
    "vol_regime_sd": (lambda v: _number(v) and 0 <= v <= 2, "a number from 0 to 2"),
    "train_start": (lambda v: v is None or _iso_date(v), "a date like \"2019-12-31\", or null"),
    "train_end": (lambda v: v is None or _iso_date(v), "a date like \"2019-12-31\", or null"),
}


def _iso_date(v) -> bool:
    import datetime

    try:
        datetime.date.fromisoformat(v[:10]) if isinstance(v, str) else None
        return isinstance(v, str)
    except ValueError:
        return False


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _json_object(path: Path, original: str, holds: str) -> dict:
    """A checkpoint's JSON file as a dict, or one line naming the file and what to restore."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GeneratorError(f"{path}: not readable JSON ({str(exc).splitlines()[0][:80]}); restore {original}") from None
    if not isinstance(doc, dict):
        raise GeneratorError(f"{path}: should hold an object of {holds}, got {type(doc).__name__}")
    return doc


def sampling_defaults(model: str) -> dict:
    """Defaults a trained checkpoint records for sampling (parallelverse.json: max_context, norm_window, ...),
    each checked: a damaged or hand-edited file is one line naming the key, never a silent fallback."""
    f = Path(model) / "parallelverse.json"
    if not f.is_file():
        return {}
    doc = _json_object(f, "the file `train` wrote", "sampling settings")
    for key, value in doc.items():
        if key not in _DECLARED:
            raise GeneratorError(f"{f}: unknown key {key!r}; known: {', '.join(_DECLARED)}")
        ok, what = _DECLARED[key]
        if not ok(value):
            raise GeneratorError(f"{f}: {key} = {value!r} should be {what}")
    return doc


def check_training_finished(checkpoint: Path) -> None:
    """A directory `parallelverse train` is still writing (or was interrupted in) holds the best weights so far, not
    the recipe's: refuse it until the same train command finishes. training.json records each stage's steps and
    whether it is done; a stage the run never trained (--stage tokenizer, no --init) holds untrained weights."""
    f = checkpoint / "training.json"
    if not f.is_file():
        return
    doc = _json_object(f, "the file `train` wrote", "the training record")
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    for stage in ("tokenizer", "predictor"):
        rec = doc.get(stage)
        if isinstance(rec, dict) and rec.get("done") is not True:
            total = (doc.get("config") or {}).get("predictor_steps" if stage == "predictor" else "steps") or \
                (doc.get("config") or {}).get("steps")
            raise GeneratorError(f"{str(checkpoint)!r} is from an unfinished `parallelverse train` run ({stage} at step "
                                 f"{rec.get('step')} of {total}); rerun the same train command to finish it")
        if rec is None and stage == "predictor" and meta.get("stages") and stage not in meta["stages"] \
                and not meta.get("init"):
            raise GeneratorError(f"{str(checkpoint)!r} has no trained predictor (`train` ran --stage "
                                 f"{', '.join(meta['stages'])}); train it with --stage predictor (same --out) first")


def resolve(model: str, tokenizer: str = "") -> tuple[Path, Path, int]:
    """(predictor dir, tokenizer dir, max_context) for a model reference."""
    p = Path(model)
    if model_family(model) == "chronos":
        raise GeneratorError(f"{model!r} is a Chronos model, not Kronos; use --generators chronos --model {model}")
    if p.is_dir() and (p / "predictor").is_dir():
        pred_dir, tok_dir = p / "predictor", Path(tokenizer) if tokenizer else p / "tokenizer"
        if not tokenizer and not tok_dir.is_dir():
            raise GeneratorError(f"{model!r} has predictor/ but no tokenizer/; add it or pass --set kronos.tokenizer=DIR")
        check_training_finished(p)
        return pred_dir, _local_or_hub(str(tok_dir)), int(sampling_defaults(model).get("max_context", DEFAULT_MAX_CONTEXT))
    if p.is_dir() and (p / "tokenizer").is_dir():
        raise GeneratorError(f"{model!r} has tokenizer/ but no predictor/; a Kronos checkpoint directory holds both "
                             "(as `parallelverse train` writes them)")
    flat = p.is_dir() and (p / "config.json").is_file() and (p / "model.safetensors").is_file()
    if flat and not tokenizer:  # one module in the Hub layout: the predictor, its tokenizer elsewhere
        raise GeneratorError(f"{model!r} holds one Kronos module (config.json + model.safetensors), read as the "
                             "predictor, but no tokenizer; pass it with --set kronos.tokenizer=DIR_OR_HUB_ID (sampling "
                             "settings come from a parallelverse.json beside config.json, if any)")
    if p.is_dir() and not tokenizer:
        raise GeneratorError(f"{model!r} is not a Kronos checkpoint: it has neither predictor/ nor tokenizer/ nor "
                             "config.json + model.safetensors; pass --model with the directory `parallelverse train` "
                             "wrote, or a Hub id")
    if p.exists() and not p.is_dir():
        raise GeneratorError(f"--model {model!r} is a file; pass a checkpoint directory (with predictor/ and "
                             "tokenizer/) or a Hub id like NeoQuasar/Kronos-small")
    if p.is_dir():
        return p, _local_or_hub(tokenizer), int(sampling_defaults(model).get("max_context", DEFAULT_MAX_CONTEXT))
    if not is_hub_id(model):
        raise GeneratorError(f"--model {model!r} does not exist; pass a checkpoint directory or a Hub id like "
                             "NeoQuasar/Kronos-small")
    # owner/name and no such directory: a Hub id, or a mistyped path; the model first, so that neither is taken
    # for a model that merely lacks a known tokenizer
    unknown = "" if model in HUB_TOKENIZERS else "no such directory, and "
    pred_dir = hub_snapshot(model, ["config.json", "model.safetensors"],
                            f"--model {model!r}: {unknown}could not fetch it from the Hugging Face Hub (offline or "
                            "unknown id), nor find it in the HF cache; download it where the Hub is reachable and "
                            "pass --model DIR, or fill the HF cache (HF_HOME)")
    tok_ref = tokenizer or HUB_TOKENIZERS.get(model, "")
    if not tok_ref:
        raise GeneratorError(f"no tokenizer known for {model!r}; pass --set kronos.tokenizer=DIR_OR_HUB_ID")
    return pred_dir, _local_or_hub(tok_ref), HUB_MAX_CONTEXT.get(model, DEFAULT_MAX_CONTEXT)


def load_module(cls, directory: Path, what: str):
    """Build `cls` from config.json and load model.safetensors strictly."""
    import torch
    from safetensors.torch import load_file

    cfg_path, weights = directory / "config.json", directory / "model.safetensors"
    if not cfg_path.is_file() or not weights.is_file():
        raise GeneratorError(f"{what} directory {str(directory)!r} needs config.json and model.safetensors")
    config = _json_object(cfg_path, f"the {what}'s config.json", f"{what} settings")
    unknown = sorted(set(config) - set(cls.CONFIG))
    missing = sorted(set(cls.CONFIG) - set(config))
    if unknown or missing:
        raise GeneratorError(f"{cfg_path}: {what} config has unknown keys {unknown} / lacks {missing}; "
                             f"expected exactly {', '.join(cls.CONFIG)}")
    for key, value in config.items():  # sizes are whole numbers within reason before anything is allocated
        rate = key.endswith("_p") or key in ("beta", "gamma0", "gamma", "zeta")
        if rate and not (_number(value) and value >= 0) or key == "learn_te" and not isinstance(value, bool):
            raise GeneratorError(f"{cfg_path}: {what} {key} = {value!r} should be a number >= 0")
        if not rate and key != "learn_te" and not (_whole(value) and 0 < value <= MAX_SIZE):
            raise GeneratorError(f"{cfg_path}: {what} {key} = {value!r} should be a whole number from 1 to {MAX_SIZE:,}")
    try:
        module = cls(**config)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        raise GeneratorError(f"{cfg_path}: {what} cannot be built ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:100] if str(exc) else ''})") from None
    try:
        state = load_file(str(weights))
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        raise GeneratorError(f"{weights}: the {what} weights are damaged or not safetensors ({type(exc).__name__}); "
                             "restore the file") from None
    own = module.state_dict()
    for key, tensor in state.items():
        if key in own and tuple(own[key].shape) != tuple(tensor.shape):
            raise GeneratorError(f"{weights}: {what} tensor {key} has shape {tuple(tensor.shape)}, the config implies "
                                 f"{tuple(own[key].shape)}; config.json and the weights do not belong together")
    result = module.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise GeneratorError(
            f"{weights}: {what} weights do not match the architecture — missing {result.missing_keys[:5]}"
            f"{'...' if len(result.missing_keys) > 5 else ''}, unexpected {result.unexpected_keys[:5]}"
            f"{'...' if len(result.unexpected_keys) > 5 else ''}"
        )
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module.to(torch.float32)


def save_module(module, directory: str | Path) -> Path:
    """config.json + model.safetensors, the Hub layout."""
    from safetensors.torch import save

    from parallelverse.files import write_bytes_atomic, write_text_atomic

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)  # each file whole or absent: a killed run never leaves a truncated one
    write_text_atomic(d / "config.json", json.dumps(module.config, indent=2))
    write_bytes_atomic(d / "model.safetensors", save({k: v.contiguous() for k, v in module.state_dict().items()}))
    return d
