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
from pathlib import Path

from parallelverse.errors import GeneratorError

HUB_TOKENIZERS = {
    "NeoQuasar/Kronos-mini": "NeoQuasar/Kronos-Tokenizer-2k",
    "NeoQuasar/Kronos-small": "NeoQuasar/Kronos-Tokenizer-base",
    "NeoQuasar/Kronos-base": "NeoQuasar/Kronos-Tokenizer-base",
}
HUB_MAX_CONTEXT = {"NeoQuasar/Kronos-mini": 2048}
DEFAULT_MAX_CONTEXT = 512


def _local_or_hub(ref: str) -> Path:
    p = Path(ref)
    if p.is_dir():
        return p
    if p.exists() or ref.startswith((".", "/")) or ref.count("/") != 1:
        raise GeneratorError(f"Kronos checkpoint {ref!r} is neither a directory nor a Hub id like NeoQuasar/Kronos-small")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(ref, allow_patterns=["config.json", "model.safetensors"]))
    except Exception:
        raise GeneratorError(
            f"could not fetch {ref!r} from the Hugging Face Hub (offline or unknown id); download it where the Hub is "
            "reachable and pass --set kronos.model=DIR, or fill the HF cache (HF_HOME)"
        ) from None


def sampling_defaults(model: str) -> dict:
    """Defaults a trained checkpoint records for sampling (parallelverse.json: max_context, norm_window)."""
    f = Path(model) / "parallelverse.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def resolve(model: str, tokenizer: str = "") -> tuple[Path, Path, int]:
    """(predictor dir, tokenizer dir, max_context) for a model reference."""
    p = Path(model)
    if p.is_dir() and (p / "predictor").is_dir():
        pred_dir, tok_dir = p / "predictor", Path(tokenizer) if tokenizer else p / "tokenizer"
        if not tokenizer and not tok_dir.is_dir():
            raise GeneratorError(f"{model!r} has predictor/ but no tokenizer/; add it or pass --set kronos.tokenizer=DIR")
        return pred_dir, _local_or_hub(str(tok_dir)), int(sampling_defaults(model).get("max_context", DEFAULT_MAX_CONTEXT))
    tok_ref = tokenizer or HUB_TOKENIZERS.get(model, "")
    if not tok_ref:
        raise GeneratorError(f"no tokenizer known for {model!r}; pass --set kronos.tokenizer=DIR_OR_HUB_ID")
    return _local_or_hub(model), _local_or_hub(tok_ref), HUB_MAX_CONTEXT.get(model, DEFAULT_MAX_CONTEXT)


def load_module(cls, directory: Path, what: str):
    """Build `cls` from config.json and load model.safetensors strictly."""
    import torch
    from safetensors.torch import load_file

    cfg_path, weights = directory / "config.json", directory / "model.safetensors"
    if not cfg_path.is_file() or not weights.is_file():
        raise GeneratorError(f"{what} directory {str(directory)!r} needs config.json and model.safetensors")
    config = json.loads(cfg_path.read_text())
    unknown = sorted(set(config) - set(cls.CONFIG))
    missing = sorted(set(cls.CONFIG) - set(config))
    if unknown or missing:
        raise GeneratorError(f"{cfg_path}: {what} config has unknown keys {unknown} / lacks {missing}; "
                             f"expected exactly {', '.join(cls.CONFIG)}")
    try:
        module = cls(**config)
    except ValueError as exc:
        raise GeneratorError(f"{cfg_path}: {exc}") from None
    state = load_file(str(weights))
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
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(module.config, indent=2))
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(d / "model.safetensors"))
    return d
