"""A store on disk: open or create it, and reach its history, universes and results.

`open_store(path, split)` is generate's door (creates the store, or reopens the one
made from the same split); `read_store(path)` is the door of every later stage.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zarr

from parallelverse.errors import StoreError
from parallelverse.store.history import FORMAT, describe_identity, read_split, store_identity, write_history
from parallelverse.store.results import Results, ResultsWriter, read_results, result_names
from parallelverse.store.universes import Universe, UniverseSpec, UniverseWriter, list_universes, prepare_universe, universe_of
from parallelverse.window import SeedSplit


@dataclass(frozen=True)
class Store:
    path: Path
    root: zarr.Group = field(repr=False, compare=False)

    def split(self) -> SeedSplit:
        """The real bars around the cut, as `generate` split them."""
        names = self.universe_names()
        return read_split(self.root, self.universe(names[0]).time if names else None)

    def universe_names(self) -> list[str]:
        return list_universes(self.root)

    def universe(self, name: str) -> Universe:
        return universe_of(self.root, name)

    def prepare_universe(self, spec: UniverseSpec, horizon_time: np.ndarray) -> UniverseWriter:
        """Create universes/<name> or reopen it to resume; `.pending` lists the chunks still to write."""
        return prepare_universe(self.root, spec, horizon_time)

    def result_names(self) -> list[str]:
        """Strategies with results in the store."""
        return result_names(self.root)

    def results(self, strategy: str) -> Results:
        return read_results(self.path, strategy)

    def results_writer(self, strategy: str) -> ResultsWriter:
        return ResultsWriter(self.root, self.path, strategy)


def open_store(path: str | Path, split: SeedSplit, overwrite: bool = False) -> Store:
    """Open the store for `split`, creating it (with its history group) if needed.

    Refuses a store made from other data, window, context or horizon unless
    `overwrite`, which deletes it and starts over. Call this only after every input
    has been validated: nothing is touched before.
    """
    path = Path(path)
    identity = store_identity(split)
    if path.exists():
        if overwrite:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        else:
            root = _open_existing(path)
            found = root.attrs.get("identity")
            if found != identity:
                diff = [k for k in identity if found.get(k) != identity[k]]
                raise StoreError(
                    f"store {str(path)!r} was made from {describe_identity(found)}; this run has "
                    f"{describe_identity(identity)} (differs in {', '.join(diff)}); use another --out or --overwrite"
                )
            return Store(path, root)
    # Build the skeleton beside the target and rename it into place: a store either
    # exists whole (history + identity) or not at all.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    root = zarr.open_group(str(tmp), mode="w")
    write_history(root, split)
    root.attrs.update({"format": FORMAT, "identity": identity})
    os.replace(tmp, path)
    return Store(path, zarr.open_group(str(path), mode="r+"))


def read_store(path: str | Path) -> Store:
    """An existing store, for the stages after generate (stress writes its results into it)."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"store {str(path)!r} does not exist; create it with `parallelverse generate --seed-window ...`")
    try:
        root = zarr.open_group(str(path), mode="r+")
    except Exception:
        raise StoreError(f"{str(path)!r} is not a parallelverse store; pass the --store that `generate` wrote") from None
    if root.attrs.get("format") != FORMAT:
        raise StoreError(f"{str(path)!r} is not a parallelverse store; pass the --store that `generate` wrote")
    return Store(path, root)


def _open_existing(path: Path) -> zarr.Group:
    try:
        root = zarr.open_group(str(path), mode="r+")
    except Exception:
        raise StoreError(
            f"{str(path)!r} exists but is not a parallelverse store; choose another --out, or --overwrite to replace it"
        ) from None
    if root.attrs.get("format") != FORMAT or "identity" not in root.attrs:
        raise StoreError(
            f"{str(path)!r} exists but is not a parallelverse store (or its creation was interrupted); "
            "choose another --out, or --overwrite to replace it"
        )
    return root


def open_universe(path: str | Path, name: str) -> Universe:
    """A complete universe for reading; incomplete ones are refused."""
    root = _open_existing(Path(path)) if Path(path).exists() else None
    if root is None:
        raise StoreError(f"store {str(path)!r} does not exist; create it with `parallelverse generate`")
    names = list_universes(root)
    if name not in names:
        raise StoreError(f"no universe {name!r} in {str(path)!r}; it has: {', '.join(names) or 'none'}")
    u = universe_of(root, name)
    if not u.complete:
        raise StoreError(f"universe {name!r} in {str(path)!r} is incomplete (interrupted); rerun the same generate command to finish it")
    return u


def store_size_bytes(path: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
