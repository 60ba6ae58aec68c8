"""Chronos universes through the real ChronosPipeline, with a tiny random-initialised T5 built locally."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

torch = pytest.importorskip("torch")
pytest.importorskip("chronos")

from chronos import ChronosPipeline  # noqa: E402

from parallelverse.bars import invariant_violations  # noqa: E402
from parallelverse.errors import GeneratorError  # noqa: E402
from parallelverse.generators import make_generator  # noqa: E402
from parallelverse.generators.chronos import block_seed  # noqa: E402
from parallelverse.store import read_paths  # noqa: E402


@pytest.fixture(scope="module")
def split(aapl_split):
    return aapl_split(400, 20)


def test_own_history_chaining_replicated_step_by_step(tiny_chronos, split):
    """Path i past the prediction length is sampled from [context + path i's own samples]."""
    gen = make_generator("chronos", {"model": str(tiny_chronos), "batch_size": 6, "temperature": 1.3})
    fitted = gen.fit(split.context)
    ours = fitted.sample_block(20, seed=3, block=0)  # 8 + 8 + 4 steps
    assert ours.shape == (20, 6)

    pipe = ChronosPipeline.from_pretrained(str(tiny_chronos), device_map="cpu", dtype=torch.float32)
    ctx = torch.tensor(split.context.close, dtype=torch.float32)
    kw = dict(temperature=1.3, top_k=50, top_p=1.0)
    torch.manual_seed(block_seed(3, gen.name, 0))
    s1 = pipe.predict(ctx, prediction_length=8, num_samples=6, **kw)[0]
    s2 = pipe.predict(torch.cat([ctx.expand(6, -1), s1], 1), prediction_length=8, num_samples=1, **kw)[:, 0]
    s3 = pipe.predict(torch.cat([ctx.expand(6, -1), s1, s2], 1), prediction_length=4, num_samples=1, **kw)[:, 0]
    np.testing.assert_array_equal(ours, torch.cat([s1, s2, s3], 1).T.numpy())
    assert len({tuple(c) for c in ours.T}) == 6  # every path distinct

    # Upstream's long-horizon call continues every path from the median of all samples:
    # the same first segment, then continuations that forgot their own history.
    torch.manual_seed(block_seed(3, gen.name, 0))
    upstream = pipe.predict(ctx, prediction_length=20, num_samples=6, **kw)[0].T.numpy()
    np.testing.assert_array_equal(upstream[:8], ours[:8])
    assert not np.array_equal(upstream[8:], ours[8:])


def test_same_paths_whatever_the_chunking(tiny_chronos, split):
    fitted = make_generator("chronos", {"model": str(tiny_chronos), "batch_size": 5}).fit(split.context)
    whole = fitted.sample(20, 11, 0, 15)
    parts = [fitted.sample(20, 11, lo, hi) for lo, hi in ((0, 3), (3, 12), (12, 15))]
    for f, a in whole.as_dict().items():
        np.testing.assert_array_equal(a, np.hstack([getattr(p, f) for p in parts]))
    assert not invariant_violations(whole).any()
    assert not np.array_equal(fitted.sample(20, 12, 0, 15).close, whole.close)


def test_generate_writes_a_valid_chronos_universe_per_temperature(tiny_chronos, tmp_path, run_cli):
    out = tmp_path / "s.zarr"
    result = run_cli("generate", "--seed-window", "2020-01", "--generators", "chronos", "--model", tiny_chronos,
                     "--temperature", "0.8,1.2", "--n-paths", 40, "--horizon", 20, "--chunk-paths", 20,
                     "--set", "chronos.batch_size=10", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    names = [u["name"] for u in json.loads(result.stdout)["universes"]]
    assert names == ["chronos-tiny-chronos-T0.8", "chronos-tiny-chronos-T1.2"]
    # a checkpoint without a recorded training span: the in-sample warning says so in words, not '(? to before ...)'
    said = " ".join(result.stderr.split())
    assert "records no training span (train_start/train_end in its parallelverse.json), so it counts as trained on " \
           "all data up to today, which overlaps the horizon 2020-02-03..2020-03-02" in said, said
    assert "? to" not in said
    root = zarr.open_group(str(out), mode="r")
    for name in names:
        g = root[f"universes/{name}"]
        b = read_paths(g)
        assert b.shape == (20, 40) and not invariant_violations(b).any()
        a = g.attrs.asdict()
        assert a["spec"]["params"]["temperature"] in (0.8, 1.2) and a["spec"]["params"]["top_k"] == 50
        assert a["fitted"]["weights_sha256"] and a["fitted"]["prediction_length"] == 8
        assert [s["own_samples"] for s in a["fitted"]["segments"]] == [0, 8, 16]


def test_quantile_models_are_refused(tmp_path, run_cli, split):
    for model in ("amazon/chronos-bolt-small", "amazon/chronos-2"):
        with pytest.raises(GeneratorError, match="quantiles, not sample paths"):
            make_generator("chronos", {"model": model}).fit(split.context)
    bolt = tmp_path / "my-model"
    bolt.mkdir()
    (bolt / "config.json").write_text(json.dumps({"chronos_pipeline_class": "ChronosBoltPipeline"}))
    result = run_cli("generate", "--seed-window", "2020-01", "--generators", "chronos", "--model", bolt,
                     "--out", tmp_path / "s.zarr")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "is a Chronos-Bolt model" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "s.zarr").exists()


def test_unreachable_hub_id_is_one_line(tmp_path, run_cli, monkeypatch):
    import huggingface_hub.constants

    # No network here either way; offline mode only spares the test the client's retries.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    result = run_cli("generate", "--seed-window", "2020-01", "--generators", "chronos", "--model",
                     "amazon/chronos-t5-nonexistent", "--n-paths", 5, "--out", tmp_path / "s.zarr")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not load Chronos model 'amazon/chronos-t5-nonexistent'" in lines[0]
    assert "Traceback" not in result.output and not (tmp_path / "s.zarr").exists()


