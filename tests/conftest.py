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


@pytest.fixture(scope="session")
def tiny_chronos(tmp_path_factory) -> Path:
    pytest.importorskip("chronos")
    from parallelverse.generators.chronos import save_random_chronos

    return save_random_chronos(tmp_path_factory.mktemp("models") / "tiny-chronos", shape="test")
