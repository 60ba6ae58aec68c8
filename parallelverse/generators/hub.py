"""Model files from the Hugging Face Hub: the cache first, the network only when it answers.

huggingface_hub retries an unreachable Hub five times with back-off, printing a line per
try (about 25 s of noise before our one-line error). A cached snapshot is used without
touching the network; otherwise one short TCP probe of the Hub's endpoint decides whether
to ask it at all. HF_HUB_OFFLINE is honoured as huggingface_hub honours it.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlparse

from parallelverse.errors import GeneratorError

PROBE_TIMEOUT_S = 3.0


def hub_snapshot(ref: str, allow_patterns: list[str], offline_message: str) -> Path:
    """The local directory of Hub repo `ref` holding `allow_patterns`; GeneratorError(offline_message) when it is
    neither cached nor fetchable."""
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(ref, allow_patterns=allow_patterns, local_files_only=True))
    except Exception:
        pass
    if constants.HF_HUB_OFFLINE or not _reachable(constants.ENDPOINT):
        raise GeneratorError(offline_message)
    try:
        return Path(snapshot_download(ref, allow_patterns=allow_patterns))
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception:
        raise GeneratorError(offline_message) from None


def _reachable(endpoint: str) -> bool:
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def is_hub_id(ref: str) -> bool:
    """`owner/name`, the shape of a Hub id (a local path may have it too: callers look on disk first)."""
    return ref.count("/") == 1 and not ref.startswith((".", "/", "~")) and all(ref.split("/"))


def model_family(ref: str) -> str | None:
    """"chronos" or "kronos" when a --model reference is recognisably one of them (by its files, or by a Hub id's
    name), else None: so that a model given to the other generator is named as what it is."""
    p = Path(ref)
    if p.is_dir():
        if (p / "predictor").is_dir() or (p / "tokenizer").is_dir():
            return "kronos"
        try:
            cfg = json.loads((p / "config.json").read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(cfg, dict):
            return None
        return "chronos" if "chronos_config" in cfg or "chronos_pipeline_class" in cfg else \
            "kronos" if "s1_bits" in cfg else None
    if p.exists() or not is_hub_id(ref):
        return None
    low = ref.lower()
    return "chronos" if "chronos" in low else "kronos" if "kronos" in low else None