def test_an_unreachable_hub_is_one_line_without_the_clients_retries(tmp_path, run_cli, monkeypatch):
    """Not in offline mode, the Hub not answering: huggingface_hub retried five times with back-off, printing a
    line per try (a hostile tester: 11 lines and ~23 s before our error). One probe now decides, for both models."""
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    for gen, model in (("chronos", "amazon/chronos-t5-small"), ("kronos", "NeoQuasar/Kronos-small")):
        result = run_cli("generate", "--seed-window", "2020-01", "--generators", gen, "--model", model, "--n-paths", 5,
                         "--out", tmp_path / "s.zarr")
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Hugging Face Hub (offline or unknown id)" in lines[0], lines
        assert not (tmp_path / "s.zarr").exists()


def test_model_options_need_a_model_generator(tmp_path, run_cli):
    result = run_cli("generate", "--seed-window", "2020-01", "--generators", "garch", "--model", "x", "--out", tmp_path / "s.zarr")
    assert result.exit_code == 2 and "add one to --generators" in result.stderr


@pytest.mark.parametrize("damage, says", [
    ("prediction_length", "chronos_config prediction_length = 0 must be a whole number >= 1"),
    ("weights", "could not load a Chronos-T5 model from"),
    ("missing_weight", "the weights do not match the architecture (missing encoder.block.0.layer.0.SelfAttention.q.weight)"),
    ("wrong_shape", "the weights do not match the architecture (shape-mismatched decoder.block.0.layer.0.SelfAttention"),
])
def test_a_damaged_chronos_checkpoint_is_one_line_before_any_sampling(damage, says, tiny_chronos, tmp_path, run_cli,
                                                                      capfd):
    """prediction_length 0 planned segments of 0 bars forever (memory grew without end); garbage weights crashed.
    A missing weight was initialised at random by transformers (a universe of wrong numbers, exit 0), and a config
    whose sizes do not fit the weights printed transformers' ~30-line LOAD REPORT before our error."""
    import json
    import shutil

    from safetensors.torch import load_file, save_file

    model = tmp_path / "m"
    shutil.copytree(tiny_chronos, model)
    if damage == "prediction_length":
        cfg = json.loads((model / "config.json").read_text())
        cfg["chronos_config"]["prediction_length"] = 0
        (model / "config.json").write_text(json.dumps(cfg))
    elif damage == "missing_weight":
        state = load_file(str(model / "model.safetensors"))
        del state["encoder.block.0.layer.0.SelfAttention.q.weight"]
        save_file(state, str(model / "model.safetensors"))
    elif damage == "wrong_shape":
        cfg = json.loads((model / "config.json").read_text())
        cfg["d_model"] *= 2
        (model / "config.json").write_text(json.dumps(cfg))
    else:
        (model / "model.safetensors").write_bytes(b"\x00" * 12)
    capfd.readouterr()
    result = run_cli("generate", "--seed-window", "2020-01", "--generators", "chronos", "--model", model,
                     "--n-paths", 4, "--horizon", 5, "--out", tmp_path / "s.zarr")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1 and says in lines[0], result.output
    assert not (tmp_path / "s.zarr").exists()
    leaked = capfd.readouterr()  # transformers' own logger writes to the process's stderr, past CliRunner
    assert "LOAD REPORT" not in leaked.err + leaked.out and "MISSING" not in leaked.err
