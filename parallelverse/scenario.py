"""Scenario files: a stress scenario as a small TOML file people can share and review.

    description = "The 2020 crash, seeded in January 2020"
    data = "bundled"            # or a CSV/Parquet path, beside this file (see below)
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

Paths in a scenario (`data`, `model`, a generator table's `model` / `tokenizer`) are relative to the file, not to
the working directory, so a scenario and its files travel together. `model` / `tokenizer` of the form owner/name
with nothing of that name beside the file are Hub ids. There is no working-directory fallback: a relative path
found there but not beside the file is refused, naming both places.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

from parallelverse import inputs
from parallelverse.errors import InputError, ScenarioError
from parallelverse.errors import GeneratorError
from parallelverse.generators import GENERATORS, make_generator
from parallelverse.generators.hub import is_hub_id

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
    "top_k": ("top_k", (int,)),
    "top_p": ("top_p", (float, int)),
    "device": ("device", (str,)),
    "accept_splits": ("accept_splits", (bool,)),
}
# numeric keys -> the bound of the matching command-line option (one rule for both)
BOUNDS = {
    "context": inputs.CONTEXT_BARS, "horizon": inputs.HORIZON_BARS, "n_paths": inputs.N_PATHS, "seed": inputs.SEED,
    "chunk_paths": inputs.CHUNK_PATHS, "temperature": inputs.TEMPERATURE, "top_k": inputs.TOP_K, "top_p": inputs.TOP_P,
}
DEVICES = ("auto", "cpu", "cuda")
PATH_PARAMS = ("model", "tokenizer")  # generator-table keys that name a checkpoint directory (or a Hub id)


def load_scenario(path: str | Path) -> dict:
    """Parse and check a scenario; return GenerateRequest keyword arguments. A seed window may come from the
    command line instead (`generate` checks one is given)."""
    out, _ = _parse(Path(path))
    return out


def _toml(value) -> str:
    """A value as TOML writes it (true, not True; "text"; 2020-01-01, not datetime.date(...)), for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return repr(value)


def beside(path: Path, key: str, value: str, hub_id_ok: bool = False) -> str:
    """A path written in scenario `path`, resolved beside the file: the one rule for every path a scenario holds.
    With `hub_id_ok`, an owner/name that names nothing beside the file stays as written (a Hub id). A relative path
    that exists only in the working directory is refused rather than silently used."""
    if Path(value).is_absolute():
        return value
    here = path.parent / value
    if here.exists():
        return str(here.resolve())
    if Path(value).exists() and Path.cwd().resolve() != path.parent.resolve():
        raise ScenarioError(f"{path}: {key} = {_toml(value)} is not beside the scenario file ({str(here)!r} does not "
                            f"exist) but is in the working directory; paths in a scenario are relative to its file: "
                            f"write it relative to {str(path.parent)!r}, or absolute")
    return value if hub_id_ok and is_hub_id(value) else str(here.resolve())


def _parse(path: Path) -> tuple[dict, dict]:
    """(GenerateRequest keyword arguments, the [calibrate] table) of a scenario file."""
    if path.is_dir():
        raise ScenarioError(f"--scenario {str(path)!r} is a directory; pass a .toml file, e.g. scenarios/covid-2020.toml")
    if not path.is_file():
        raise ScenarioError(f"scenario file {str(path)!r} does not exist; see scenarios/ for examples")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a BOM (Notepad, Excel) is not TOML syntax
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                            "save it as UTF-8") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot be read ({exc.strerror or exc}); check its permissions") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    out: dict = {}
    params: dict = {}
    for key, value in doc.items():
        if key == "calibrate":  # read by load_calibrate_scenario; generate ignores it
            if not isinstance(value, dict):
                raise ScenarioError(f"{path}: calibrate should be a table of calibrate settings, got {value!r}")
            continue
        if key in GENERATORS:
            if not isinstance(value, dict):
                raise ScenarioError(f"{path}: [{key}] should be a table of {key} parameters, got {value!r}")
            table = dict(value)
            for name, v in table.items():
                if isinstance(v, float) and not math.isfinite(v):
                    raise ScenarioError(f"{path}: [{key}] {name} = {v} is not a finite number; give a finite value")
                if name in PATH_PARAMS and isinstance(v, str) and v.strip():
                    table[name] = beside(path, f"[{key}] {name}", v, hub_id_ok=True)
            try:  # names, types and choices now, so the message can name this file and table
                make_generator(key, table)
            except GeneratorError as exc:
                raise ScenarioError(f"{path}: in the [{key}] table: {exc}") from None
            params[key] = table
            continue
        if key not in KEYS:
            known = ", ".join(list(KEYS) + [f"[{g}]" for g in GENERATORS])
            raise ScenarioError(f"{path}: unknown key {key!r}; known keys: {known}")
        target, types = KEYS[key]
        if str in types and hasattr(value, "isoformat"):  # seed_window = 2020-01-01 is a TOML date
            raise ScenarioError(f"{path}: {key} = {_toml(value)} is a TOML date, not text; quote it: "
                                f"{key} = \"{_toml(value)}\"")
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ScenarioError(f"{path}: {key} = {_toml(value)} should be {_kinds(types)}")
        if key == "generators":
            if not value or not all(isinstance(v, str) for v in value):
                raise ScenarioError(f"{path}: generators should be a non-empty list of names, e.g. [\"garch\", \"bootstrap\"]")
            value = tuple(value)
        if key == "temperature":
            items = value if isinstance(value, list) else [value]
            if not items or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
                raise ScenarioError(f"{path}: temperature = {value!r} should be a number or a list of numbers")
            value = tuple(float(v) for v in items)
        if key in BOUNDS:
            bound = BOUNDS[key]
            try:
                value = (tuple(bound.check(v, f"{path}: {key} = {v}") for v in value) if isinstance(value, tuple)
                         else bound.check(value, f"{path}: {key} = {value}"))
            except InputError as exc:
                raise ScenarioError(str(exc).replace(f"e.g. {bound.option} ", f"e.g. {key} = ")) from None
        if key == "device" and value not in DEVICES:
            raise ScenarioError(f"{path}: device = {value!r} should be one of {', '.join(DEVICES)}")
        if key == "data":
            value = None if value == "bundled" else beside(path, key, value)
        if key == "model" and value.strip():
            value = beside(path, key, value, hub_id_ok=True)
        if target:
            out[target] = value
    if params:
        out["generator_params"] = params
    return out, doc.get("calibrate", {})


