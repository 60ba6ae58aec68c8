"""Scenario files: a stress scenario as a small TOML file people can share and review.

    description = "The 2020 crash, seeded in January 2020"
    data = "bundled"            # or a CSV/Parquet path, relative to this file
    symbol = "AAPL"
    seed_window = "2020-01"
    context = 400               # bars of context up to the window's last bar
    horizon = 252               # bars to generate
    n_paths = 2000              # per generator
    seed = 2020
    generators = ["garch", "bootstrap"]

    [garch]                     # parameters of one generator (optional)
    vol = "gjr"
    dist = "t"

Keys map one to one onto `generate` options; options given on the command line win.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from parallelverse.errors import ScenarioError
from parallelverse.generators import GENERATORS

# scenario key -> (GenerateRequest field, accepted types)
KEYS = {
    "description": (None, (str,)),
    "data": ("data", (str,)),
    "symbol": ("symbol", (str,)),
    "seed_window": ("seed_window", (str,)),
    "context": ("context_bars", (int,)),
    "horizon": ("horizon_bars", (int,)),
    "n_paths": ("n_paths", (int,)),
    "seed": ("seed", (int,)),
    "generators": ("generators", (list,)),
    "chunk_paths": ("chunk_paths", (int,)),
    "model": ("model", (str,)),
    "temperature": ("temperatures", (float, int, list)),
}


def load_scenario(path: str | Path) -> dict:
    """Parse and check a scenario; return GenerateRequest keyword arguments."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"scenario file {str(path)!r} does not exist; see scenarios/ for examples")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    out: dict = {}
    params: dict = {}
    for key, value in doc.items():
        if key in GENERATORS:
            if not isinstance(value, dict):
                raise ScenarioError(f"{path}: [{key}] should be a table of {key} parameters, got {value!r}")
            params[key] = dict(value)
            continue
        if key not in KEYS:
            known = ", ".join(list(KEYS) + [f"[{g}]" for g in GENERATORS])
            raise ScenarioError(f"{path}: unknown key {key!r}; known keys: {known}")
        target, types = KEYS[key]
        if not isinstance(value, types) or isinstance(value, bool):
            raise ScenarioError(
                f"{path}: {key} = {value!r} should be a {' or '.join(t.__name__ for t in types)}"
            )
        if key == "generators":
            if not value or not all(isinstance(v, str) for v in value):
                raise ScenarioError(f"{path}: generators should be a non-empty list of names, e.g. [\"garch\", \"bootstrap\"]")
            value = tuple(value)
        if key == "temperature":
            items = value if isinstance(value, list) else [value]
            if not items or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
                raise ScenarioError(f"{path}: temperature = {value!r} should be a number or a list of numbers")
            value = tuple(float(v) for v in items)
        if key == "data" and value != "bundled":
            value = str((path.parent / value).resolve()) if not Path(value).is_absolute() else value
        if key == "data" and value == "bundled":
            value = None
        if target:
            out[target] = value
    if params:
        out["generator_params"] = params
    if "seed_window" not in out:
        raise ScenarioError(f"{path}: missing seed_window; add e.g. seed_window = \"2020-01\"")
    return out
