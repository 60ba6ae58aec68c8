"""Generators of synthetic futures, by name. See `base` for the shared interface."""

from __future__ import annotations

from parallelverse.bars import PathBatch
from parallelverse.errors import GeneratorError
from parallelverse.generators.base import Fitted, Generator, params_of, spec_from_params
from parallelverse.generators.bootstrap import Bootstrap
from parallelverse.generators.chronos import Chronos
from parallelverse.generators.garch import Garch
from parallelverse.generators.kronos import Kronos
from parallelverse.market import Ohlcv

GENERATORS = {"garch": Garch, "bootstrap": Bootstrap, "chronos": Chronos, "kronos": Kronos}
MODEL_GENERATORS = ("chronos", "kronos")  # take --model and --temperature
# Kronos is not a default: on the 66 held-out cells (2020-01 .. 2022-07) the shipped model's final-price CRPS is above
# GARCH's at 63 and 252 bars and its 252-bar tails miss; see README, "Why Kronos is not a default generator".
# `--generators kronos` runs it.
DEFAULT_GENERATORS = ("garch", "bootstrap")


def model_digest(generator: Generator) -> str | None:
    """What identifies a model generator's weights (a replaced checkpoint must not resume a universe or reuse a
    calibration cell made with the old one): for a local model directory, sha256 over its weight and config files
    (.safetensors, .json, .bin, at any depth, linked sub-folders followed) taken in sorted order of their path
    relative to the directory, each as "<role>/<relative path>" then its bytes (role "model", or "tokenizer" for a
    Kronos tokenizer outside the model directory) -- so two copies of a checkpoint have one digest however they were
    made; the id for a Hub model; None for generators without a model."""
    import hashlib
    import os
    from pathlib import Path

    model = getattr(generator, "model", None)
    if not model:
        return None
    parts = [("model", str(model))]
    tokenizer = getattr(generator, "tokenizer", None)  # Kronos: a tokenizer may live outside the model directory
    if tokenizer and str(tokenizer) != str(model):
        parts.append(("tokenizer", str(tokenizer)))
    h = hashlib.sha256()
    local = False
    for role, ref in parts:
        p = Path(ref)
        if not p.is_dir():
            h.update(f"{role}={ref}".encode())  # a Hub id
            continue
        local = True
        files = []
        for root, dirs, names in os.walk(p, followlinks=True):  # a linked predictor/ is part of the checkpoint too
            dirs.sort()
            files += [Path(root, n).relative_to(p).as_posix() for n in names
                      if Path(n).suffix in (".safetensors", ".json", ".bin")]
        for rel in sorted(files):  # not the file system's listing order
            h.update(f"{role}/{rel}".encode())
            h.update((p / rel).read_bytes())
    if not local and len(parts) == 1:
        return str(model)  # a Hub id names its weights
    return h.hexdigest()


def make_generator(name: str, params: dict | None = None) -> Generator:
    """A generator spec from its name and parameters, e.g. make_generator("garch", {"vol": "egarch"})."""
    if name not in GENERATORS:
        raise GeneratorError(f"unknown generator {name!r}; choose from {', '.join(GENERATORS)}")
    return spec_from_params(GENERATORS[name], name, dict(params or {}))


def sample_paths(generator: Generator, context: Ohlcv, horizon_bars: int, n_paths: int, seed: int) -> PathBatch:
    """Fit on `context` and return n_paths paths in one batch, each field (horizon_bars, n_paths)."""
    return generator.fit(context).sample(horizon_bars, seed, 0, n_paths)


__all__ = [
    "GENERATORS", "DEFAULT_GENERATORS", "MODEL_GENERATORS", "Bootstrap", "Chronos", "Kronos", "Fitted", "Garch", "Generator",
    "make_generator", "model_digest", "params_of", "sample_paths",
]
