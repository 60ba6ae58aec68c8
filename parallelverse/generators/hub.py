"""Model files from the Hugging Face Hub: the cache first, the network only when it answers.

huggingface_hub retries an unreachable Hub five times with back-off, printing a line per
try (about 25 s of noise before our one-line error). A cached snapshot is used without
touching the network; otherwise one short TCP probe of the Hub's endpoint decides whether
to ask it at all. HF_HUB_OFFLINE is honoured as huggingface_hub honours it.
"""

from __future__ import annotations

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
