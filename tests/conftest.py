"""Shared fixtures: the bundled data, the README's seed split and store, a small real CSV to corrupt, and a CLI runner."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from parallelverse.cli import main
from parallelverse.market import load_market
from parallelverse.window import parse_seed_window, split_at_window


@pytest.fixture(scope="session")
def market():
    return load_market()


@pytest.fixture(scope="session")
def aapl(market):
    return market.select("AAPL")


@pytest.fixture(scope="session")
def aapl_split(aapl):
    """AAPL cut at the end of January 2020, the README's seed window: aapl_split(context_bars, horizon_bars)."""

    @functools.cache
    def split(context_bars: int = 400, horizon_bars: int = 252):
        return split_at_window(aapl, parse_seed_window("2020-01"), context_bars, horizon_bars)

    return split


@pytest.fixture(scope="session")
def readme_run(tmp_path_factory):
    """The README's first command, `parallelverse generate --seed-window 2020-01` (defaults: Kronos, GARCH and
    bootstrap, 2,000 paths each), run once per session from an empty directory: (directory, JSON summary).

    Read-only: tests that change the store take a copy (`readme_store`)."""
    d = tmp_path_factory.mktemp("readme")
    before = os.getcwd()
    os.chdir(d)
    try:
        result = CliRunner().invoke(main, ["generate", "--seed-window", "2020-01", "--json"], catch_exceptions=False)
    finally:
        os.chdir(before)
    assert result.exit_code == 0, result.output
    return d, json.loads(result.stdout)


@pytest.fixture(scope="module")
def readme_store(readme_run, tmp_path_factory) -> Path:
    """A private copy of the README's store for one test module: <empty directory>/AAPL_2020-01.zarr."""
    d, summary = readme_run
    copy = tmp_path_factory.mktemp("readme-copy") / summary["store"]
    shutil.copytree(d / summary["store"], copy)
    return copy


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


def one_line(result) -> str:
    """The one line of a command that failed as it should: non-zero exit, one line on stderr."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1, result.output
    return lines[0]


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


@pytest.fixture(scope="session")
def tiny_kronos(tmp_path_factory) -> Path:
    """test_kronos' tiny random Kronos, saved by the official classes (a directory our loader reads)."""
    torch = pytest.importorskip("torch")
    official = pytest.importorskip("model", reason="kronos-model-arch (the official Kronos code) is a test dependency")
    from test_kronos import PRED, TOK

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("kronos") / "tiny-kronos"
    official.KronosTokenizer(**TOK).save_pretrained(d / "tokenizer")
    official.Kronos(**PRED).save_pretrained(d / "predictor")
    return d
