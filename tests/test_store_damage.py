"""An edited or lost zarr.json is damage: named in one line by every reader before anything is written, and
repaired by the same `generate` command (metadata seals, codec chains, the root marker, model digests)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import parallelverse
from conftest import one_line, tree_digest
from parallelverse.errors import StoreError

ROOT = Path(__file__).resolve().parents[1]
GEN = ["generate", "--seed-window", "2020-01", "--context", "200", "--horizon", "20", "--n-paths", "12",
       "--chunk-paths", "4", "--seed", "3", "--generators", "bootstrap", "--set", "bootstrap.uncertainty=none"]
SMA = ROOT / "strategies" / "sma_crossover.py"
U = "bootstrap-fixed-mean"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A small complete store with stress results, and a copy for every test that damages one."""
    from click.testing import CliRunner

    from parallelverse.cli import main

    d = tmp_path_factory.mktemp("made")
    for args in ([*GEN, "--out", str(d / "s.zarr")], ["stress", str(SMA), "--store", str(d / "s.zarr")]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    return d / "s.zarr"


@pytest.fixture
def store(made, tmp_path):
    shutil.copytree(made, tmp_path / "s.zarr")
    return tmp_path / "s.zarr"


def _edit(path: Path, edit) -> None:
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta, indent=2))


def _without_results(p: Path) -> str:
    return tree_digest(p / "history") + tree_digest(p / "universes") + (p / "zarr.json").read_text()


HISTORY_EDITS = {  # a hostile tester's edits: stress crashed after writing results marked complete, or blamed the strategy
    "context_end": ("history/zarr.json", lambda m: m["attributes"].__setitem__("context_end", 190)),
    "close_shape": ("history/close/zarr.json", lambda m: m.__setitem__("shape", [m["shape"][0] - 10])),
    "time_shape": ("history/time/zarr.json", lambda m: m.__setitem__("shape", [m["shape"][0] - 10])),
    "close_codec": ("history/close/zarr.json", lambda m: m.__setitem__("codecs", m["codecs"][:-1])),
}


@pytest.mark.parametrize("case", sorted(HISTORY_EDITS))
def test_edited_history_metadata_is_named_before_anything_is_written_and_generate_repairs_it(case, made, store,
                                                                                              run_cli):
    rel, edit = HISTORY_EDITS[case]
    _edit(store / rel, edit)
    before = tree_digest(store)
    for args in (("stress", SMA, "--store", store), ("report", store, "--strategy", "sma_crossover", "--n-null", 19)):
        line = one_line(run_cli(*args))
        assert "the history of store" in line and "damaged" in line and "rerun the `parallelverse generate`" in line, line
    assert tree_digest(store) == before  # nothing written, nothing marked complete
    fixed = run_cli(*GEN, "--out", store, "--json")
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)["history_repaired"] is True
    assert tree_digest(store / "history") == tree_digest(made / "history")
    assert run_cli("stress", SMA, "--store", store).exit_code == 0


UNIVERSE_EDITS = {  # file under universes/<U>/, edit (None: delete the file), what the line names
    "zarr_json_deleted": ("zarr.json", None, "its zarr.json is missing"),
    "chunk_done_shape": ("chunk_done/zarr.json", lambda m: m.__setitem__("shape", [2]),
                         "chunk_done/zarr.json was edited"),
    "close_codec": ("close/zarr.json", lambda m: m.__setitem__("codecs", m["codecs"][:-1]), "not bytes, blosc, crc32c"),
    "spec_seed": ("zarr.json", lambda m: m["attributes"]["spec"].__setitem__("seed", 5), "were edited"),
    "horizon_bars": ("zarr.json", lambda m: m["attributes"].__setitem__("horizon_bars", 19), "were edited"),
}


@pytest.mark.parametrize("case", sorted(UNIVERSE_EDITS))
def test_edited_universe_metadata_is_named_by_every_reader_and_generate_rebuilds_it(case, made, store, run_cli):
    """stress, report and the Python API name the universe as damaged (a lost zarr.json was skipped in silence, a
    dropped checksum codec read a flipped bit as a price); the same generate command rebuilds it, bit-identical."""
    rel, edit, named = UNIVERSE_EDITS[case]
    target = store / "universes" / U / rel
    if edit is None:
        target.unlink()
    else:
        _edit(target, edit)
    if case == "close_codec":  # a flipped bit the dropped codec would no longer see
        chunk = store / "universes" / U / "close" / "c" / "0" / "1"
        data = bytearray(chunk.read_bytes())
        data[-8] ^= 1
        chunk.write_bytes(bytes(data))
    before = tree_digest(store)
    for args in (("stress", SMA, "--store", store), ("report", store, "--strategy", "sma_crossover", "--n-null", 19)):
        line = one_line(run_cli(*args))
        assert f"universe {U!r}" in line and "damaged" in line and named in line, line
        assert "rerun the `parallelverse generate` command" in line, line
    with pytest.raises(StoreError, match="damaged"):
        parallelverse.open_universe(store, U)
    assert tree_digest(store) == before
    fixed = run_cli(*GEN, "--out", store, "--json")
    assert fixed.exit_code == 0, fixed.output
    assert {u["name"]: u["status"] for u in json.loads(fixed.stdout)["universes"]} == {U: "repaired"}
    assert tree_digest(store / "universes") == tree_digest(made / "universes")
    assert run_cli("stress", SMA, "--store", store).exit_code == 0


