"""What parallelverse wrote in a store directory: found at any depth, and removed with zarr.json last.

`--overwrite` deletes a whole store and a repair deletes a damaged group, so both first
check that the directory holds nothing of the user's (`foreign_entries`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

TOP = {"zarr.json", "history", "universes", "results"}  # what the store's root holds
_BARS = ("time", "open", "high", "low", "close", "volume")
# The child nodes parallelverse writes in a node, by its place below the store's root ("*": any plain name)
_CHILDREN = {
    ("history",): frozenset(_BARS),
    ("universes",): None,
    ("universes", "*"): frozenset((*_BARS, "chunk_done", "chunk_sha256", "chunk_counts")),
    ("universes", "*", "chunk_counts"): None,
    ("results",): None,
    ("results", "*"): None,
}


def _result_arrays() -> frozenset:
    """What a results group (real or a universe's) holds: every metric, buy-and-hold's and the excess ones, and the
    real history's curves. Imported here, when a walk reaches results: `data` and `--help` stay light."""
    from parallelverse.backtest.kernels import METRICS

    return frozenset((*METRICS, *(f"bh_{m}" for m in METRICS), *(f"excess_{m}" for m in METRICS), "information_ratio",
                      "equity", "bh_equity", "time"))


def _children_allowed(at: tuple[str, ...]) -> frozenset | None:
    """The names of the child nodes parallelverse writes in the node at `at` (None: any name); an empty set below
    the nodes it writes (an array's own node holds no child nodes)."""
    if not at:
        return frozenset(TOP)
    key = (at[0], *("*" for _ in at[1:]))
    return _result_arrays() if key == ("results", "*", "*") else _CHILDREN.get(key, frozenset())


def _temporary(name: str) -> bool:
    return name.startswith(".") and (name.endswith(".partial") or ".old-" in name)


def foreign_entries(path: Path, at: tuple[str, ...] = ()) -> list[str]:
    """Everything under `path` that parallelverse did not write, at any depth: --overwrite deletes the whole
    directory, so it must hold nothing of the user's.

    What we write is a zarr tree: node directories (with `zarr.json`) holding `zarr.json`, child nodes and,
    for arrays, a chunk directory `c/` of numbered files and directories; plus our temporaries (zarr's
    `*.partial` files, `.<name>.<pid>.partial` and `.<name>.old-<pid>` nodes), which are walked like nodes.
    A node whose zarr.json was lost (damage) is still ours when it holds our nodes and nothing else.
    Child nodes are ours only under the names parallelverse gives them (`at`: where `path` is below the store's
    root, () for the store itself): a zarr array of the user's inside a universe is not. Symbolic links are never
    ours."""
    out: list[str] = []

    def chunks(d: str, rel: str) -> None:
        with os.scandir(d) as it:
            for e in it:
                if e.is_symlink():
                    out.append(f"{rel}/{e.name}")
                elif e.is_dir():
                    if e.name.isdigit():
                        chunks(e.path, f"{rel}/{e.name}")
                    else:
                        out.append(f"{rel}/{e.name}")
                elif not (e.is_file() and (e.name.isdigit() or e.name.endswith(".partial"))):
                    out.append(f"{rel}/{e.name}")

    def node(d: str, rel: str, at: tuple[str, ...]) -> int:
        """Walk node directory `d`; the number of child nodes (directories with a zarr.json) found in it."""
        node_type = None
        try:
            node_type = json.loads(Path(d, "zarr.json").read_text()).get("node_type")
        except (OSError, ValueError, AttributeError):
            pass
        found = 0
        allowed = _children_allowed(at)
        with os.scandir(d) as it:
            for e in sorted(it, key=lambda e: e.name):
                name = f"{rel}{e.name}"
                if e.is_symlink():
                    out.append(name)
                elif e.is_file():
                    if not (e.name == "zarr.json" or e.name.endswith(".partial")):
                        out.append(name)
                elif not e.is_dir():
                    out.append(name)
                elif e.name == "c" and node_type != "group":  # an array's chunks (also when its zarr.json was lost)
                    chunks(e.path, name)
                    found += node_type is None
                elif _temporary(e.name):
                    node(e.path, f"{name}/", (*at, e.name))  # a node being written or removed: as its final self
                    found += 1
                elif allowed is not None and e.name not in allowed:
                    out.append(name)
                elif os.path.exists(os.path.join(e.path, "zarr.json")):
                    node(e.path, f"{name}/", (*at, e.name))
                    found += 1
                else:  # a node that lost its zarr.json is ours if it holds our nodes; an empty directory is not
                    mark = len(out)
                    if node(e.path, f"{name}/", (*at, e.name)) == 0:
                        del out[mark:]
                        out.append(name)
                    else:
                        found += 1
        return found

    node(str(path), "", at)
    return out


def remove_ours(p: Path) -> None:
    """Delete a store directory with its zarr.json last, so that a removal killed halfway still looks like
    ours to the next run and is finished then, not left behind for good."""
    for e in p.iterdir():
        if e.name != "zarr.json":
            if e.is_dir() and not e.is_symlink():
                shutil.rmtree(e, ignore_errors=True)
            else:
                e.unlink(missing_ok=True)
    (p / "zarr.json").unlink(missing_ok=True)
    try:
        p.rmdir()
    except OSError:
        pass


EMPTY_GROUP = {"attributes": {}, "zarr_format": 3, "node_type": "group"}  # universes/ and results/: no content


def ensure_plain_group(d: Path) -> bool:
    """Make `d` (the universes or results group: no attributes, nothing but its children) a readable zarr group,
    rewriting a zarr.json that is missing or damaged (atomically); True when it did. Call with the writer lock."""
    meta = d / "zarr.json"
    try:
        if json.loads(meta.read_text()) == EMPTY_GROUP:
            return False
    except (OSError, ValueError):
        pass
    d.mkdir(exist_ok=True)
    tmp = d / f".zarr.json.{os.getpid()}.partial"
    tmp.write_text(json.dumps(EMPTY_GROUP, indent=2))
    os.replace(tmp, meta)
    return True
