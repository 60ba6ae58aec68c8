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
    ("results",): None,  # and ("results", "*"): the real history and the universes its attributes list
}


def _result_arrays() -> frozenset:
    """What a results group (real or a universe's) holds: every metric, buy-and-hold's and the excess ones, and the
    real history's curves. Imported here, when a walk reaches results: `data` and `--help` stay light."""
    from parallelverse.backtest.kernels import METRICS

    return frozenset((*METRICS, *(f"bh_{m}" for m in METRICS), *(f"excess_{m}" for m in METRICS), "information_ratio",
                      "equity", "bh_equity", "time"))


# the nodes parallelverse writes as groups (the others below a group are arrays)
_GROUPS = {("history",), ("universes",), ("universes", "*"), ("universes", "*", "chunk_counts"), ("results",),
           ("results", "*"), ("results", "*", "*")}


def _key(at: tuple[str, ...]) -> tuple[str, ...]:
    return (at[0], *("*" for _ in at[1:])) if at else ()


def _children_allowed(at: tuple[str, ...], d: str) -> frozenset | None:
    """The names of the child nodes parallelverse writes in the node at `at`, directory `d` (None: any name); an
    empty set below the nodes it writes (an array's own node holds no child nodes). A strategy's results hold the
    real history's group and the universes their attributes list."""
    if not at:
        return frozenset(TOP)
    key = _key(at)
    if key == ("results", "*"):
        try:
            listed = json.loads(Path(d, "zarr.json").read_text())["attributes"]["universes"]
            return frozenset(("real", *map(str, listed)))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # damaged: its children are judged as nodes
    return _result_arrays() if key == ("results", "*", "*") else _CHILDREN.get(key, frozenset())


def _node_type(d: str) -> str | None:
    try:
        return json.loads(Path(d, "zarr.json").read_text()).get("node_type")
    except (OSError, ValueError, AttributeError):
        return None


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
        node_type = _node_type(d)
        found = 0
        allowed = _children_allowed(at, d)
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
                    kind = _node_type(e.path)
                    if kind is not None and (kind == "group") != (_key((*at, e.name)) in _GROUPS):
                        out.append(name)  # a zarr array where parallelverse writes a group, or the reverse
                    else:
                        node(e.path, f"{name}/", (*at, e.name))
                        found += 1
                else:  # a node that lost its zarr.json is ours if it holds our nodes; an empty directory is ours
                    mark = len(out)  # under a fixed name parallelverse writes (what a removal killed halfway leaves)
                    if node(e.path, f"{name}/", (*at, e.name)) == 0:
                        del out[mark:]
                        if os.listdir(e.path) or allowed is None or e.name not in allowed:
                            out.append(name)
                    else:
                        found += 1
        return found

    node(str(path), "", at)
    return out


def first_link(path: Path) -> str | None:
    """The first symbolic link below the store directory `path` (relative to it), or None. Nothing parallelverse
    writes is a link: one inside a store would have writers write through it into another store, and readers read
    another store's numbers under this one's name."""
    for dirpath, dirnames, filenames in os.walk(path):  # never follows a link
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                return os.path.relpath(full, path)
    return None


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
