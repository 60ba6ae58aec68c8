"""Shared fixtures: the bundled data, a small real CSV to corrupt, and a CLI runner."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from parallelverse.cli import main
from parallelverse.market import load_market


@pytest.fixture(scope="session")
def market():
    return load_market()


@pytest.fixture(scope="session")
def aapl(market):
    return market.select("AAPL")


@pytest.fixture
def aapl_frame(aapl) -> pd.DataFrame:
    """Real AAPL bars 2018-01-02 .. 2020-12-31 as a user's CSV would hold them (capitalised headers)."""
    d = aapl.dates()
    keep = (d >= "2018-01-01") & (d < "2021-01-01")
    return pd.DataFrame(
        {
            "Date": d[keep].strftime("%Y-%m-%d"),
            "Open": aapl.open[keep],
            "High": aapl.high[keep],
            "Low": aapl.low[keep],
            "Close": aapl.close[keep],
            "Volume": aapl.volume[keep],
        }
    )


@pytest.fixture
def run_cli():
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return run


def tree_digest(path: Path) -> str:
    """sha256 over every file name and content under `path`: detects any change to a store."""
    h = hashlib.sha256()
    for p in sorted(Path(path).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def log_returns(close: np.ndarray) -> np.ndarray:
    return np.diff(np.log(close), axis=0)


def build_tiny_chronos(path: Path, prediction_length: int = 8, context_length: int = 64, seed: int = 0) -> Path:
    """A random-initialised Chronos-T5 saved like the released ones (config.json + safetensors)."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    n_tokens = 4096
    cfg = T5Config(vocab_size=n_tokens, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
                   num_heads=4, feed_forward_proj="relu", pad_token_id=0, eos_token_id=1,
                   decoder_start_token_id=0, initializer_factor=0.05)
    cfg.chronos_config = dict(
        tokenizer_class="MeanScaleUniformBins", tokenizer_kwargs={"low_limit": -15.0, "high_limit": 15.0},
        context_length=context_length, prediction_length=prediction_length, n_tokens=n_tokens,
        n_special_tokens=2, pad_token_id=0, eos_token_id=1, use_eos_token=True, model_type="seq2seq",
        num_samples=20, temperature=1.0, top_k=50, top_p=1.0,
    )
    T5ForConditionalGeneration(cfg).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_chronos(tmp_path_factory) -> Path:
    pytest.importorskip("chronos")
    return build_tiny_chronos(tmp_path_factory.mktemp("models") / "tiny-chronos")
