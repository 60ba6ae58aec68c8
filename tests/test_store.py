"""The store package: what goes in comes back out, typed; interrupted writes never show; foreign stores are refused."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from parallelverse.backtest.engine import Costs
from parallelverse.errors import StoreError
from parallelverse.generators import make_generator
from parallelverse.store import (PathResults, RealResults, ResultsMeta, UniverseSpec, open_store, open_universe,
                                 read_paths, read_store)
from parallelverse.window import parse_seed_window, split_at_window

SPEC = UniverseSpec("bootstrap", "bootstrap", {"block_bars": None}, 3, 25, 10)


def _same_split(a, b) -> None:
    assert a.window == b.window
    assert a.history.digest() == b.history.digest() and (a.history.symbol, a.history.source) == (b.history.symbol, b.history.source)
    assert (a.context_end, a.realized_end) == (b.context_end, b.realized_end)
    np.testing.assert_array_equal(a.horizon_time, b.horizon_time)


@pytest.fixture
def split(aapl_split):
    return aapl_split(400, 30)


def _write_universe(st, split, chunks=None):
    writer = st.prepare_universe(SPEC, split.horizon_time)
    fitted = make_generator("bootstrap").fit(split.context)
    for k in writer.pending if chunks is None else chunks:
        lo, hi = SPEC.chunk_range(k)
        writer.write_chunk(k, fitted.sample(split.horizon_bars, SPEC.seed, lo, hi))
    return writer, fitted


def test_split_and_universe_round_trip(split, tmp_path):
    st = open_store(tmp_path / "s.zarr", split)
    _same_split(read_store(tmp_path / "s.zarr").split(), split)
    writer, fitted = _write_universe(st, split)
    writer.finish({"fitted": fitted.describe()})
    u = open_universe(tmp_path / "s.zarr", "bootstrap")
    assert u.complete and u.generator == "bootstrap" and (u.n_paths, u.chunk_paths) == (25, 10)
    assert u.attrs["spec"] == SPEC.record()
    whole = fitted.sample(split.horizon_bars, SPEC.seed, 0, 25)
    got = u.read(5, 17)
    for f, a in whole.as_dict().items():
        np.testing.assert_array_equal(getattr(got, f), a[:, 5:17])
    np.testing.assert_array_equal(got.time, split.horizon_time)
    np.testing.assert_array_equal(read_paths(zarr.open_group(str(tmp_path / "s.zarr"), mode="r")["universes/bootstrap"]).close,
                                  whole.close)  # the raw group reads the same
    _same_split(read_store(tmp_path / "s.zarr").split(), split)  # horizon time stamps from the universe now


def test_horizon_past_the_data_is_rebuilt_without_a_universe(market, tmp_path):
    """With no universe yet, the horizon's calendar past the end of the data is extended as split_at_window does."""
    split = split_at_window(market.select("AAPL"), parse_seed_window("2023-08"), 400, 60)
    assert split.realized_end - split.context_end < split.horizon_bars  # the data ends inside the horizon
    open_store(tmp_path / "s.zarr", split)
    _same_split(read_store(tmp_path / "s.zarr").split(), split)


def test_resume_writes_only_missing_chunks_and_refuses_another_spec(split, tmp_path):
    st = open_store(tmp_path / "s.zarr", split)
    writer, _ = _write_universe(st, split, chunks=[1])
    with pytest.raises(StoreError, match="still has 2 unwritten chunks"):
        writer.finish({})
    with pytest.raises(StoreError, match="is incomplete"):
        open_universe(tmp_path / "s.zarr", "bootstrap")
    again = open_store(tmp_path / "s.zarr", split).prepare_universe(SPEC, split.horizon_time)
    assert again.pending == (0, 2) and not again.complete
    other = UniverseSpec("bootstrap", "bootstrap", {"block_bars": None}, 4, 25, 10)
    with pytest.raises(StoreError, match=r"was made with seed 3 \(this run: 4\); rerun with the options"):
        st.prepare_universe(other, split.horizon_time)


def _results(n_configs=2, n_paths=7, n_bars=30, seed=0):
    rng = np.random.default_rng(seed)
    metrics = {m: rng.normal(size=(n_configs, n_paths)) for m in ("sharpe", "total_return", "excess_sharpe")}
    metrics.update({f"bh_{m}": rng.normal(size=(1, n_paths)) for m in ("sharpe", "total_return")})
    return PathResults(n_paths, metrics, SPEC.record())


def test_results_round_trip(split, tmp_path):
    st = open_store(tmp_path / "s.zarr", split)
    meta = ResultsMeta("demo", "demo.py", "abc", 5, ({"n": 1}, {"n": 2}), Costs(fees_bps=1.0).record(),
                       ("bootstrap",), ("sharpe", "total_return"), True)
    one = _results(n_paths=1)
    real = RealResults(1, one.metrics, None, np.ones((2, 30)), np.ones((1, 30)) * 2, split.horizon_time)
    uni = _results(seed=1)
    with st.results_writer("demo") as w:
        w.write_real(real)
        w.write_universe("bootstrap", uni)
        w.commit(meta)
    back = read_store(tmp_path / "s.zarr").results("demo")
    assert back.meta == meta and st.result_names() == ["demo"]
    assert back.real.n_paths == 1 and back.universes["bootstrap"].spec == SPEC.record()
    for got, want in ((back.real, real), (back.universes["bootstrap"], uni)):
        assert list(got.metrics) == sorted(want.metrics)
        for k, a in want.metrics.items():
            np.testing.assert_array_equal(got.metrics[k], a)
    for k in ("equity", "bh_equity", "time"):
        np.testing.assert_array_equal(getattr(back.real, k), getattr(real, k))


