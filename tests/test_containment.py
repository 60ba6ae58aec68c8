"""Nothing lost, nothing silent: damaged chunks, overwrite safety, names, the writer lock, contained strategies.

Every failure here must be one line on stderr and a non-zero exit, and must leave what
was there before (the store's tree digest) exactly as it was.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from conftest import one_line, tree_digest
import parallelverse
from parallelverse.bars import FIELDS
from parallelverse.errors import StoreError
from parallelverse.files import PAGE_HEAD
from parallelverse.store import lock_store, open_universe, read_store

ROOT = Path(__file__).resolve().parents[1]
GEN = ["generate", "--seed-window", "2020-01", "--context", "200", "--horizon", "20", "--n-paths", "24",
       "--chunk-paths", "4", "--seed", "3", "--generators", "garch,bootstrap", "--set", "bootstrap.uncertainty=none"]
SMA = ROOT / "strategies" / "sma_crossover.py"
GEN9 = [a if a != "3" else "9" for a in GEN]  # the same run with another seed (an option is given once)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A small complete store (GARCH + bootstrap) and a copy of it for every test that damages one."""
    from click.testing import CliRunner

    from parallelverse.cli import main

    d = tmp_path_factory.mktemp("made")
    result = CliRunner().invoke(main, [*GEN, "--out", str(d / "s.zarr")])
    assert result.exit_code == 0, result.output
    return d / "s.zarr"


@pytest.fixture
def store(made, tmp_path):
    return _stressed_copy(made, tmp_path)


def _stressed_copy(made: Path, d: Path, *runs: list) -> Path:
    """A copy of `made` at d/s.zarr with the results of each `stress` run in `runs` (its arguments)."""
    import shutil

    from click.testing import CliRunner

    from parallelverse.cli import main

    shutil.copytree(made, d / "s.zarr")
    for args in runs:
        result = CliRunner().invoke(main, ["stress", *map(str, args), "--store", str(d / "s.zarr")])
        assert result.exit_code == 0, result.output
    return d / "s.zarr"


@pytest.fixture(scope="module")
def sma_made(made, tmp_path_factory):
    """`made` with sma_crossover's results on every universe (`parallelverse stress`, default costs)."""
    return _stressed_copy(made, tmp_path_factory.mktemp("sma"), [SMA])


@pytest.fixture
def sma_store(sma_made, tmp_path):
    return _stressed_copy(sma_made, tmp_path)


@pytest.fixture(scope="module")
def stressed_made(made, tmp_path_factory):
    """`made` with results: sma_crossover on every universe, buy_and_hold on garch-gjr-t only."""
    return _stressed_copy(made, tmp_path_factory.mktemp("stressed"),
                          [SMA], [ROOT / "strategies" / "buy_and_hold.py", "--universe", "garch-gjr-t"])


@pytest.fixture
def stressed_store(stressed_made, tmp_path):
    return _stressed_copy(stressed_made, tmp_path)


def _arrays(path: Path) -> dict:
    root = zarr.open_group(str(path), mode="r")
    out = {}
    for u, g in root["universes"].groups():
        out[f"{u}@attrs"] = g.attrs.asdict()
        for a, arr in g.arrays():
            out[f"{u}/{a}"] = arr[:]
    return out


# ---- damaged chunks ---------------------------------------------------------------------------------

def _flip(p: Path, rng) -> None:
    b = bytearray(p.read_bytes())
    i = int(rng.integers(len(b)))
    b[i] ^= 1 << int(rng.integers(8))
    p.write_bytes(bytes(b))


def _truncate(p: Path, rng) -> None:
    b = p.read_bytes()
    p.write_bytes(b[: int(rng.integers(len(b)))])


def _delete(p: Path, rng) -> None:
    p.unlink()


@pytest.mark.parametrize("damage", [_delete, _flip, _truncate], ids=["deleted", "bit-flipped", "truncated"])
def test_damaged_chunks_are_named_and_generate_repairs_them_bit_identically(made, store, run_cli, damage):
    want = _arrays(made)
    rng = np.random.default_rng(7)
    chunk_files = sorted(p for p in (store / "universes").rglob("c/*/*") if p.parent.parent.parent.name in
                         ("open", "high", "low", "close", "volume"))
    for trial in range(6):  # different chunks, fields and universes; each detected by every reader
        victim = chunk_files[int(rng.integers(len(chunk_files)))]
        universe, field, k = victim.parents[3].name, victim.parents[2].name, int(victim.name)
        damage(victim, rng)
        u = open_universe(store, universe)
        with pytest.raises(StoreError) as exc:
            u.read(0, u.n_paths)
        msg = str(exc.value)
        assert f"universe {universe!r}" in msg and f"chunk {k} " in msg and field in msg and "parallelverse generate" in msg
        result = run_cli("stress", SMA, "--store", store, "--json")
        line = one_line(result)
        assert f"chunk {k} " in line and universe in line
        assert not (store / "results").exists() or "sma_crossover" not in os.listdir(store / "results")
        repaired = run_cli(*GEN, "--out", store, "--json")  # the same command repairs it
        assert repaired.exit_code == 0, repaired.output
        got = _arrays(store)
        assert sorted(got) == sorted(want)
        for key in want:
            if isinstance(want[key], np.ndarray):
                np.testing.assert_array_equal(got[key], want[key], err_msg=f"trial {trial}: {key}")
            else:
                assert got[key] == want[key], key


def test_damaged_results_and_history_are_one_line_errors(sma_store, run_cli):
    store = sma_store
    sharpe = next((store / "results" / "sma_crossover" / "real" / "sharpe" / "c").rglob("*"))
    sharpe = sharpe if sharpe.is_file() else next(p for p in sharpe.rglob("*") if p.is_file())
    sharpe.write_bytes(sharpe.read_bytes()[:-1])
    line = one_line(run_cli("report", store, "--n-null", 19))
    assert "results for 'sma_crossover'" in line and "damaged" in line and "rerun `parallelverse stress`" in line
    close = next(p for p in (store / "history" / "close" / "c").rglob("*") if p.is_file())
    close.unlink()
    line = one_line(run_cli("stress", SMA, "--store", store))
    assert "history" in line and "missing" in line


def test_chunk_files_swapped_between_results_arrays_are_damage(sma_store, run_cli):
    """Each chunk's crc32c holds wherever the file goes: a chunk swapped between two metrics, or copied in from
    another run's results, was read as those numbers (a hostile tester). The values' digests, sealed with the
    attributes, name it; rerunning stress repairs it."""
    store = sma_store
    other = store.parent / "other.zarr"
    import shutil

    shutil.copytree(store, other)
    assert run_cli("stress", SMA, "--store", other, "--fees", "7").exit_code == 0
    group = store / "results" / "sma_crossover" / "garch-gjr-t"

    def chunk(g: Path, metric: str) -> Path:
        return next(p for p in (g / metric / "c").rglob("*") if p.is_file())

    for damage in ("swap", "copy"):
        a, b = chunk(group, "sharpe"), chunk(group, "sortino")
        if damage == "swap":
            x, y = a.read_bytes(), b.read_bytes()
            a.write_bytes(y)
            b.write_bytes(x)
        else:  # the same metric from a run at other costs
            a.write_bytes(chunk(other / "results" / "sma_crossover" / "garch-gjr-t", "sharpe").read_bytes())
        line = one_line(run_cli("report", store, "--n-null", 19))
        assert "garch-gjr-t: sharpe holds other values than stress wrote there" in line and "rerun" in line, line
        assert run_cli("stress", SMA, "--store", store).exit_code == 0
        assert run_cli("report", store, "--n-null", 19, "--json").exit_code == 0


