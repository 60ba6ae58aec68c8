"""Names that become paths in the store (universe and strategy names): one rule, checked before any write.

A name is one path component: not empty, no '/' or '\\', not '.' or '..', not starting
with '.' (the store's own temporary entries start with '.'), no control characters, not zarr.json
(the metadata file beside every group).
So `results/<strategy>` is always one strategy's group and never the results of
every strategy, the store itself or a path outside it.
"""

from __future__ import annotations

from parallelverse.errors import StoreError

RESERVED = ("zarr.json",)  # the metadata file beside every group (any case: macOS folds it)
MAX_NAME = 200  # bytes; file systems allow 255 per component, leaving room for temporary suffixes


def name_problem(name: object) -> str | None:
    """Why `name` cannot be a store entry, or None if it can."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not a string"
    if not name.strip():
        return "is empty"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if name in (".", "..") or name.startswith("."):
        return "starts with '.'"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "contains a control character"
    if name.lower() in RESERVED:
        return "is reserved (zarr's metadata file name)"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME:
        return f"is longer than {MAX_NAME} bytes"
    return None


def check_name(name: object, what: str, fix: str) -> str:
    """`name` if it is a valid store entry; else StoreError "<what> = <name> <problem>; <fix>"."""
    problem = name_problem(name)
    if problem:
        raise StoreError(f"{what} = {name!r} {problem}; {fix}")
    return name
