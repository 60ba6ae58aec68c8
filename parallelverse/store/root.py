"""A store on disk: open or create it, and reach its history, universes and results.

`open_store(path, split)` is generate's door (creates the store, or reopens the one
made from the same split); `read_store(path)` is the door of every later stage
(`write=True` for stress, which writes results).

Writers hold the store's lock (lock.py) for as long as their `Store` is open, and on
taking it clean what killed writers left: zarr's `*.partial` temporary chunk files,
our temporary groups (`.<name>.<pid>.partial`), and results swapped out but not yet
replaced (`results/.<name>.old-<pid>`, put back if the new ones never arrived).

`--overwrite` replaces only a store parallelverse made (root attribute `format`
starting with "parallelverse-store/", or a root zarr.json lost, unreadable or
failing its seal in a directory whose history/ generate wrote: a damaged store),
holding nothing else, never another file or directory, the working directory or one above it. The new store is built beside the old one and
swapped in, so the old one is gone only once the new one exists.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zarr

from parallelverse.files import pid_alive
from parallelverse.errors import StoreError
from parallelverse.store.history import (FORMAT, FORMAT_FAMILY, HISTORY_FIX, describe_identity, read_split, store_identity,
                                         write_history)
from parallelverse.store.lock import StoreLock, lock_store
from parallelverse.store.integrity import SEAL, seal_of, seal_problem
from parallelverse.store.tree import first_link
from parallelverse.store.tree import foreign_entries as _foreign_entries
from parallelverse.store.tree import remove_ours as _remove_ours
from parallelverse.store.results import Results, ResultsWriter, read_results, restore_swapped, result_names
from parallelverse.store.universes import (Universe, UniverseSpec, UniverseWriter, list_universes, prepare_universe,
                                          spec_differences, universe_of)
from parallelverse.window import SeedSplit


@dataclass(frozen=True)
class Store:
    path: Path
    root: zarr.Group = field(repr=False, compare=False)
    lock: StoreLock | None = field(default=None, repr=False, compare=False)  # held by writers
    history_repaired: bool = False  # open_store found the history missing or damaged and rewrote it
    # what this Store has read and checked, kept while the metadata it came from is unchanged on disk (a command
    # reads each once; another process's generate or --overwrite is seen at the next call)
    _read: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def _once(self, key, stamp_of: tuple[str, ...], read):
        """read(), or what it returned last time if the files `stamp_of` (relative to the store) are unchanged."""
        stamp = tuple(_stamp(self.path / rel) for rel in stamp_of)
        hit = self._read.get(key)
        if hit is None or hit[0] != stamp:
            hit = self._read[key] = (stamp, read())
        return hit[1]

    def split(self) -> SeedSplit:
        """The real bars around the cut, as `generate` split them."""
        names = self.universe_names()
        first = (f"universes/{names[0]}/zarr.json",) if names else ()
        return self._once("split", ("zarr.json", "history/zarr.json", *first), self._split)

    def _split(self) -> SeedSplit:
        names = self.universe_names()
        horizon_time = self.universe(names[0]).time if names else None
        try:
            return read_split(self.root, horizon_time)
        except StoreError:
            raise
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:
            raise StoreError(f"the history of store {str(self.path)!r} is damaged ({type(exc).__name__}); "
                             f"{HISTORY_FIX}") from None

    def universe_names(self) -> list[str]:
        return list_universes(self.root)

    def universe(self, name: str) -> Universe:
        try:
            return self._once(("universe", name), ("zarr.json", f"universes/{name}/zarr.json"),
                              lambda: universe_of(self.root, name))
        except StoreError:
            if self.lock is None and _being_written(self.path):  # a writer rebuilding it: not damage to report
                raise StoreError(f"universe {name!r} in {str(self.path)!r} is being written by another parallelverse "
                                 "process (generate); wait for it to finish") from None
            raise

    def choose_universes(self, wanted: tuple[str, ...] | list[str] | None) -> tuple[list[str], list[str]]:
        """(universes to read, incomplete ones skipped): the ones asked for, each present and complete, or every
        complete one; one-line errors naming what the store has."""
        have = self.universe_names()
        complete = [n for n in have if self.universe(n).complete]
        if wanted:
            for n in wanted:
                if n not in have:
                    raise StoreError(f"no universe {n!r} in the store; it has: {', '.join(have) or 'none'}")
                if n not in complete:
                    raise StoreError(f"universe {n!r} is incomplete; rerun the generate command that made it to finish it")
            return list(dict.fromkeys(wanted)), []
        if not complete and have:
            raise StoreError(f"the store has no complete universe ({', '.join(have)}: interrupted); rerun the "
                             "`parallelverse generate` command that made it to finish it")
        if not complete:
            raise StoreError("the store has no universe; run `parallelverse generate` first")
        return complete, [n for n in have if n not in complete]

    def prepare_universe(self, spec: UniverseSpec, horizon_time: np.ndarray) -> UniverseWriter:
        """Create universes/<name> or reopen it to resume; `.pending` lists the chunks still to write."""
        self._writable()
        self._read.clear()  # its chunks change without a new zarr.json: read it afresh after writing
        return prepare_universe(self.root, spec, horizon_time)

    def result_names(self) -> list[str]:
        """Strategies with results in the store."""
        return result_names(self.root)

    def results(self, strategy: str) -> Results:
        return read_results(self.path, strategy)

    def current_results(self, strategy: str) -> Results:
        """The strategy's results, each universe's made on the universe this store holds under that name now: one
        regenerated since with another spec (other paths), or gone, is one StoreError with the fix, never results
        on the old paths read beside the new ones."""
        res = self.results(strategy)
        fix = f"rerun `parallelverse stress` for {strategy!r} on this store"
        for u, part in res.universes.items():
            if u not in self.universe_names():
                raise StoreError(f"the results of {strategy!r} are on universe {u!r}, which store {str(self.path)!r} no "
                                 f"longer has; {fix}")
            changed = self.universe_changed(u, part.spec)
            if changed:
                raise StoreError(f"the results of {strategy!r} on universe {u!r} were made on other paths: the universe "
                                 f"now in the store {changed}; {fix}")
        return res

    def universe_changed(self, name: str, spec: dict | None) -> str | None:
        """How the universe now stored under `name` differs from the one results were made on (`spec`, their record
        of it), or None when they are its paths: incomplete, or made with another spec."""
        now = self.universe(name)
        if not now.complete:
            return "is incomplete"
        if now.attrs.get("spec") != spec:
            return f"was made with {spec_differences(now.attrs.get('spec'), spec, 'the results')}"
        return None

    def results_writer(self, strategy: str) -> ResultsWriter:
        self._writable()
        return ResultsWriter(self.root, self.path, strategy)

    def close(self) -> None:
        """Release the writer lock (if held); the Store is not written through afterwards."""
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _writable(self) -> None:
        if self.lock is None:
            raise StoreError(f"store {str(self.path)!r} was opened for reading; open it with read_store(path, write=True)")


def _stamp(path: Path) -> tuple | None:
    """Which file is at `path` and when it was last written (None: no file): a changed stamp means read it again."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _follow(path: Path) -> Path:
    """A symbolic link to an existing directory is the directory it names: a store is read, resumed and
    replaced there, and the link is left as it is. A dangling link is not followed (it is refused as foreign)."""
    return Path(os.path.realpath(path)) if path.is_symlink() and path.is_dir() else path