def test_universe_chunk_files_swapped_or_copied_in_are_damage_and_generate_repairs_them(made, store, run_cli):
    """A universe chunk's crc32c holds wherever the file goes: chunk files swapped between two fields or two chunks,
    or copied in from a run with another seed, were read as prices. Each chunk's digest (chunk_sha256, salted with
    the spec, the chunk and the field) names it in every reader; the same generate command rewrites it
    bit-identically and says so."""
    import shutil

    want = _arrays(made)
    other = store.parent / "other.zarr"
    assert run_cli(*GEN9, "--out", other).exit_code == 0
    halves = store.parent / "halves.zarr"  # chunk files of another shape: 2 paths each
    assert run_cli(*[a if a != "4" else "2" for a in GEN], "--out", halves).exit_code == 0
    later = store.parent / "later.zarr"  # the same spec on other bars: a later seed window
    assert run_cli(*[a if a != "2020-01" else "2020-02" for a in GEN], "--out", later).exit_code == 0
    u = store / "universes" / "garch-gjr-t"

    def with_digest(src: Path, k: int, field: str) -> None:
        shutil.copyfile(chunk(src / "universes" / "garch-gjr-t", field, k), chunk(u, field, k))
        shutil.copyfile(src / "universes" / "garch-gjr-t" / "chunk_sha256" / "c" / str(k) / "0" / "0",
                        u / "chunk_sha256" / "c" / str(k) / "0" / "0")

    def chunk(root: Path, field: str, k: int) -> Path:
        return root / field / "c" / "0" / str(k)

    def swap(a: Path, b: Path) -> None:
        x, y = a.read_bytes(), b.read_bytes()
        a.write_bytes(y)
        b.write_bytes(x)

    damages = {
        "fields": (lambda: swap(chunk(u, "open", 1), chunk(u, "close", 1)), 1, "open"),
        "chunks": (lambda: swap(chunk(u, "high", 2), chunk(u, "high", 4)), 2, "high"),
        "other seed": (lambda: shutil.copyfile(chunk(other / "universes" / "garch-gjr-t", "low", 3),
                                               chunk(u, "low", 3)), 3, "low"),
        "with its digest": (lambda: with_digest(other, 5, "close"), 5, "open"),  # the other fields do not match it
        "every field, same spec, other bars": (lambda: [with_digest(later, 0, f) for f in FIELDS], 0, "open"),
        "another shape": (lambda: shutil.copyfile(chunk(halves / "universes" / "garch-gjr-t", "volume", 1),
                                                  chunk(u, "volume", 1)), 1, "volume"),
    }
    for case, (damage, k, field) in damages.items():
        damage()
        with pytest.raises(StoreError) as exc:
            open_universe(store, "garch-gjr-t").read()
        said = "not a chunk of this array" if case == "another shape" else "not what generate wrote there"
        assert f"chunk {k} (paths {4 * k}-{4 * k + 3}) of {field} is {said}" in str(exc.value), case
        either = "(2|4)" if case == "chunks" else k  # dask reads the chunks in parallel
        with pytest.raises(StoreError, match=f"chunk {either} "):  # users' lazy xarray view, chunk by chunk
            parallelverse.open_universe(store, "garch-gjr-t")[field].values
        line = one_line(run_cli("stress", SMA, "--store", store, "--json"))
        assert f"chunk {k} " in line and "garch-gjr-t" in line and "parallelverse generate" in line, case
        repaired = run_cli(*GEN, "--out", store, "--json")
        assert repaired.exit_code == 0, repaired.output
        status = {x["name"]: x["status"] for x in json.loads(repaired.stdout)["universes"]}
        assert status["garch-gjr-t"] == "repaired", (case, status)
        got = _arrays(store)
        for key in want:
            if isinstance(want[key], np.ndarray):
                np.testing.assert_array_equal(got[key], want[key], err_msg=f"{case}: {key}")

    # the time stamps: another horizon's chunk file, encoded as the store encodes it
    t = u / "time"
    from parallelverse.store.integrity import CODECS

    fake = zarr.create_array(str(store.parent / "t.zarr"), shape=(20,), chunks=(20,), dtype="int64", compressors=CODECS)
    fake[:] = zarr.open_array(str(t), mode="r")[:] + 86_400 * 10**9
    shutil.copyfile(store.parent / "t.zarr" / "c" / "0", t / "c" / "0")
    line = one_line(run_cli("stress", SMA, "--store", store, "--json"))
    assert "time holds other stamps than generate wrote there" in line and "garch-gjr-t" in line, line
    repaired = run_cli(*GEN, "--out", store, "--json")
    assert repaired.exit_code == 0, repaired.output
    np.testing.assert_array_equal(zarr.open_array(str(t), mode="r")[:], want["garch-gjr-t/time"])
    # the history's longer time stamps, and a chunk_done mark where a digest row belongs: chunks of another shape
    shutil.copyfile(store / "history" / "time" / "c" / "0", t / "c" / "0")
    assert "garch-gjr-t" in one_line(run_cli("stress", SMA, "--store", store, "--json"))
    shutil.copyfile(u / "chunk_done" / "c" / "2", u / "chunk_sha256" / "c" / "2" / "0" / "0")
    repaired = run_cli(*GEN, "--out", store, "--json")
    assert repaired.exit_code == 0, repaired.output
    got = _arrays(store)
    for key in want:
        if isinstance(want[key], np.ndarray):
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    assert run_cli("stress", SMA, "--store", store).exit_code == 0


def test_results_made_on_a_universe_since_replaced_are_not_read_beside_it(sma_store, run_cli):
    """report placed the real result among 24 stored results while the universe now under that name held 12 other
    paths (its fan and fidelity): the results' recorded spec must be the universe's (h16)."""
    import shutil

    store = sma_store
    fewer = store.parent / "fewer.zarr"
    assert run_cli(*[a if a != "24" else "12" for a in GEN], "--out", fewer).exit_code == 0
    shutil.rmtree(store / "universes" / "garch-gjr-t")
    shutil.copytree(fewer / "universes" / "garch-gjr-t", store / "universes" / "garch-gjr-t")
    line = one_line(run_cli("report", store, "--n-null", 19, "--json"))
    assert ("the results of 'sma_crossover' on universe 'garch-gjr-t' were made on other paths: the universe now in "
            "the store was made with n_paths 12 (the results: 24); rerun `parallelverse stress`") in line, line
    with pytest.raises(StoreError, match="made on other paths"):
        parallelverse.open_results(store, "sma_crossover", "bootstrap-fixed-mean")
    shutil.rmtree(store / "universes" / "garch-gjr-t")
    assert "which store" in one_line(run_cli("report", store, "--n-null", 19))
    assert run_cli(*GEN, "--out", store).exit_code == 0 and run_cli("stress", SMA, "--store", store).exit_code == 0
    assert run_cli("report", store, "--n-null", 19, "--json").exit_code == 0