@pytest.mark.filterwarnings("ignore:Consolidated metadata is currently not part")
def test_consolidated_metadata_cannot_hide_the_chunk_digests(made, store, run_cli):
    """zarr lists a group's members from the consolidated metadata in its zarr.json, outside the sealed attributes:
    with chunk_sha256 left out of that list, swapped chunks were read as prices and generate said "already complete"
    (h16). Consolidated metadata in a sealed group is damage; the same generate command rebuilds the universe."""
    import zarr

    u = store / "universes" / U
    zarr.consolidate_metadata(str(u))
    meta = json.loads((u / "zarr.json").read_text())
    del meta["consolidated_metadata"]["metadata"]["chunk_sha256"]
    (u / "zarr.json").write_text(json.dumps(meta))
    a, b = u / "open" / "c" / "0" / "1", u / "close" / "c" / "0" / "1"
    x, y = a.read_bytes(), b.read_bytes()
    a.write_bytes(y)
    b.write_bytes(x)
    for args in (("stress", SMA, "--store", store), ("report", store, "--strategy", "sma_crossover", "--n-null", 19)):
        line = one_line(run_cli(*args))
        assert f"universe {U!r}" in line and "holds consolidated metadata" in line, line
    fixed = run_cli(*GEN, "--out", store, "--json")
    assert {u["name"]: u["status"] for u in json.loads(fixed.stdout)["universes"]} == {U: "repaired"}
    assert tree_digest(store / "universes") == tree_digest(made / "universes")


def test_a_universe_without_its_zarr_json_is_ours_for_overwrite(store, run_cli):
    (store / "universes" / U / "zarr.json").unlink()
    (store / "universes" / U / "close" / "zarr.json").unlink()
    assert run_cli(*GEN, "--out", store, "--overwrite").exit_code == 0
    assert run_cli("stress", SMA, "--store", store).exit_code == 0
    (store / "universes" / "mine").mkdir()  # an empty directory of the user's is still not ours
    (store / "universes" / "mine" / "c").mkdir()
    (store / "universes" / "mine" / "c" / "notes.txt").write_text("keep")
    assert "did not write (universes/mine/c/notes.txt)" in one_line(run_cli(*GEN, "--out", store, "--overwrite"))


def test_a_results_array_without_its_checksum_codec_is_damage(store, run_cli):
    _edit(store / "results" / "sma_crossover" / "real" / "sharpe" / "zarr.json",
          lambda m: m.__setitem__("codecs", m["codecs"][:-1]))
    line = one_line(run_cli("report", store, "--strategy", "sma_crossover", "--n-null", 19))
    assert "results for 'sma_crossover'" in line and "not bytes, blosc, crc32c" in line, line
    with pytest.raises(StoreError, match="not bytes, blosc, crc32c"):
        parallelverse.open_results(store, "sma_crossover", "real")


@pytest.mark.parametrize("rel,edit", [
    ("zarr.json", lambda m: m["attributes"].__setitem__("warmup", m["attributes"]["warmup"] + 5)),
    ("real/time/zarr.json", lambda m: m["attributes"].__setitem__("units", "seconds")),
])
def test_edited_results_metadata_is_damage_and_stress_rewrites_it(rel, edit, store, run_cli):
    _edit(store / "results" / "sma_crossover" / rel, edit)
    line = one_line(run_cli("report", store, "--strategy", "sma_crossover", "--n-null", 19))
    assert "results for 'sma_crossover'" in line and "are damaged" in line and "edited" in line and \
        "rerun `parallelverse stress`" in line, line
    with pytest.raises(StoreError, match="are damaged"):
        parallelverse.open_results(store, "sma_crossover", U)
    assert run_cli("stress", SMA, "--store", store).exit_code == 0
    assert run_cli("report", store, "--strategy", "sma_crossover", "--n-null", 19).exit_code == 0