def test_interrupted_results_leave_the_previous_ones(split, tmp_path):
    st = open_store(tmp_path / "s.zarr", split)
    meta = ResultsMeta("demo", "demo.py", "old", 0, ({},), Costs().record(), ("bootstrap",), ("sharpe",), True)
    with st.results_writer("demo") as w:
        w.write_universe("bootstrap", _results(n_configs=1))
        w.commit(meta)
    with pytest.raises(RuntimeError), st.results_writer("demo") as w:
        w.write_universe("bootstrap", _results(n_configs=1, seed=5))
        raise RuntimeError("killed")
    assert st.results("demo").meta.strategy_sha256 == "old"
    np.testing.assert_array_equal(st.results("demo").universes["bootstrap"].metrics["sharpe"], _results(n_configs=1).metrics["sharpe"])
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    with pytest.raises(StoreError, match="no results for strategy 'other'"):
        st.results("other")


def test_foreign_stores_are_refused(split, market, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    with pytest.raises(StoreError, match="exists but is not a parallelverse store"):
        open_store(precious, split)
    assert (precious / "thesis.txt").read_text() == "do not delete"
    with pytest.raises(StoreError, match=r"is not a parallelverse store; pass the store \(the .zarr directory\)"):
        read_store(precious)
    plain = tmp_path / "plain.zarr"
    zarr.open_group(str(plain), mode="w").attrs["format"] = "something-else/1"
    with pytest.raises(StoreError, match="is not a parallelverse store"):
        read_store(plain)
    with pytest.raises(StoreError, match="does not exist; create it with `parallelverse generate"):
        read_store(tmp_path / "missing.zarr")
    open_store(tmp_path / "s.zarr", split)
    other = split_at_window(market.select("AAPL"), parse_seed_window("2019-12"), 400, 30)
    with pytest.raises(StoreError, match="differs in history_sha256, seed_window"):
        open_store(tmp_path / "s.zarr", other)
    open_store(tmp_path / "s.zarr", other, overwrite=True)  # --overwrite starts over
    _same_split(read_store(tmp_path / "s.zarr").split(), other)


def test_a_store_object_sees_what_another_generate_wrote_since(tmp_path, run_cli):
    """A Store reads its split and each universe once while their metadata is unchanged; a store regenerated
    under it since (another process, --overwrite) is read afresh, never the old metadata over the new chunks."""
    gen = ["generate", "--seed-window", "2020-01", "--context", "200", "--horizon", "20", "--chunk-paths", "4",
           "--generators", "bootstrap", "--set", "bootstrap.uncertainty=none", "--out", tmp_path / "s.zarr"]
    assert run_cli(*gen, "--n-paths", "24", "--seed", "0").exit_code == 0
    st = read_store(tmp_path / "s.zarr")
    name = "bootstrap-fixed-mean"
    first = st.universe(name)
    assert st.universe(name) is first and st.split() is st.split()  # read once
    assert first.n_paths == 24 and first.attrs["spec"]["seed"] == 0
    assert run_cli(*gen, "--n-paths", "8", "--seed", "5", "--overwrite").exit_code == 0
    now = st.universe(name)
    assert now.n_paths == 8 and now.attrs["spec"]["seed"] == 5
    np.testing.assert_array_equal(now.read(0, 8).close, read_store(tmp_path / "s.zarr").universe(name).read(0, 8).close)
    assert st.split().horizon_bars == 20


def test_a_seal_and_what_it_seals_go_out_in_one_metadata_write(split, tmp_path, monkeypatch):
    """zarr's `attrs.update` is MutableMapping.update: one zarr.json write per key. A kill between them (h16) left
    a universe whose attributes failed their seal, read as damage and rebuilt whole. Every sealed group's attributes
    are now written in one write: the store's root, the history, a universe's skeleton and its `finish`."""
    import zarr.core.group as zg

    writes = []
    save = zg.AsyncGroup._save_metadata

    async def counted(self, *args, **kwargs):
        writes.append((self.path, sorted(self.metadata.attributes)))
        return await save(self, *args, **kwargs)

    monkeypatch.setattr(zg.AsyncGroup, "_save_metadata", counted)

    def one_sealed_write_per_group(n_groups: int) -> None:
        filled = [w for w in writes if w[1]]  # past zarr's own creation of an empty group
        assert len(filled) == n_groups and all("seal" in keys for _, keys in filled), writes
        assert len({path for path, _ in filled}) == n_groups, writes
        writes.clear()

    st = open_store(tmp_path / "s.zarr", split)
    one_sealed_write_per_group(2)  # the root, the history
    writer, fitted = _write_universe(st, split)
    one_sealed_write_per_group(1)  # the universe's skeleton, sealed as it is made
    writer.finish({"fitted": fitted.describe(), "symbol": "AAPL", "context_bars": 400})
    assert [keys for _, keys in writes] == [sorted(open_universe(tmp_path / "s.zarr", "bootstrap").attrs)]
    one_sealed_write_per_group(1)  # complete and sealed, or neither