def test_links_anywhere_inside_a_store_are_refused_and_never_written_through(sma_made, tmp_path, run_cli):
    """A link at universes/<name> was refused, but links at an array, a chunk directory, universes/ or results/
    had generate and stress write into another store, or delete its universes (h17). Nothing in a store is a link."""
    import shutil

    other = _stressed_copy(sma_made, tmp_path / "other")
    theirs = tree_digest(other)
    for rel in ("universes/garch-gjr-t/close", "universes/garch-gjr-t/open/c", "universes", "results",
                "results/sma_crossover", "history/close"):
        store = _stressed_copy(sma_made, tmp_path / rel.replace("/", "-"))
        shutil.rmtree(store / rel)
        (store / rel).symlink_to(other / rel)
        for args in ((*GEN, "--out", store), ("stress", SMA, "--store", store), ("report", store, "--n-null", 19)):
            line = one_line(run_cli(*args))
            assert f"{rel} in store {str(store)!r} is a symbolic link" in line and "remove the link" in line, line
        assert tree_digest(other) == theirs, rel


def test_results_copied_in_renamed_or_holding_the_users_nodes_are_named(sma_store, tmp_path, run_cli):
    """Results from another store (the same spec on other bars) were read and even kept by `stress --universe`;
    a renamed results group was reported under its new name; a user's node inside results was deleted by the next
    stress (h17)."""
    import shutil

    store = sma_store
    nvda = tmp_path / "nvda.zarr"
    assert run_cli(*GEN, "--symbol", "NVDA", "--out", nvda).exit_code == 0
    assert run_cli("stress", SMA, "--store", nvda).exit_code == 0
    mine = store / "results" / "sma_crossover"
    shutil.rmtree(mine)
    shutil.copytree(nvda / "results" / "sma_crossover", mine)
    said = "made on another store's bars: 'NVDA', window '2020-01'; copied in from another store"
    assert said in one_line(run_cli("report", store, "--n-null", 19))
    with pytest.raises(StoreError, match="copied in from another store"):
        parallelverse.open_results(store, "sma_crossover", "real")
    rerun = run_cli("stress", SMA, "--store", store, "--universe", "bootstrap-fixed-mean", "--json")
    assert rerun.exit_code == 0 and "none were kept" in rerun.stderr, rerun.output  # nothing of NVDA's
    assert json.loads(rerun.stdout)["damaged_earlier_results"] is True
    mine.rename(store / "results" / "momentum")
    assert "made as the results of 'sma_crossover' and renamed" in one_line(run_cli("report", store, "--strategy",
                                                                                    "momentum", "--n-null", 19))
    (store / "results" / "momentum").rename(mine)
    for node in (mine / "my_notes", mine / "real" / "my_metric"):
        zarr.create_array(str(node), data=np.arange(3.0))
        line = one_line(run_cli("stress", SMA, "--store", store))
        assert f"holds files parallelverse did not write ({node.relative_to(store)})" in line, line
        assert node.is_dir()
        shutil.rmtree(node)
    zarr.open_group(str(mine / "my_group"), mode="w")
    assert "results/sma_crossover/my_group" in one_line(run_cli("stress", SMA, "--store", store))
    shutil.rmtree(mine / "my_group")
    assert run_cli("stress", SMA, "--store", store).exit_code == 0


def test_what_a_repair_killed_mid_removal_leaves_is_finished_by_the_same_command(made, store, run_cli):
    """A kill inside a repair's removal left an empty history/close/ or universes/<u>/close/: every later generate
    called it the user's and refused (h17). An empty directory under a name parallelverse writes is its own."""
    import shutil

    for rel in ("history/close", "universes/garch-gjr-t/close", "history"):
        shutil.rmtree(store / rel)
        (store / rel).mkdir()
        fixed = run_cli(*GEN, "--out", store, "--json")
        assert fixed.exit_code == 0, (rel, fixed.output)
        assert tree_digest(store / "universes") == tree_digest(made / "universes")
        assert tree_digest(store / "history") == tree_digest(made / "history"), rel


def _as_before_chunk_digests(u: Path) -> None:
    """Make universe directory `u` as parallelverse wrote universes before chunk digests: no chunk_sha256, no
    time_sha256 or name, sealed without them."""
    import shutil

    from parallelverse.store.integrity import SEAL, seal_of

    shutil.rmtree(u / "chunk_sha256")
    meta = json.loads((u / "zarr.json").read_text())
    attrs = {k: v for k, v in meta["attributes"].items() if k not in (SEAL, "time_sha256", "name")}
    meta["attributes"] = {**attrs, SEAL: seal_of(u, attrs, ("time", *FIELDS, "chunk_done"))}
    (u / "zarr.json").write_text(json.dumps(meta))


def test_universes_written_before_chunk_digests_are_read_and_resumed(made, store, run_cli):
    """A universe from before chunk digests reads as it is, and a resume finishes it without them."""
    u = store / "universes" / "bootstrap-fixed-mean"
    _as_before_chunk_digests(u)
    before = open_universe(store, "bootstrap-fixed-mean").read()
    np.testing.assert_array_equal(before.close, _arrays(made)["bootstrap-fixed-mean/close"])
    (u / "close" / "c" / "0" / "2").unlink()  # a lost chunk of the old universe: rewritten without a digest
    assert run_cli(*GEN, "--out", store).exit_code == 0
    assert not (u / "chunk_sha256").exists()
    np.testing.assert_array_equal(open_universe(store, "bootstrap-fixed-mean").read().close, before.close)
    assert run_cli("stress", SMA, "--store", store).exit_code == 0


def test_a_universe_copied_in_renamed_or_linked_is_named_and_never_written_through(made, store, run_cli):
    """A universe from another store passes every seal; one from before chunk digests has no other check, and was
    read (NVDA prices in an AAPL store) with generate saying "already complete". A renamed universe was read under
    its new name, and a universe that is a link into another store was "repaired" through the link (h16)."""
    import shutil

    nvda = store.parent / "nvda.zarr"
    assert run_cli(*GEN, "--symbol", "NVDA", "--out", nvda).exit_code == 0
    u = store / "universes" / "garch-gjr-t"
    shutil.rmtree(u)
    shutil.copytree(nvda / "universes" / "garch-gjr-t", u)
    _as_before_chunk_digests(u)
    line = one_line(run_cli("stress", SMA, "--store", store, "--json"))
    assert "it was made with symbol 'NVDA', this store with 'AAPL': copied in from another store" in line, line
    fixed = run_cli(*GEN, "--out", store, "--json")
    assert {x["name"]: x["status"] for x in json.loads(fixed.stdout)["universes"]}["garch-gjr-t"] == "repaired"
    assert tree_digest(u) == tree_digest(made / "universes" / "garch-gjr-t")

    b = store / "universes" / "bootstrap-fixed-mean"
    b.rename(store / "universes" / "garch-gjr-skewt")
    with pytest.raises(StoreError, match="made as universe 'bootstrap-fixed-mean' and renamed\\); rename it back to universes/bootstrap-fixed-mean$"):
        open_universe(store, "garch-gjr-skewt")
    (store / "universes" / "garch-gjr-skewt").rename(b)

    shutil.rmtree(u)
    u.symlink_to(nvda / "universes" / "garch-gjr-t")
    theirs = tree_digest(nvda)
    line = one_line(run_cli(*GEN, "--out", store))
    assert "universes/garch-gjr-t" in line and "is a symbolic link" in line and "remove the link" in line, line
    assert tree_digest(nvda) == theirs and u.is_symlink()
    u.unlink()
    assert run_cli(*GEN, "--out", store).exit_code == 0
    assert tree_digest(store / "universes") == tree_digest(made / "universes")