def test_results_that_lost_their_zarr_json_are_named_not_skipped(store, run_cli):
    (store / "results" / "sma_crossover" / "zarr.json").unlink()
    for args in (("report", store, "--n-null", 19), ("report", store, "--strategy", "sma_crossover", "--n-null", 19)):
        line = one_line(run_cli(*args))
        assert "results for 'sma_crossover'" in line and "damaged (its zarr.json is missing)" in line, line
    assert run_cli("stress", SMA, "--store", store).exit_code == 0
    assert run_cli("report", store, "--n-null", 19).exit_code == 0


@pytest.mark.parametrize("damage", ["deleted", "garbage", "edited"])
def test_a_damaged_root_zarr_json_is_named_as_a_damaged_store_and_overwrite_rebuilds_it(damage, made, store, run_cli):
    meta = store / "zarr.json"
    if damage == "deleted":
        meta.unlink()
    elif damage == "garbage":
        meta.write_text("{not json")
    else:
        _edit(meta, lambda m: m["attributes"]["identity"].__setitem__("horizon_bars", 19))
    for args in (("stress", SMA, "--store", store), ("report", store, "--strategy", "sma_crossover", "--n-null", 19),
                 (*GEN, "--out", store)):
        line = one_line(run_cli(*args))
        assert "is a damaged parallelverse store" in line and "with --overwrite" in line, line
    with pytest.raises(StoreError, match="is a damaged parallelverse store"):
        parallelverse.open_universe(store, U)
    assert run_cli(*GEN, "--out", store, "--overwrite").exit_code == 0
    assert _without_results(store) == _without_results(made)
    assert run_cli("stress", SMA, "--store", store).exit_code == 0


def test_a_dangling_link_as_out_is_worded_for_the_case(tmp_path, run_cli):
    link = tmp_path / "gone.zarr"
    link.symlink_to(tmp_path / "nowhere")
    line = one_line(run_cli(*GEN, "--out", link))
    assert "is a symbolic link to" in line and "which does not exist" in line and "--overwrite" not in line, line
    assert not (tmp_path / "nowhere").exists()


def _reference_digest(model: Path) -> str:
    """The README's definition, computed independently: sorted relative paths, then name and bytes of each."""
    import hashlib

    h = hashlib.sha256()
    for rel in sorted(p.relative_to(model).as_posix() for p in model.rglob("*")
                      if p.is_file() and p.suffix in (".safetensors", ".json", ".bin")):
        h.update(f"model/{rel}".encode())
        h.update((model / rel).read_bytes())
    return h.hexdigest()


def test_the_model_digest_does_not_depend_on_the_order_folders_were_made(tmp_path):
    """Two copies of one checkpoint made in opposite orders have one digest (os.walk lists sub-folders in the file
    system's order; resume was refused), and it is what the README says it hashes."""
    from parallelverse.generators import make_generator, model_digest

    files = {"z_config.json": b'{"a": 1}', "a/weights.safetensors": b"\x00\x01", "b/c/config.json": b"{}",
             "b/model.bin": b"\x02", "readme.txt": b"not hashed"}
    digests = []
    for order in (sorted(files), sorted(files, reverse=True)):
        d = tmp_path / f"copy{len(digests)}"
        for rel in order:
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_bytes(files[rel])
        digests.append(model_digest(make_generator("kronos", {"model": str(d)})))
        assert digests[-1] == _reference_digest(d)
    assert digests[0] == digests[1]
    (tmp_path / "copy0" / "readme.txt").write_bytes(b"other")
    assert model_digest(make_generator("kronos", {"model": str(tmp_path / "copy0")})) == digests[0]
    (tmp_path / "copy0" / "b" / "c" / "config.json").write_bytes(b"{ }")
    assert model_digest(make_generator("kronos", {"model": str(tmp_path / "copy0")})) != digests[0]


def test_damaged_universes_and_results_group_metadata_is_rewritten_by_the_writers(made, store, run_cli):
    """universes/ and results/ hold nothing but their children: a writer rewrites their lost or garbage zarr.json
    (it was "regenerate the store with --overwrite", discarding every universe and result)."""
    (store / "results" / "zarr.json").write_text("{garbage")
    (store / "universes" / "zarr.json").unlink()
    assert run_cli("report", store, "--strategy", "sma_crossover", "--n-null", 19).exit_code == 0  # nothing read there
    assert run_cli("stress", SMA, "--store", store).exit_code == 0
    (store / "universes" / "zarr.json").write_text("[]")
    shutil.rmtree(store / "universes" / U)
    assert run_cli(*GEN, "--out", store).exit_code == 0
    for group in ("results", "universes"):
        assert (store / group / "zarr.json").read_text() == (made / group / "zarr.json").read_text()
    assert tree_digest(store / "universes") == tree_digest(made / "universes")