def _kind(path: Path) -> str:
    """"store" (this format), "old" (an older parallelverse format), "damaged" (ours, with a root zarr.json that is
    missing, unreadable or edited: see `_root_damage`), "empty" (an empty directory) or "foreign"."""
    if path.is_symlink() or not path.is_dir():
        return "foreign"
    if not any(path.iterdir()):
        return "empty"
    fmt = _root_format(path)
    if fmt == FORMAT:
        return "damaged" if seal_problem(path, "") else "store"
    if isinstance(fmt, str) and fmt.startswith(FORMAT_FAMILY):
        return "old"
    return "damaged" if _our_history(path) else "foreign"


def _root_format(path: Path) -> object:
    try:
        meta = json.loads((path / "zarr.json").read_text())
        return meta["attributes"].get("format") if meta.get("node_type") == "group" else None
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return None


def _our_history(path: Path) -> bool:
    """`path/history` is a history group generate wrote (sealed, with the split's attributes)."""
    try:
        attrs = json.loads((path / "history" / "zarr.json").read_text())["attributes"]
        return isinstance(attrs.get(SEAL), dict) and "context_end" in attrs and "seed_window" in attrs
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return False


def _root_damage(path: Path) -> str:
    """What is wrong with a damaged store's root zarr.json."""
    problem = seal_problem(path, "its ")
    if problem and _root_format(path) not in (None, FORMAT) and (path / "zarr.json").is_file():
        return "its zarr.json has another format marker"
    return problem or "its zarr.json has no format marker"


def _damaged_store(path: Path) -> StoreError:
    return StoreError(f"{str(path)!r} is a damaged parallelverse store ({_root_damage(path)}); regenerate it: the "
                      "same `parallelverse generate` command with --overwrite")