# ---- overwrite, names, the lock, leftovers ----------------------------------------------------------

def test_overwrite_replaces_only_stores_parallelverse_made(tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.txt").write_text("do not delete")
    note = tmp_path / "notes.txt"
    note.write_text("mine")
    data = tmp_path / "prices.csv"
    data.write_text("date,open,high,low,close\n")
    before = tree_digest(tmp_path)
    for out in (precious, note, data, tmp_path, tmp_path.parent, Path("."), Path("..")):
        result = run_cli(*GEN, "--out", out, "--overwrite")
        one_line(result)
        assert tree_digest(tmp_path) == before, out
    fake = tmp_path / "fake.zarr"
    zarr.open_group(str(fake), mode="w").attrs["format"] = "someone-else/1"
    assert "not a parallelverse store" in one_line(run_cli(*GEN, "--out", fake, "--overwrite"))
    assert zarr.open_group(str(fake), mode="r").attrs["format"] == "someone-else/1"


def _edit_json(path: Path, edit) -> None:
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


METADATA_DAMAGE = {  # relative file, how it is damaged, what the one line names
    "results_group_garbage": ("results/sma_crossover/zarr.json", lambda p: p.write_text("{"), "results for 'sma_crossover'"),
    "configs_cut": ("results/sma_crossover/zarr.json",
                    lambda p: _edit_json(p, lambda m: m["attributes"].__setitem__("configs", m["attributes"]["configs"][:1])),
                    "1 configurations listed, 4 recorded"),
    "configs_added": ("results/sma_crossover/zarr.json",
                      lambda p: _edit_json(p, lambda m: m["attributes"]["configs"].append({"fast": 5, "slow": 9})),
                      "5 configurations listed, 4 recorded"),
    "complete_as_text": ("results/sma_crossover/zarr.json",
                         lambda p: _edit_json(p, lambda m: m["attributes"].__setitem__("complete", "no")), "incomplete"),
    "costs_text": ("results/sma_crossover/zarr.json",
                   lambda p: _edit_json(p, lambda m: m["attributes"]["costs"].__setitem__("fees_bps", "x")),
                   "costs.fees_bps = 'x'"),
    "metric_deleted": ("results/sma_crossover/real/sharpe", None, "real history: sharpe is missing"),
    # its chunks stay: zarr warned in two lines of its own before ours (a hostile tester)
    "metric_json_deleted": ("results/sma_crossover/garch-gjr-t/sharpe/zarr.json", lambda p: p.unlink(),
                            "garch-gjr-t: sharpe is missing"),
    "universe_garbage": ("universes/bootstrap-fixed-mean/zarr.json", lambda p: p.write_text("{"),
                         "universe 'bootstrap-fixed-mean'"),
    "universe_shrunk": ("universes/bootstrap-fixed-mean/close/zarr.json",
                        lambda p: _edit_json(p, lambda m: m.__setitem__("shape", [m["shape"][0], 20])),
                        "close has shape (20, 20) in chunks of 4 paths; its spec says 24 paths"),
}


@pytest.mark.parametrize("case", sorted(METADATA_DAMAGE))
def test_edited_metadata_is_damage_named_in_one_line(case, stressed_store, run_cli):
    """A damaged zarr.json names what is damaged and the fix; it never crashes, never hides the other strategies'
    results, and an edited grid, shape or flag is never read as a smaller or different result."""
    store = stressed_store
    rel, damage, named = METADATA_DAMAGE[case]
    target = store / rel
    if damage is None:
        import shutil

        shutil.rmtree(target)
    else:
        damage(target)
    if rel.startswith("results/"):
        import warnings

        with warnings.catch_warnings(record=True) as said:  # what a terminal would show besides the one line
            warnings.simplefilter("always")
            line = one_line(run_cli("report", store, "--strategy", "sma_crossover", "--n-null", 19))
        assert named in line and "rerun" in line, line
        assert not [w for w in said if "zarr" in w.category.__module__], [str(w.message) for w in said]
        other = run_cli("report", store, "--strategy", "buy_and_hold", "--n-null", 19, "--json")
        assert other.exit_code == 0, other.output  # the other strategy's results are untouched and readable
        assert run_cli("stress", SMA, "--store", store).exit_code == 0  # rewriting them repairs the store
    else:
        line = one_line(run_cli("stress", SMA, "--store", store, "--universe", "bootstrap-fixed-mean"))
        assert named in line and "damaged" in line and "rerun the `parallelverse generate` command" in line, line
        assert run_cli(*GEN, "--out", store).exit_code == 0  # the same generate command repairs it
        assert run_cli("stress", SMA, "--store", store).exit_code == 0
    assert run_cli("report", store, "--strategy", "sma_crossover", "--n-null", 19).exit_code == 0


def test_the_same_generate_command_repairs_a_damaged_history(made, store, run_cli):
    """A flipped byte or a missing chunk in history/ is found when the store is resumed and rewritten from the
    same data, byte for byte as made; a user's file there stops the repair instead of being deleted."""
    chunk = store / "history" / "close" / "c" / "0"
    damaged = bytearray(chunk.read_bytes())
    damaged[len(damaged) // 2] ^= 1
    chunk.write_bytes(bytes(damaged))
    assert "history" in one_line(run_cli("stress", SMA, "--store", store)) and "damaged" in one_line(
        run_cli("stress", SMA, "--store", store))
    assert run_cli(*GEN, "--out", store).exit_code == 0
    assert tree_digest(store / "history") == tree_digest(made / "history")
    (store / "history" / "open" / "c" / "0").unlink()
    (store / "history" / "notes.txt").write_text("mine")
    line = one_line(run_cli(*GEN, "--out", store))
    assert "holds files parallelverse did not write (history/notes.txt)" in line
    assert (store / "history" / "notes.txt").read_text() == "mine"
    (store / "history" / "notes.txt").unlink()
    assert run_cli(*GEN, "--out", store).exit_code == 0
    assert tree_digest(store / "history") == tree_digest(made / "history")
    assert run_cli("stress", SMA, "--store", store).exit_code == 0


def test_a_missing_time_chunk_is_damage_named_and_the_same_generate_says_it_repaired_it(made, store, run_cli):
    """A universe's time stamps read back as 1970-01-01 when their chunk was gone (a hostile tester: strategies got
    1970 dates, stress said nothing); the history's damage pointed to --overwrite, which discards every universe
    and result, when the same generate command repairs it. Both repairs are said."""
    import parallelverse as pv

    (store / "universes" / "garch-gjr-t" / "chunk_done" / "c" / "2").unlink()  # a lost mark: rewritten, and said
    (store / "history" / "time" / "c" / "0").unlink()
    line = one_line(run_cli("stress", SMA, "--store", store))
    assert "history" in line and "rerun the `parallelverse generate` command that made the store" in line, line
    assert "--overwrite" not in line
    (store / "universes" / "bootstrap-fixed-mean" / "time" / "c" / "0").unlink()
    with pytest.raises(StoreError, match="chunk\\(s\\) of universes/bootstrap-fixed-mean/time are missing"):
        pv.open_universe(store, "bootstrap-fixed-mean")
    fixed = run_cli(*GEN, "--out", store, "--json")
    assert fixed.exit_code == 0, fixed.output
    summary = json.loads(fixed.stdout)
    assert summary["history_repaired"] is True
    status = {u["name"]: (u["status"], u["chunks_repaired"]) for u in summary["universes"]}
    assert status["bootstrap-fixed-mean"] == ("repaired", 1) and status["garch-gjr-t"] == ("repaired", 1)
    assert "repaired: the real bars (history), garch-gjr-t (1 chunk(s)), bootstrap-fixed-mean (1 chunk(s))" in \
        " ".join(fixed.stderr.split())
    assert tree_digest(store) == tree_digest(made)
    assert run_cli("stress", SMA, "--store", store).exit_code == 0


def _interrupted(store: Path, name: str) -> None:
    """Universe `name` as a run killed before `finish` leaves it: not complete, its seal matching (an edit of
    `complete` alone is damage, tested in test_store_damage.py)."""
    from parallelverse.store.integrity import SEAL, seal_of

    def edit(m):
        attrs = {k: v for k, v in m["attributes"].items() if k != SEAL}
        attrs["complete"] = False
        m["attributes"] = {**attrs, SEAL: seal_of(store / "universes" / name, attrs,
                                                  [c for c in m["attributes"][SEAL] if c != "zarr.json"])}

    _edit_json(store / "universes" / name / "zarr.json", edit)


def test_a_store_whose_universes_are_all_interrupted_names_them_and_the_fix(store, run_cli):
    for name in ("bootstrap-fixed-mean", "garch-gjr-t"):
        _interrupted(store, name)
    line = one_line(run_cli("stress", SMA, "--store", store))
    assert "no complete universe (bootstrap-fixed-mean, garch-gjr-t: interrupted)" in line, line
    assert "rerun the `parallelverse generate` command that made it to finish it" in line
    assert run_cli(*GEN, "--out", store).exit_code == 0 and run_cli("stress", SMA, "--store", store).exit_code == 0


def test_names_that_would_escape_or_wipe_results_are_refused(sma_store, run_cli, tmp_path):
    store = sma_store
    before = tree_digest(store)
    for bad in ("", ".", "..", "../x", "a/b", ".hidden", "x\\y", "zarr.json", "ZARR.JSON"):
        f = tmp_path / "bad_name.py"
        f.write_text(f"name = {bad!r}\ndef positions(bars):\n    return bars.close * 0\n")
        line = one_line(run_cli("stress", f, "--store", store))
        assert "name" in line and str(f) in line, line
        assert tree_digest(store) == before, bad
    with pytest.raises(StoreError, match="--strategy = '..' starts with"):
        read_store(store).results("..")


def test_a_second_writer_gets_one_line_and_waits_for_nothing(store, run_cli):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # another process holding the store's lock, as a running generate would
        try:
            held = lock_store(store)  # noqa: F841 (held until the process dies)
            os.write(w, b"locked")
            time.sleep(60)
        finally:
            os._exit(0)
    try:
        assert os.read(r, 6) == b"locked"
        before = tree_digest(store)
        for args in ([*GEN, "--out", store], ["stress", SMA, "--store", store]):
            line = one_line(run_cli(*args))
            assert "is being written by another parallelverse process" in line
        assert tree_digest(store) == before
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert run_cli("stress", SMA, "--store", store).exit_code == 0  # the kill released it


def test_leftovers_of_killed_writers_are_cleaned(store, run_cli):
    (store / "universes" / ".garch-gjr-t.999999.partial").mkdir()
    (store / "universes" / "garch-gjr-t" / "close" / "c" / "0" / "1.abc.partial").write_bytes(b"junk")
    beside = store.parent / f".{store.name}.999999.partial"
    beside.mkdir()
    assert run_cli(*GEN, "--out", store).exit_code == 0
    assert not [p for p in store.parent.rglob("*") if p.name.endswith(".partial")]


def test_skeleton_killed_while_writing_its_first_metadata_is_cleaned(tmp_path, run_cli):
    # killed inside zarr's atomic write of the new store's first zarr.json: the skeleton holds only
    # zarr's temporary file; a directory of the same name pattern holding anything else is not ours
    out = tmp_path / "new.zarr"
    dead = tmp_path / f".{out.name}.999999.partial"
    dead.mkdir()
    (dead / "zarr.2b86c12b23fd49f9b1de53a4b1e62758.partial").write_bytes(b"{")
    foreign = tmp_path / f".{out.name}.999998.partial"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert run_cli(*GEN, "--out", out).exit_code == 0
    assert not dead.exists()
    assert (foreign / "notes.txt").read_text() == "mine"


def test_whole_file_writes_clean_temporaries_of_killed_writers(tmp_path):
    from parallelverse.files import write_text_atomic

    page = tmp_path / "report.html"
    dead = tmp_path / ".report.html.999999.partial"   # a writer killed before its rename
    dead.write_text("<html>half")
    other = tmp_path / ".other.html.999999.partial"   # another file's: not this write's business
    other.write_text("x")
    alive = tmp_path / f".report.html.{os.getppid()}.partial"  # a live process's: left alone
    alive.write_text("busy")
    write_text_atomic(page, "<html>whole</html>")
    assert page.read_text() == "<html>whole</html>"
    assert not dead.exists() and other.exists() and alive.exists()


# ---- contained strategy code ------------------------------------------------------------------------

BAD = {
    "mutates": ("def positions(bars):\n    bars.close[:] = 0.0\n    return bars.close\n", "read-only", 2),
    "sys_exit": ("import sys\ndef positions(bars):\n    sys.exit(0)\n", "sys.exit(0)", 3),
    "os_exit": ("import os\ndef positions(bars):\n    os._exit(0)\n", "os._exit(0)", 3),
    "loops": ("def positions(bars):\n    while True:\n        pass\n", "did not return within", None),
    "numba_loops": ("from numba import njit\n@njit\ndef spin(x):\n    i = 0\n    while x > 0:\n        i += 1\n"
                    "    return i\ndef positions(bars):\n    spin(1.0)\n    return bars.close * 0\n",
                    "did not return within", None),
    "hogs": ("import numpy as np\ndef positions(bars):\n    keep = []\n    while True:\n"
             "        keep.append(np.zeros(50_000_000))\n", "MemoryError", 5),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_hostile_strategies_are_one_line_errors_and_earlier_results_stay(store, run_cli, tmp_path, kind):
    src, words, line_no = BAD[kind]
    good = tmp_path / "victim.py"
    good.write_text("name = 'victim'\ndef positions(bars):\n    return bars.close * 0 + 1\n")
    assert run_cli("stress", good, "--store", store).exit_code == 0
    before = tree_digest(store)
    bad = tmp_path / f"{kind}.py"
    bad.write_text("name = 'victim'\n" + src)
    line = one_line(run_cli("stress", bad, "--store", store, "--timeout", "3", "--max-memory", "0.5"))
    assert words in line, line
    assert str(bad) in line and (line_no is None or f"{bad}:{line_no + 1}" in line), line
    assert tree_digest(store) == before  # the earlier results, untouched
    assert read_store(store).results("victim").meta.strategy_sha256 != ""


def test_ctrl_c_stops_a_strategy_stuck_in_numba(store, tmp_path):
    bad = tmp_path / "spin.py"
    bad.write_text(BAD["numba_loops"][0])
    before = tree_digest(store)
    proc = subprocess.Popen([sys.executable, "-m", "parallelverse", "stress", str(bad), "--store", str(store),
                             "--timeout", "3600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        # the strategy's process has spent a second of CPU: it is inside the numba loop (on a loaded machine
        # a fixed sleep could send Ctrl-C while it is still compiling)
        if any(_cpu_seconds(c) > 1.0 for c in _children(proc.pid)):
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # seen once in a loaded CI run, never reproduced: a user presses it again
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in stderr.strip().splitlines()[-1], stderr
    for _ in range(50):
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("a process of the interrupted stress is still running")
    assert tree_digest(store) == before


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


# ---- stress and report options: refused before any work, nothing written ------------------------------

@pytest.mark.parametrize("args", [
    ["--fees", "nan"], ["--fees", "inf"], ["--fees", "-1"], ["--slippage", "nan"], ["--slippage", "-inf"],
    ["--init-cash", "nan"], ["--init-cash", "0"], ["--init-cash", "1e-12"], ["--fees", "10000"], ["--slippage", "5000"], ["--init-cash", "inf"], ["--timeout", "nan"], ["--timeout", "0"],
    ["--max-memory", "nan"], ["--max-memory", "-1"],
], ids=lambda a: " ".join(a))
def test_stress_refuses_non_finite_or_out_of_range_costs_and_limits(sma_store, run_cli, args):
    store = sma_store
    before = tree_digest(store)
    line = one_line(run_cli("stress", SMA, "--store", store, *args))
    assert args[0] in line and args[1] in line
    assert tree_digest(store) == before


def test_report_checks_html_path_before_the_work_and_finds_the_strategy_anywhere(store, run_cli, tmp_path,
                                                                                 monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.py").write_text(SMA.read_text())
    monkeypatch.chdir(work)
    assert run_cli("stress", "mine.py", "--store", store).exit_code == 0  # a relative path, from `work`
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    before = tree_digest(tmp_path)
    for html in (store, tmp_path / "work" / "mine.py" / "r.html"):  # a directory; a path under a file
        line = one_line(run_cli("report", store, "--html", html, "--n-null", 19))
        assert "--html" in line
    assert tree_digest(tmp_path) == before
    result = run_cli("report", store, "--n-null", 19, "--json")  # run from another directory: found by its hash
    assert result.exit_code == 0, result.output
    (work / "mine.py").write_text(SMA.read_text() + "\n# edited\n")
    assert "changed since `stress`" in one_line(run_cli("report", store, "--n-null", 19))
    (work / "mine.py").unlink()
    assert "is not there any more" in one_line(run_cli("report", store, "--n-null", 19))
    (elsewhere / "mine.py").write_text(SMA.read_text())  # moved to where report runs: found by its hash
    assert run_cli("report", store, "--n-null", 19).exit_code == 0


def test_lazy_datasets_refuse_missing_chunks_and_fail_damaged_ones(sma_store, run_cli):
    import parallelverse

    store = sma_store
    chunk = store / "universes" / "garch-gjr-t" / "close" / "c" / "0" / "2"
    _flip(chunk, np.random.default_rng(3))
    ds = parallelverse.open_universe(store, "garch-gjr-t")
    assert np.isfinite(ds["close"].isel(path=slice(0, 8)).values).all()  # other chunks read as before
    with pytest.raises(StoreError, match=r"universe 'garch-gjr-t' .*chunk 2 \(paths 8-11\) of close is damaged "
                                         r"\(checksum mismatch.*rerun the `parallelverse generate`"):
        ds["close"].values  # dask computes: the store's reader names the damaged chunk
    chunk.unlink()
    with pytest.raises(StoreError, match=r"chunk 2 \(paths 8-11\) of close is missing"):
        parallelverse.open_universe(store, "garch-gjr-t")
    next(p for p in (store / "results" / "sma_crossover" / "garch-gjr-t" / "sharpe" / "c").rglob("*") if p.is_file()).unlink()
    with pytest.raises(StoreError, match="chunk.* of .*sharpe are missing"):
        parallelverse.open_results(store, "sma_crossover", "garch-gjr-t")


def test_the_python_api_reads_results_with_reports_checks_and_plain_xarray_opens_a_grid(sma_store, run_cli):
    """open_results served incomplete results and raw codec/xarray errors (a hostile tester); plain xarray could
    not open a params grid's results (bh_* rows shared the `config` dimension name); a path inside a store and a
    store of an older format were misdescribed with generate's advice."""
    import xarray as xr

    import parallelverse

    store = sma_store
    res = parallelverse.open_results(store, "sma_crossover", "garch-gjr-t")
    plain = xr.open_zarr(store, group="results/sma_crossover/garch-gjr-t", consolidated=False)
    assert plain["sharpe"].shape == res["sharpe"].shape == (4, 24) and plain["bh_sharpe"].shape == (1, 24)
    np.testing.assert_array_equal(plain["sharpe"].values, res["sharpe"].values)
    real = parallelverse.open_results(store, "sma_crossover", "real")
    assert real["equity"].dims == ("config", "bar") and len(real["time"]) == real["equity"].shape[1]
    xr.open_zarr(store, group="results/sma_crossover/real", consolidated=False)
    meta = store / "results" / "sma_crossover" / "zarr.json"
    text = meta.read_text()
    _edit_json(meta, lambda m: m["attributes"].__setitem__("complete", False))
    with pytest.raises(StoreError, match="incomplete; rerun `parallelverse stress`"):
        parallelverse.open_results(store, "sma_crossover", "garch-gjr-t")
    meta.write_text(text)
    _edit_json(store / "results" / "sma_crossover" / "garch-gjr-t" / "sharpe" / "zarr.json",
               lambda m: m.__setitem__("shape", [4, 20]))
    with pytest.raises(StoreError, match="sharpe has shape"):
        parallelverse.open_results(store, "sma_crossover", "garch-gjr-t")
    _edit_json(store / "universes" / "garch-gjr-t" / "close" / "zarr.json", lambda m: m.__setitem__("data_type", "float32"))
    with pytest.raises(StoreError, match="close is stored as float32, not float64"):
        parallelverse.open_universe(store, "garch-gjr-t")
    with pytest.raises(StoreError, match="is inside the store .*; pass the store itself"):
        parallelverse.open_universe(store / "universes" / "garch-gjr-t", "garch-gjr-t")
    _edit_json(store / "zarr.json", lambda m: m["attributes"].__setitem__("format", "parallelverse-store/1"))
    with pytest.raises(StoreError, match="made by an older parallelverse"):
        parallelverse.open_universe(store, "bootstrap-fixed-mean")


def test_python_access_names_a_missing_zarr_json_and_a_universe_still_being_written(store):
    import parallelverse

    _interrupted(store, "bootstrap-fixed-mean")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom parallelverse.store import lock_store\n"
                               f"lock = lock_store({str(store)!r})\nprint('held', flush=True)\ntime.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)  # as a running generate holds it
    gone = store / "universes" / "garch-gjr-t" / "zarr.json"
    kept = gone.read_bytes()
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match="still being written by another parallelverse process; wait"):
            parallelverse.open_universe(store, "bootstrap-fixed-mean")
        gone.unlink()  # mid-rebuild by the writer: said as such, not as damage (h16)
        with pytest.raises(StoreError, match="'garch-gjr-t' .* is being written by another parallelverse process"):
            parallelverse.open_universe(store, "garch-gjr-t")
        gone.write_bytes(kept)
    finally:
        holder.kill()
        holder.wait()
    with pytest.raises(StoreError, match=r"is incomplete \(interrupted\); rerun the same generate command"):
        parallelverse.open_universe(store, "bootstrap-fixed-mean")
    (store / "universes" / "garch-gjr-t" / "zarr.json").unlink()
    with pytest.raises(StoreError, match=r"universe 'garch-gjr-t' .* is damaged \(its zarr.json is missing\); rerun"):
        parallelverse.open_universe(store, "garch-gjr-t")


def test_damaged_metadata_is_one_line_and_generate_rebuilds_the_universe(made, store, run_cli):
    want = _arrays(made)
    (store / "universes" / "garch-gjr-t" / "close" / "zarr.json").write_text("{not json")
    line = one_line(run_cli("stress", SMA, "--store", store))
    assert "universe 'garch-gjr-t'" in line and "damaged" in line and "parallelverse generate" in line
    assert run_cli(*GEN, "--out", store).exit_code == 0
    got = _arrays(store)
    assert sorted(got) == sorted(want)
    for key in want:
        if isinstance(want[key], np.ndarray):
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
        else:
            assert got[key] == want[key], key
    (store / "history" / "zarr.json").write_text("{not json")
    assert "the history of store" in one_line(run_cli("stress", SMA, "--store", store))


# ---- outputs never land on what the user made -------------------------------------------------------

def test_default_store_name_stays_in_the_working_directory():
    from parallelverse.generate import default_out

    for symbol in ("BRK/B", "../evil", "/etc/x", "..", "a\\b"):
        p = default_out(symbol, "2020-01")
        assert p.parent == Path(".") and not p.name.startswith(".") and "/" not in p.name, (symbol, p)
    assert default_out("AAPL", "2020-01") == Path("AAPL_2020-01.zarr")
    assert default_out("-x", "2020-01") == Path("x_2020-01.zarr")  # never read as an option
    assert default_out("日本", "2020-01") == Path("日本_2020-01.zarr")
    assert default_out("BRK/B", "2020-01") == Path("BRK_B_2020-01.zarr")
    assert len(default_out("株" * 300, "2020-01").name.encode()) <= 120  # not 'file name too long'
    assert default_out("株" * 300, "2020-01").name == "株" * 33 + "_2020-01.zarr"


def test_html_never_replaces_a_file_parallelverse_did_not_write(sma_store, run_cli, tmp_path):
    victim = tmp_path / "mine.py"
    victim.write_text("precious = 1\n")
    store = sma_store
    before = tree_digest(store)
    line = one_line(run_cli("report", store, "--n-null", 19, "--html", victim))
    assert "exists and is not a page parallelverse wrote" in line
    for target in (store / "zarr.json", store / "history" / "page.html", store / "new" / "page.html"):
        line = one_line(run_cli("report", store, "--n-null", 19, "--html", target))
        assert f"is inside the parallelverse store {str(store)!r}; write it beside the store" in line
    for out in (store / "results" / "cells", store / "calibration"):  # the example names a folder, not a store
        line = one_line(run_cli("calibrate", "--out", out))
        assert f"is inside the parallelverse store {str(store)!r}; write it beside the store, e.g. --out " \
               f"{store.parent / 'calibration'}" in line, line
    assert "holds a control character ('\\n')" in one_line(run_cli("report", store, "--html", tmp_path / "a\nb.html"))
    assert not (tmp_path / "a\nb.html").exists()
    assert victim.read_text() == "precious = 1\n" and tree_digest(store) == before
    page = tmp_path / "page.html"
    for _ in range(2):  # a page we wrote is replaced
        assert run_cli("report", store, "--n-null", 19, "--html", page).exit_code == 0
    assert "exists and is not a page" in one_line(run_cli("calibrate", "--html", victim))


def test_symbolic_links_are_written_through_and_kept(store, run_cli, tmp_path):
    """A store or a page reached through a link is read, resumed and replaced where the link points; the link
    stays a link. A link to a file that is not our page is refused like the file itself."""
    link = tmp_path / "latest.zarr"
    link.symlink_to(store)
    assert run_cli(*GEN, "--out", link).exit_code == 0  # the same run: nothing to do, resumed through the link
    assert run_cli(*GEN9, "--out", link, "--overwrite").exit_code == 0
    assert run_cli("stress", SMA, "--store", link).exit_code == 0
    assert run_cli("report", link, "--n-null", 19, "--json").exit_code == 0
    assert link.is_symlink() and json.loads((store / "zarr.json").read_text())["attributes"]["identity"]
    pages = tmp_path / "pages"
    pages.mkdir()
    for name, target in (("page.html", pages / "real.html"), ("dangling.html", pages / "missing.html")):
        (tmp_path / name).symlink_to(target)
        for _ in range(2):
            result = run_cli("report", store, "--n-null", 19, "--html", tmp_path / name)
            assert result.exit_code == 0, result.output
        assert (tmp_path / name).is_symlink() and target.read_text().startswith(PAGE_HEAD)
    mine = tmp_path / "mine.txt"
    mine.write_text("precious")
    (tmp_path / "to-mine.html").symlink_to(mine)
    line = one_line(run_cli("report", store, "--n-null", 19, "--html", tmp_path / "to-mine.html"))
    assert "exists and is not a page parallelverse wrote" in line and mine.read_text() == "precious"


def test_overwrite_refuses_a_store_holding_the_users_files(store, run_cli):
    (store / "my_notes.txt").write_text("keep me")
    (store / "universes" / "mine").mkdir()
    before = tree_digest(store)
    line = one_line(run_cli(*GEN9, "--out", store, "--overwrite"))
    assert "holds files parallelverse did not write (my_notes.txt, universes/mine)" in line
    assert tree_digest(store) == before and (store / "my_notes.txt").read_text() == "keep me"


def test_overwrite_finds_the_users_files_at_any_depth(sma_store, run_cli):
    """A user's file deep inside a universe, an array's chunk directory or a results group is found too."""
    store = sma_store
    universe = next(p for p in (store / "universes").iterdir())
    plants = [universe / "notes.txt", store / "history" / "close" / "mine.csv",
              store / "history" / "close" / "c" / "backup", next((store / "results").iterdir()) / "my.ipynb"]
    for plant in plants:
        plant.write_text("keep me")
        before = tree_digest(store)
        line = one_line(run_cli(*GEN9, "--out", store, "--overwrite"))
        assert f"holds files parallelverse did not write ({plant.relative_to(store)})" in line
        assert tree_digest(store) == before
        plant.unlink()
    # a zarr array of the user's is a node like ours: only the names parallelverse writes are its own (h16)
    import shutil

    for node in (universe / "my_labels", store / "history" / "my_index", universe / "close" / "sub",
                 next((store / "results").iterdir()) / "real" / "my_metric"):
        zarr.create_array(str(node), data=np.arange(3.0))
        before = tree_digest(store)
        line = one_line(run_cli(*GEN9, "--out", store, "--overwrite"))
        assert f"holds files parallelverse did not write ({node.relative_to(store)}" in line, line
        assert tree_digest(store) == before
        shutil.rmtree(node)
    link = store / "universes" / universe.name / "c"
    assert not link.exists()  # a group has no chunk directory; a link there is still not ours
    link.symlink_to(store.parent)
    assert "did not write (universes/" in one_line(run_cli(*GEN9, "--out", store, "--overwrite"))
    link.unlink()
    assert run_cli(*GEN9, "--out", store, "--overwrite").exit_code == 0


def test_another_file_with_the_same_name_says_it_replaced_results(sma_store, run_cli, tmp_path):
    store = sma_store
    impostor = tmp_path / "impostor.py"
    impostor.write_text("name = 'sma_crossover'\ndef positions(bars):\n    return bars.close * 0\n")
    result = run_cli("stress", impostor, "--store", store, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["replaced_results_of"] == str(SMA.resolve())
    assert f"replaced the results named 'sma_crossover' that {SMA.resolve()} had made" in result.stderr
    moved = tmp_path / "sma_crossover.py"  # the same code from another place: nothing to say
    moved.write_text(SMA.read_text())
    assert run_cli("stress", SMA, "--store", store).exit_code == 0
    again = run_cli("stress", moved, "--store", store)
    assert again.exit_code == 0 and "replaced the results" not in again.stderr


def test_a_null_too_big_for_the_strategys_memory_is_refused_up_front(sma_store, run_cli):
    store = sma_store
    line = one_line(run_cli("report", store, "--n-null", 1_000_000))
    assert "--n-null 1,000,000 puts" in line and "--max-memory 4 GB" in line and "or fewer" in line
    bars = int(line.split("use --n-null ")[1].split(" ")[0].replace(",", ""))  # the most that fit
    assert bars == int(4 * 2**30 / 4 // ((200 + 20) * 48))  # sma_crossover warmup 200 + the 20-bar horizon, 48 B a bar
    small = one_line(run_cli("report", store, "--n-null", 9_999, "--max-memory", "0.125"))
    assert f"puts {9_999 * 220 * 48 / 1e6:.1f} MB of bars" in small  # never '0.0 GB'


def test_stress_on_one_universe_keeps_or_names_the_others_results(store, run_cli):
    """--universe reruns one universe: the others' results from the same file and costs stay (bit for bit);
    with other costs they are dropped, and that is said."""
    assert run_cli("stress", SMA, "--store", store, "--json").exit_code == 0
    before = read_store(store).results("sma_crossover").universes["bootstrap-fixed-mean"].metrics
    again = run_cli("stress", SMA, "--store", store, "--universe", "garch-gjr-t", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["kept_earlier_results"] == ["bootstrap-fixed-mean"]
    assert json.loads(again.stdout)["damaged_earlier_results"] is False
    assert "kept this strategy's earlier results on bootstrap-fixed-mean" in again.stderr
    after = read_store(store).results("sma_crossover")
    assert list(after.universes) == ["garch-gjr-t", "bootstrap-fixed-mean"]
    for k, a in before.items():
        np.testing.assert_array_equal(after.universes["bootstrap-fixed-mean"].metrics[k], a)
    js = json.loads(run_cli("report", store, "--n-null", 19, "--json").stdout)
    assert js["universes_without_results"] == []
    dearer = run_cli("stress", SMA, "--store", store, "--universe", "garch-gjr-t", "--fees", "5", "--json")
    assert dearer.exit_code == 0 and json.loads(dearer.stdout)["dropped_earlier_results"] == ["bootstrap-fixed-mean"]
    assert "dropped this strategy's earlier results on bootstrap-fixed-mean" in dearer.stderr
    assert list(read_store(store).results("sma_crossover").universes) == ["garch-gjr-t"]
    # only the look-ahead setting changed: dropped too, and the reason names it (h14)
    assert run_cli("stress", SMA, "--store", store, "--fees", "5").exit_code == 0
    unchecked = run_cli("stress", SMA, "--store", store, "--universe", "garch-gjr-t", "--fees", "5", "--no-lookahead-check")
    assert unchecked.exit_code == 0 and "another look-ahead setting" in unchecked.stderr, unchecked.stderr
    # earlier results that are damaged cannot be kept: said, not dropped in silence (a hostile tester)
    assert run_cli("stress", SMA, "--store", store).exit_code == 0
    chunk = next(p for p in (store / "results" / "sma_crossover" / "garch-gjr-t" / "sharpe" / "c").rglob("*") if p.is_file())
    chunk.write_bytes(b"x")
    lone = run_cli("stress", SMA, "--store", store, "--universe", "bootstrap-fixed-mean", "--json")
    js = json.loads(lone.stdout)
    assert lone.exit_code == 0 and js["damaged_earlier_results"] is True and js["kept_earlier_results"] == []
    assert ("earlier results were damaged, so none were kept: the results now hold bootstrap-fixed-mean only"
            in " ".join(lone.stderr.split()))
    assert list(read_store(store).results("sma_crossover").universes) == ["bootstrap-fixed-mean"]


def test_report_names_universes_the_results_do_not_cover(store, run_cli):
    assert run_cli("stress", SMA, "--store", store, "--universe", "garch-gjr-t").exit_code == 0
    term = run_cli("report", store, "--n-null", 19)
    assert term.exit_code == 0
    assert "not in this verdict: bootstrap-fixed-mean" in " ".join(term.stdout.replace("│", " ").split())
    js = json.loads(run_cli("report", store, "--n-null", 19, "--json").stdout)
    assert js["universes_without_results"] == ["bootstrap-fixed-mean"]


SPAWNS = {
    "child": "_p = subprocess.Popen(['sleep', '300'])\nopen(PID, 'w').write(str(_p.pid))\n",
    "own_session": "_p = subprocess.Popen(['sleep', '300'], start_new_session=True)\nopen(PID, 'w').write(str(_p.pid))\n",
    # a daemon: its parent (sh) exits at once, so it is orphaned, in a session of its own
    "orphaned_daemon": "subprocess.run(['sh', '-c', f'setsid sleep 300 > /dev/null 2>&1 & echo $! > {PID}'])\n",
}


@pytest.mark.parametrize("how", sorted(SPAWNS))
def test_processes_a_strategy_starts_are_stopped_with_it(how, store, run_cli, tmp_path):
    pid_file = tmp_path / "child.pid"
    spawner = tmp_path / "spawner.py"
    spawner.write_text(f"import subprocess\nPID = {str(pid_file)!r}\n" + SPAWNS[how] +
                       "def positions(bars):\n    return bars.close * 0 + 1\n")
    assert run_cli("stress", spawner, "--store", store).exit_code == 0
    pid = int(pid_file.read_text())
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            break  # gone
        if state == "Z":  # killed, waiting for init to reap it
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the strategy's subprocess {pid} outlived stress")