# [calibrate] key -> (CalibrateRequest field, accepted types); the top-level keys above apply too
CALIBRATE_KEYS = {
    "symbols": ("symbols", (list,)),
    "windows": ("windows", (str,)),
    "every": ("every", (str,)),
    "horizons": ("horizons", (list,)),
    "generators": ("generators", (list,)),
    "n_paths": ("n_paths", (int,)),
    "seed": ("seed", (int,)),
    "context": ("context_bars", (int,)),
    "out": ("out", (str,)),
    "workers": ("workers", (int,)),
    "include_in_sample": ("include_in_sample", (bool,)),
    "accept_splits": ("accept_splits", (bool,)),
}
_TO_CALIBRATE = {"data": "data", "context_bars": "context_bars", "n_paths": "n_paths", "seed": "seed",
                 "generators": "generators", "model": "model", "generator_params": "generator_params",
                 "accept_splits": "accept_splits"}


def load_calibrate_scenario(path: str | Path) -> dict:
    """CalibrateRequest keyword arguments: the scenario's data, symbol, context, n_paths, seed, generators, model and
    generator tables, then its [calibrate] table (which wins). seed_window is not needed (calibrate has windows)."""
    path = Path(path)
    top, table = _parse(path)
    out = {_TO_CALIBRATE[k]: v for k, v in top.items() if k in _TO_CALIBRATE}
    if "symbol" in top:
        out["symbols"] = (top["symbol"],)
    for key, value in table.items():
        if key not in CALIBRATE_KEYS:
            raise ScenarioError(f"{path}: unknown key {key!r} in the calibrate table; known keys: {', '.join(CALIBRATE_KEYS)}")
        target, types = CALIBRATE_KEYS[key]
        if str in types and hasattr(value, "isoformat"):
            raise ScenarioError(f"{path}: calibrate.{key} = {_toml(value)} is a TOML date, not text; quote it: "
                                f"{key} = \"{_toml(value)}\"")
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ScenarioError(f"{path}: calibrate.{key} = {_toml(value)} should be {_kinds(types)}")
        if key in ("symbols", "generators") and (not value or not all(isinstance(v, str) for v in value)):
            example = '["AAPL", "MSFT"]' if key == "symbols" else '["garch", "bootstrap"]'
            raise ScenarioError(f"{path}: calibrate.{key} should be a non-empty list of names, e.g. {example}")
        if key == "horizons" and (not value or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            raise ScenarioError(f"{path}: calibrate.horizons should be a list of bar counts, e.g. [21, 63, 252]")
        out[target] = tuple(value) if isinstance(value, list) else value
    if out.get("symbols") and [s.lower() for s in out["symbols"]] == ["all"]:
        out["symbols"] = None
    return out


_KIND = {"int": "a whole number", "float": "a number", "str": "text (quoted)", "bool": "true or false", "list": "a list"}


def _kinds(types: tuple) -> str:
    """'a whole number or a number', in words a TOML writer knows (not 'a int')."""
    return " or ".join(_KIND.get(t.__name__, t.__name__) for t in types)