def _old_store(path: Path, writing: bool = False) -> StoreError:
    return StoreError(f"{str(path)!r} was made by an older parallelverse (store format {_root_format(path)}, this "
                      f"version reads {FORMAT}); regenerate it: the same `parallelverse generate` command with "
                      f"--overwrite{', or choose another --out' if writing else ''}")


def _refuse_protected(path: Path, option: str = "--out") -> None:
    resolved, cwd = path.resolve(), Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents or resolved == Path.home().resolve():
        raise StoreError(f"{option} {str(path)!r} is the working directory, one above it or the home directory; "
                         f"choose another {option}, e.g. {option} out.zarr")


def open_store(path: str | Path, split: SeedSplit, overwrite: bool = False) -> Store:
    """Open the store for `split` for writing (its lock held), creating it (with its history group) if needed.

    Refuses a store made from other data, window, context or horizon unless
    `overwrite`, which replaces it -- only if it is a parallelverse store. Call this
    only after every input has been validated: nothing is touched before.
    """
    path = _follow(Path(path))
    identity = store_identity(split)
    _refuse_protected(path)
    kind = _kind(path) if (path.exists() or path.is_symlink()) else "none"
    if kind == "foreign":
        raise StoreError(_foreign_message(path, overwrite))
    if kind == "old" and not overwrite:
        raise _old_store(path, writing=True)
    if kind == "damaged" and not overwrite:
        raise _damaged_store(path)
    if kind in ("store", "old", "damaged") and overwrite:
        foreign = _foreign_entries(path)
        if foreign:
            raise StoreError(f"{str(path)!r} holds files parallelverse did not write ({', '.join(foreign[:3])}"
                             f"{', ...' if len(foreign) > 3 else ''}); move them out before --overwrite, or choose "
                             "another --out")
        old_lock = lock_store(path)  # never replace a store another process is writing
        try:
            return _create(path, split, identity, replace=True)
        finally:
            old_lock.release()
    if kind == "store":
        st = _locked(path)
        found = st.root.attrs.get("identity")
        if found != identity:
            st.close()
            diff = [k for k in identity if found.get(k) != identity[k]]
            raise StoreError(
                f"store {str(path)!r} was made from {describe_identity(found)}; this run has "
                f"{describe_identity(identity)} (differs in {', '.join(diff)}); use another --out or --overwrite"
            )
        return dataclasses.replace(st, history_repaired=True) if _repair_history(st, split) else st
    try:  # "none" or "empty"
        return _create(path, split, identity, replace=False)
    except FileExistsError:  # another process created it meanwhile: open theirs (identity checked)
        return open_store(path, split)


def _foreign_message(path: Path, overwrite: bool) -> str:
    if path.is_symlink() and not path.exists():
        return (f"--out {str(path)!r} is a symbolic link to {os.readlink(path)!r}, which does not exist; remove the "
                "link or choose another --out")
    what = "a file" if path.is_file() else "a symbolic link" if path.is_symlink() else "a directory"
    why = "; --overwrite replaces only stores that parallelverse made" if overwrite else ""
    return f"{str(path)!r} exists but is not a parallelverse store (it is {what}){why}; choose another --out"


def _repair_history(st: Store, split: SeedSplit) -> bool:
    """A resumed store whose history fails its checks (a damaged or missing chunk) gets it rewritten from this
    run's data -- the same bars, as the identity (data digest, window, context, horizon) matched -- as the same
    command rewrites a universe's damaged chunks."""
    try:
        read_split(st.root)
        return False
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception:
        pass
    history = st.path / "history"
    foreign = [e for e in _foreign_entries(st.path) if e.startswith("history")]
    if foreign:
        raise StoreError(f"the history of store {str(st.path)!r} is damaged and holds files parallelverse did not write "
                         f"({', '.join(foreign[:3])}); move them out and rerun to repair it")
    if history.is_dir() and not history.is_symlink():
        _remove_ours(history)  # zarr.json last: a rewrite killed here is finished by the next run
    write_history(st.root, split)
    return True


def _create(path: Path, split: SeedSplit, identity: dict, replace: bool) -> Store:
    """Build the skeleton beside the target and rename it into place: a store exists whole (history +
    identity + format marker) or not at all. The new directory's lock is taken before the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_beside(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    root = zarr.open_group(str(tmp), mode="w")
    write_history(root, split)
    attrs = {"format": FORMAT, "identity": identity}
    root.update_attributes({**attrs, SEAL: seal_of(tmp, attrs, ())})
    lock = lock_store(tmp)
    try:
        if replace:
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            _remove_ours(old)
        else:
            try:
                os.replace(tmp, path)  # onto nothing, or onto an empty directory
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise FileExistsError(str(path)) from None
                raise
    except BaseException:
        lock.release()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    lock.path = path
    return Store(path, zarr.open_group(str(path), mode="r+"), lock)


_BESIDE = re.compile(r"^\.(?P<name>.+)\.(?:(?P<pid>\d+)\.partial|old-(?P<old>\d+))$")


def _clean_beside(path: Path) -> None:
    """Remove `.<name>.<pid>.partial` / `.<name>.old-<pid>` left beside the store by killed processes."""
    if not path.parent.is_dir():
        return
    for p in path.parent.iterdir():
        m = _BESIDE.match(p.name)
        if not m or m["name"] != path.name or not p.is_dir():
            continue
        pid = int(m["pid"] or m["old"])
        if pid != os.getpid() and pid_alive(pid):
            continue
        if _ours(p):  # a store being built (or swapped out) when killed
            _remove_ours(p)


def _ours(p: Path) -> bool:
    """A directory we may delete: a store skeleton (zarr.json), or one holding nothing but zarr's temporary
    `*.partial` files (killed while writing the first zarr.json), or empty. Anything else is left alone."""
    if (p / "zarr.json").exists():
        return True
    return all(e.is_file() and e.name.endswith(".partial") for e in p.iterdir())


def _locked(path: Path) -> Store:
    """Take the writer lock, then clean what killed writers left inside the store."""
    lock = lock_store(path)
    try:
        _refuse_links(path)
        _clean_beside(path)
        _clean_inside(path)
        return Store(path, zarr.open_group(str(path), mode="r+"), lock)
    except BaseException:
        lock.release()
        raise


def _refuse_links(path: Path) -> None:
    link = first_link(path)
    if link is not None:
        raise StoreError(f"{link} in store {str(path)!r} is a symbolic link (to {os.readlink(path / link)!r}); "
                         "parallelverse reads and writes only what it wrote in a store: remove the link and rerun")


def _clean_inside(path: Path) -> None:
    # With the lock held no other writer is running: every temporary entry is a dead process's.
    restore_swapped(path)
    for dirpath, dirnames, filenames in os.walk(path):
        for d in list(dirnames):
            if d.startswith(".") and d.endswith(".partial"):
                shutil.rmtree(os.path.join(dirpath, d), ignore_errors=True)
                dirnames.remove(d)
        for f in filenames:
            if f.endswith(".partial"):
                try:
                    os.unlink(os.path.join(dirpath, f))
                except OSError:
                    pass


def read_store(path: str | Path, write: bool = False) -> Store:
    """An existing store, for the stages after generate; `write=True` (stress) takes its writer lock."""
    path = _follow(Path(path))
    if not path.exists():
        raise StoreError(f"store {str(path)!r} does not exist; create it with `parallelverse generate --seed-window ...`")
    kind = _kind(path)
    if kind == "old":
        raise _old_store(path)
    if kind == "damaged":
        raise _damaged_store(path)
    if kind != "store":
        outer = next((p for p in path.resolve().parents if (p / "zarr.json").is_file() and _kind(p) == "store"), None)
        if outer is not None:
            raise StoreError(f"{str(path)!r} is inside the store {str(outer)!r}; pass the store itself ({str(outer)!r})")
        raise StoreError(f"{str(path)!r} is not a parallelverse store; pass the store (the .zarr directory) that "
                         "`generate` wrote")
    if write:
        return _locked(path)
    _refuse_links(path)
    try:
        return Store(path, zarr.open_group(str(path), mode="r"))
    except Exception:
        raise StoreError(f"{str(path)!r} is not a parallelverse store; pass the store (the .zarr directory) that "
                         "`generate` wrote") from None


def open_universe(path: str | Path, name: str) -> Universe:
    """A complete universe for reading (read_store's checks and messages); incomplete ones are refused."""
    st = read_store(path)
    names = list_universes(st.root)
    if name not in names:
        raise StoreError(f"no universe {name!r} in {str(st.path)!r}; it has: {', '.join(names) or 'none'}")
    u = st.universe(name)
    if not u.complete:
        if _being_written(st.path):  # a writer holds the lock while it works: that is not an interruption
            raise StoreError(f"universe {name!r} in {str(st.path)!r} is still being written by another parallelverse "
                             "process; wait for it to finish")
        raise StoreError(f"universe {name!r} in {str(st.path)!r} is incomplete (interrupted); rerun the same generate "
                         "command to finish it")
    return u


def _being_written(path: Path) -> bool:
    """Another process holds the store's writer lock."""
    try:
        lock_store(path).release()
    except StoreError:
        return True
    except OSError:
        return False
    return False


def store_size_bytes(path: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
