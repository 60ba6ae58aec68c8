"""Kronos: checkpoint compatibility and numerics against the official code (kronos-model-arch), loaded
through our strict loader from directories written by the official save_pretrained."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import zarr

torch = pytest.importorskip("torch")
official = pytest.importorskip("model", reason="kronos-model-arch (the official Kronos code) is a test dependency")

from parallelverse.bars import invariant_violations  # noqa: E402
from parallelverse.errors import GeneratorError  # noqa: E402
from parallelverse.generators import make_generator  # noqa: E402
from parallelverse.generators.kronos.load import load_module  # noqa: E402
from parallelverse.generators.kronos.model import KronosPredictor, KronosTokenizer  # noqa: E402
from parallelverse.generators.kronos.sampler import KronosSampler, filter_logits  # noqa: E402
from parallelverse.store import read_paths  # noqa: E402

TOK = dict(d_in=6, d_model=32, n_heads=4, ff_dim=64, n_enc_layers=3, n_dec_layers=3, ffn_dropout_p=0.0,
           attn_dropout_p=0.0, resid_dropout_p=0.0, s1_bits=4, s2_bits=4, beta=0.05, gamma0=1.0, gamma=1.1,
           zeta=0.05, group_size=4)
PRED = dict(s1_bits=4, s2_bits=4, n_layers=2, d_model=32, n_heads=4, ff_dim=64, ffn_dropout_p=0.0, attn_dropout_p=0.0,
            resid_dropout_p=0.0, token_dropout_p=0.0, learn_te=True)


@pytest.fixture(scope="module")
def official_dir(tmp_path_factory):
    """A tiny random Kronos written by the official classes' save_pretrained (config.json + model.safetensors)."""
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("kronos") / "tiny-kronos"
    tok, pred = official.KronosTokenizer(**TOK), official.Kronos(**PRED)
    tok.save_pretrained(d / "tokenizer")
    pred.save_pretrained(d / "predictor")
    return d, tok.eval(), pred.eval()


@pytest.fixture(scope="module")
def ours(official_dir):
    d, _, _ = official_dir
    return load_module(KronosTokenizer, d / "tokenizer", "tokenizer"), load_module(KronosPredictor, d / "predictor", "predictor")


def test_official_checkpoint_loads_strictly(official_dir, ours):
    d, otok, opred = official_dir
    tok, pred = ours
    assert set(tok.state_dict()) == set(otok.state_dict()) and set(pred.state_dict()) == set(opred.state_dict())
    x = torch.randn(2, 40, 6)
    s1, s2 = tok.encode(x)
    o1, o2 = otok.encode(x, half=True)
    assert torch.equal(s1, o1) and torch.equal(s2, o2)
    torch.testing.assert_close(tok.decode(s1, s2), otok.decode([o1, o2], half=True), rtol=0, atol=1e-6)


def test_kv_cached_logits_match_a_full_recompute(official_dir, ours):
    _, _, opred = official_dir
    tok, pred = ours
    g = torch.Generator().manual_seed(1)
    ctx1, ctx2 = torch.randint(0, 16, (30,), generator=g), torch.randint(0, 16, (30,), generator=g)
    stamp = torch.randint(0, 7, (1, 40, 5), generator=g).float()
    gen1, gen2 = torch.randint(0, 16, (3, 8), generator=g), torch.randint(0, 16, (3, 8), generator=g)
    s = KronosSampler(tok, pred, max_context=64)
    cache = s.prefill(ctx1, ctx2, stamp[0, :30], 3)
    for i in range(8):
        full1 = torch.cat([ctx1.expand(3, -1), gen1[:, :i]], 1)
        full2 = torch.cat([ctx2.expand(3, -1), gen2[:, :i]], 1)
        with torch.no_grad():
            ol1, octx = opred.decode_s1(full1, full2, stamp[:, : 30 + i].expand(3, -1, -1))
            ol2 = opred.decode_s2(octx, gen1[:, i : i + 1])[:, -1]
        torch.testing.assert_close(s.s1_logits(cache), ol1[:, -1], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(s.s2_logits(cache, gen1[:, i]), ol2, rtol=1e-4, atol=1e-5)
        cache = s.extend(cache, gen1[:, i : i + 1], gen2[:, i : i + 1], stamp[:, 30 + i : 31 + i].expand(3, -1, -1))


def test_greedy_paths_equal_the_official_inference(official_dir, ours):
    _, otok, opred = official_dir
    tok, pred = ours
    x = torch.randn(1, 50, 6).clamp(-5, 5)
    stamp = torch.randint(0, 7, (1, 60, 5)).float()
    ref = official.kronos.auto_regressive_inference(otok, opred, x, stamp[:, :50], stamp[:, 50:], 64, 10, T=1.0,
                                                    top_k=1, top_p=1.0, sample_count=1)
    s1, s2 = tok.encode(x)
    g1, g2 = KronosSampler(tok, pred, 64).generate(s1[0], s2[0], stamp[0, :50], stamp[0, 50:], torch.rand(4, 10, 2),
                                                  1.0, 1, 1.0)
    z = tok.decode(torch.cat([s1.expand(4, -1), g1], 1), torch.cat([s2.expand(4, -1), g2], 1))[:, -10:]
    np.testing.assert_allclose(z.numpy(), np.repeat(ref[:, -10:], 4, axis=0), rtol=1e-5, atol=1e-5)


def test_top_k_and_top_p_compose():
    logits = torch.log(torch.tensor([[0.4, 0.3, 0.2, 0.06, 0.04]]))
    kept = torch.isfinite(filter_logits(logits, 1.0, 4, 0.75))[0].tolist()
    assert kept == [True, True, True, False, False]  # top-4, then the smallest set reaching 75%
    kept = torch.isfinite(filter_logits(logits, 1.0, 2, 1.0))[0].tolist()
    assert kept == [True, True, False, False, False]


@pytest.fixture(scope="module")
def split(aapl_split):
    return aapl_split(120, 30)


def test_same_paths_whatever_the_batch_size_and_chunking(official_dir, split):
    d, _, _ = official_dir
    a = make_generator("kronos", {"model": str(d), "batch_size": 4, "top_p": 0.9}).fit(split.context)
    b = make_generator("kronos", {"model": str(d), "batch_size": 11, "top_p": 0.9}).fit(split.context)
    whole = a.sample(30, 5, 0, 12)
    parts = [b.sample(30, 5, 0, 7), b.sample(30, 5, 7, 12)]
    np.testing.assert_allclose(whole.close, np.hstack([p.close for p in parts]), rtol=1e-6)
    assert not invariant_violations(whole).any()
    assert len({tuple(np.round(c, 6)) for c in whole.close.T}) == 12  # every path distinct


def test_batches_side_by_side_on_cpu_give_the_same_paths(official_dir, split):
    """CPU lanes (batches on their own threads, one torch thread each) change nothing but the time, and
    torch's thread count is back where it was afterwards (a killed and resumed generate relies on it too)."""
    d, _, _ = official_dir
    fitted = make_generator("kronos", {"model": str(d), "batch_size": 3, "top_p": 0.9}).fit(split.context)
    threads = torch.get_num_threads()
    one_by_one = fitted._sample(30, 5, 0, 10, lanes=1)
    side_by_side = fitted._sample(30, 5, 0, 10, lanes=3)  # four batches of 3, 3, 3, 1 paths on three threads
    assert torch.get_num_threads() == threads
    for f in ("open", "high", "low", "close", "volume"):  # the same batches either way: bit-identical
        np.testing.assert_array_equal(getattr(side_by_side, f), getattr(one_by_one, f))


def test_sliding_window_past_max_context(official_dir, split):
    d, _, _ = official_dir
    fitted = make_generator("kronos", {"model": str(d), "max_context": 64}).fit(split.context)  # 120 context bars
    b = fitted.sample(30, 0, 0, 5)
    assert b.shape == (30, 5) and not invariant_violations(b).any()


def test_generate_writes_a_kronos_universe(official_dir, tmp_path, run_cli):
    d, _, _ = official_dir
    out = tmp_path / "s.zarr"
    result = run_cli("generate", "--seed-window", "2020-01", "--generators", "kronos", "--model", d, "--temperature",
                     "1.0,1.3", "--top-p", "0.95", "--top-k", "12", "--device", "cpu", "--n-paths", 12, "--horizon", 20,
                     "--chunk-paths", 6, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    assert [u["name"] for u in json.loads(result.stdout)["universes"]] == ["kronos-tiny-kronos-T1", "kronos-tiny-kronos-T1.3"]
    g = zarr.open_group(str(out), mode="r")["universes/kronos-tiny-kronos-T1"]
    assert not invariant_violations(read_paths(g)).any()
    p = g.attrs["spec"]["params"]
    assert (p["top_p"], p["top_k"], p["device"], p["temperature"]) == (0.95, 12, "cpu", 1.0)
    fitted = g.attrs["fitted"]
    assert set(fitted["repairs"]) == {"price_floor", "high", "low", "volume"} and fitted["max_context"] == 512


def test_mismatched_weights_are_one_line_errors(official_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    d, _, _ = official_dir
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((d / "predictor" / "config.json").read_text())
    state = load_file(str(d / "predictor" / "model.safetensors"))
    state.pop("head.proj_s2.bias")
    state["extra.weight"] = torch.zeros(1)
    save_file(state, str(bad / "model.safetensors"))
    with pytest.raises(GeneratorError, match=r"missing \['head.proj_s2.bias'\], unexpected \['extra.weight'\]"):
        load_module(KronosPredictor, bad, "predictor")
    state = load_file(str(d / "predictor" / "model.safetensors"))
    state["head.proj_s1.weight"] = torch.zeros(3, 32)
    save_file(state, str(bad / "model.safetensors"))
    with pytest.raises(GeneratorError, match=r"tensor head.proj_s1.weight has shape \(3, 32\), the config implies \(16, 32\)"):
        load_module(KronosPredictor, bad, "predictor")
    cfg = json.loads((bad / "config.json").read_text())
    cfg["n_layer"] = cfg.pop("n_layers")
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(GeneratorError, match="unknown keys \\['n_layer'\\]"):
        load_module(KronosPredictor, bad, "predictor")


def test_teacher_forced_logits_equal_official_past_max_context(official_dir, ours):
    """(b) With slide=1 (the official window semantics) every step's s1 and s2 logits equal the official
    decode_s1 / decode_s2 on the official window, also after the window starts sliding."""
    _, _, opred = official_dir
    tok, pred = ours
    g = torch.Generator().manual_seed(3)
    n, h, mc = 24, 14, 30  # the window overflows after 6 generated tokens
    ctx1, ctx2 = torch.randint(0, 16, (n,), generator=g), torch.randint(0, 16, (n,), generator=g)
    stamp = torch.randint(0, 7, (n + h, 5), generator=g).float()
    f1, f2 = torch.randint(0, 16, (2, h), generator=g), torch.randint(0, 16, (2, h), generator=g)
    worst = []

    def check(i, l1, l2):
        s1 = torch.cat([ctx1.expand(2, -1), f1[:, :i]], 1)[:, -mc:]
        s2 = torch.cat([ctx2.expand(2, -1), f2[:, :i]], 1)[:, -mc:]
        st = stamp[: n + i][-mc:][None].expand(2, -1, -1)
        with torch.no_grad():
            o1, octx = opred.decode_s1(s1, s2, st)
            o2 = opred.decode_s2(octx, f1[:, i : i + 1])[:, -1]
        worst.append(max((o1[:, -1] - l1).abs().max().item(), (o2 - l2).abs().max().item()))

    KronosSampler(tok, pred, mc, slide=1).generate(ctx1, ctx2, stamp[:n], stamp[n:], torch.rand(2, h, 2),
                                                   forced=(f1, f2), on_logits=check)
    assert len(worst) == h and max(worst) < 1e-5


def test_greedy_past_max_context_and_decode_equal_official(official_dir, ours):
    """(c) Greedy generation (top_k=1) past max_context with slide=1, and the shared-prefix decode,
    reproduce the official auto_regressive_inference output."""
    from parallelverse.generators.kronos.sampler import decode_paths

    _, otok, opred = official_dir
    tok, pred = ours
    x = torch.randn(1, 40, 6).clamp(-5, 5)
    stamp = torch.randint(0, 7, (1, 52, 5)).float()
    ref = official.kronos.auto_regressive_inference(otok, opred, x, stamp[:, :40], stamp[:, 40:], 32, 12, T=1.0,
                                                    top_k=1, top_p=1.0, sample_count=1)
    s1, s2 = tok.encode(x)
    g1, g2 = KronosSampler(tok, pred, 32, slide=1).generate(s1[0], s2[0], stamp[0, :40], stamp[0, 40:],
                                                           torch.rand(3, 12, 2), 1.0, 1, 1.0)
    z = decode_paths(tok, s1[0], s2[0], g1, g2, 32)
    np.testing.assert_allclose(z.numpy(), np.repeat(ref[:, -12:], 3, axis=0), rtol=1e-5, atol=1e-5)


def test_offline_hub_id_fails_fast_with_the_fix(tmp_path, run_cli, monkeypatch):
    import time

    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    t0 = time.perf_counter()
    result = run_cli("generate", "--seed-window", "2020-01", "--generators", "kronos", "--model", "NeoQuasar/Kronos-small",
                     "--out", tmp_path / "s.zarr")
    assert time.perf_counter() - t0 < 30
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "pass --model DIR" in lines[0]
    assert "Traceback" not in result.output and not (tmp_path / "s.zarr").exists()


def test_drift_mitigations_are_labelled_and_change_the_drift(official_dir, split):
    d, _, _ = official_dir
    base = make_generator("kronos", {"model": str(d)})
    anchored = make_generator("kronos", {"model": str(d), "reanchor_drift": True})
    assert anchored.name.endswith("-anchored") and make_generator("kronos", {"model": str(d), "norm_window": 60}).name.endswith("-nw60")
    a, b = base.fit(split.context).sample(30, 0, 0, 16), anchored.fit(split.context).sample(30, 0, 0, 16)
    last = split.context.close[-1]
    r_ctx = np.mean(np.diff(np.log(split.context.close)))
    med = lambda x: float(np.median(np.log(x.close[-1] / last) / 30))  # noqa: E731
    assert abs(med(b) - r_ctx) < 1e-9 and abs(med(a) - r_ctx) > 1e-6


def test_drift_prior_and_regimes_replace_the_models_drift(official_dir, split):
    """drift_prior_sd / vol_regime_sd: the model's paths, less its own median drift (pilot paths), times each path's
    regime level, plus a drift from the posterior under the equity-premium prior; official checkpoints keep theirs."""
    from parallelverse.generators.drift import drift_posterior
    from parallelverse.generators.kronos import PILOT_PATHS
    from parallelverse.generators.regime import path_regimes
    from parallelverse.rng import path_rngs

    d, _, _ = official_dir
    plain = make_generator("kronos", {"model": str(d)}).fit(split.context)
    assert plain.drift_prior_sd == 0 and plain.vol_regime_sd == 0  # nothing declared: the model's own drift
    spec = make_generator("kronos", {"model": str(d), "drift_prior_sd": 0.2, "vol_regime_sd": 0.3})
    assert spec.name.endswith("-dp0.2-vr0.3")
    fitted = spec.fit(split.context)
    whole = fitted.sample(30, 5, 0, 12)
    parts = [fitted.sample(30, 5, 0, 5), fitted.sample(30, 5, 5, 12)]
    np.testing.assert_allclose(whole.close, np.hstack([p.close for p in parts]), rtol=1e-9)  # the pilot is per seed
    assert not invariant_violations(whole).any()
    # by hand, from the model's own paths (same streams) and the pilot's median drift
    raw = fitted._sample(30, 5, 0, 12)
    last = split.context.close[-1]
    pilot = fitted._sample(30, 5, 0, PILOT_PATHS, stream=spec.name + "-pilot")
    m_model = np.median(np.log(pilot.close[-1] / last) / 30)
    r = np.diff(np.log(split.context.close))
    pm, ps = drift_posterior(r.mean(), r.std(ddof=1) / np.sqrt(len(r)), split.context.year(), 0.2)
    z = np.array([g.standard_normal() for g in path_rngs(5, spec.name + "-drift", 0, 12)])
    reg = path_regimes(5, spec.name, 0, 12, 0.3, r.std(), 30)
    t = np.arange(1, 31)[:, None]
    expect = reg.level * (np.log(raw.close / last) - m_model * t) + (pm + ps * z + reg.drift) * t
    np.testing.assert_allclose(np.log(whole.close / last), expect, atol=1e-9)


def test_horizon_longer_than_max_context_is_decoded_in_trailing_windows(ours):
    """Past max_context each block of max_context/2 bars is decoded in the window of max_context tokens
    that ends with the block."""
    from parallelverse.generators.kronos.sampler import decode_paths

    tok, _ = ours
    g = torch.Generator().manual_seed(4)
    c1, c2 = torch.randint(0, 16, (50,), generator=g), torch.randint(0, 16, (50,), generator=g)
    g1, g2 = torch.randint(0, 16, (3, 70), generator=g), torch.randint(0, 16, (3, 70), generator=g)
    z = decode_paths(tok, c1, c2, g1, g2, 32)
    full1, full2 = torch.cat([c1.expand(3, -1), g1], 1), torch.cat([c2.expand(3, -1), g2], 1)
    for j in (0, 15, 16, 40, 69):
        end = min((j // 16 + 1) * 16, 70)
        w = tok.decode(full1[:, 50 + end - 32 : 50 + end], full2[:, 50 + end - 32 : 50 + end])
        torch.testing.assert_close(z[:, j], w[:, -(end - j)], rtol=1e-5, atol=1e-5)


def test_context_is_encoded_only_over_the_trained_window(official_dir, split):
    """No seam: only the last max_context (or norm_window) bars are encoded, normalised on exactly those bars, so
    bars before the window change nothing (the causal tokenizer would otherwise re-code every token)."""
    d, _, _ = official_dir
    spec = make_generator("kronos", {"model": str(d), "max_context": 64})
    whole = spec.fit(split.context)  # 120 bars of context
    alone = spec.fit(split.context.slice(56, 120))  # the last 64 only
    assert whole.describe()["encoded_bars"] == 64 and torch.equal(whole.s1, alone.s1) and torch.equal(whole.s2, alone.s2)
    np.testing.assert_allclose(whole.sample(10, 0, 0, 4).close, alone.sample(10, 0, 0, 4).close, rtol=1e-6)
    nw = make_generator("kronos", {"model": str(d), "norm_window": 40}).fit(split.context)
    assert nw.describe()["encoded_bars"] == 40
    np.testing.assert_allclose(nw.scale.mean[:4], np.stack([split.context.open, split.context.high, split.context.low,
                                                            split.context.close], 1)[-40:].mean(0), rtol=1e-12)


def test_renormalising_every_k_bars_starts_like_the_frozen_sampler(official_dir, split):
    """renorm_every=k: the first block is the frozen sampler's (same window, same uniforms); later blocks are
    re-normalised per path; the option is labelled and the paths do not depend on the batch size."""
    d, _, _ = official_dir
    renorm = make_generator("kronos", {"model": str(d), "max_context": 64, "norm_window": 48, "renorm_every": 8,
                                       "batch_size": 3})
    assert renorm.name.endswith("-rn8")
    from parallelverse.generators.kronos import stamps
    from parallelverse.trading_calendar import extend_calendar

    f = renorm.fit(split.context)
    u = torch.rand(5, 16, 2, generator=torch.Generator().manual_seed(0))  # 48 context + 16 bars fit the window
    future = torch.from_numpy(stamps(extend_calendar(split.context.time, 16)))
    a, b = f._sample_frozen(u, future), f._sample_renormalised(u, future)
    np.testing.assert_allclose(b[3][:8], a[3][:8], rtol=1e-4)
    assert np.abs(np.log(b[3][8:] / a[3][8:])).max() > 1e-3
    b = renorm.fit(split.context).sample(16, 1, 0, 5)
    assert not invariant_violations(b).any()
    c = make_generator("kronos", {"model": str(d), "max_context": 64, "norm_window": 48, "renorm_every": 8,
                                  "batch_size": 5}).fit(split.context).sample(16, 1, 0, 5)
    np.testing.assert_allclose(c.close, b.close, rtol=1e-5)
    with pytest.raises(GeneratorError, match="renorm_every=20 plus the 48 encoded bars exceeds max_context 64"):
        make_generator("kronos", {"model": str(d), "max_context": 64, "norm_window": 48, "renorm_every": 20}).fit(
            split.context)


def test_logret_representation_round_trips_real_bars_and_always_gives_valid_bars(aapl):
    """logret carries no price level: real bars -> features -> bars is exact from the last real close, and any
    decoded features (even wicks below zero) give bars that satisfy the invariants."""
    from parallelverse.bars import PathBatch
    from parallelverse.generators.kronos import representation as rep

    c = aapl.slice(1000, 1130)
    raw = rep.raw_features("logret", c.open, c.high, c.low, c.close, c.volume)
    scale = rep.fit_scale("logret", raw[1:121])
    assert scale.std[0] == pytest.approx(np.sqrt(np.mean(np.diff(np.log(c.close[:121])) ** 2)))
    z = rep.normalise(raw[1:], scale)
    assert np.abs(z[:, :4]).max() < rep.CLIP_LOGRET  # nothing clipped on ordinary bars
    o, h, lo, cl, v = rep.to_bars("logret", rep.denormalise(z[None], scale), c.close[0])
    for got, want in zip((o, h, lo, cl, v), (c.open, c.high, c.low, c.close, c.volume)):
        np.testing.assert_allclose(got[:, 0], want[1:], rtol=1e-5)
    noise = np.random.default_rng(0).normal(0, 2, (7, 30, 5))
    bars = rep.to_bars("logret", rep.denormalise(noise, scale), np.full(7, 50.0))
    assert not invariant_violations(PathBatch(*bars)).any()


def _edit_json(path, edit):
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def _other_bits_tokenizer(directory):
    """A well-formed tokenizer of 5+7 bits (the tiny predictor reads 6+6-bit codes)."""
    from parallelverse.generators.kronos.load import save_module
    from parallelverse.generators.kronos.model import KronosTokenizer

    shutil.rmtree(directory)
    save_module(KronosTokenizer(**{**TOK, "s1_bits": 5, "s2_bits": 7}), directory)


KRONOS_DAMAGE = {  # how the copied checkpoint is damaged -> what the one line says
    "config_garbage": (lambda m: (m / "predictor" / "config.json").write_text("garbage{"),
                       "predictor/config.json: not readable JSON"),
    "weights_truncated": (lambda m: (m / "predictor" / "model.safetensors").write_bytes(b"\x00" * 10),
                          "the predictor weights are damaged or not safetensors"),
    "d_model_text": (lambda m: _edit_json(m / "predictor" / "config.json", lambda d: d.__setitem__("d_model", "abc")),
                     "predictor d_model = 'abc' should be a whole number from 1 to 16,384"),
    "d_model_huge": (lambda m: _edit_json(m / "tokenizer" / "config.json", lambda d: d.__setitem__("d_model", 1000000)),
                     "tokenizer d_model = 1000000 should be a whole number from 1 to 16,384"),
    "bits_mismatch": (lambda m: _other_bits_tokenizer(m / "tokenizer"), "makes 5+7-bit codes but the predictor"),
    "declared_garbage": (lambda m: (m / "parallelverse.json").write_text("[1]"),
                         "parallelverse.json: should hold an object of sampling settings"),
    "declared_negative_prior": (lambda m: (m / "parallelverse.json").write_text('{"drift_prior_sd": -3}'),
                                "drift_prior_sd = -3 should be a number from 0 to 2"),
    "declared_renorm": (lambda m: (m / "parallelverse.json").write_text('{"renorm_every": -4}'),
                        "renorm_every = -4 should be a whole number of bars >= 0"),
    "no_predictor": (lambda m: shutil.rmtree(m / "predictor"), "has tokenizer/ but no predictor/"),
}


@pytest.mark.parametrize("case", sorted(KRONOS_DAMAGE))
def test_a_damaged_kronos_checkpoint_is_one_line_and_writes_nothing(case, tiny_kronos, tmp_path, run_cli):
    damage, says = KRONOS_DAMAGE[case]
    model = tmp_path / "m"
    shutil.copytree(tiny_kronos, model)
    damage(model)
    result = run_cli("generate", "--seed-window", "2020-01", "--context", 200, "--horizon", 8, "--n-paths", 4,
                     "--generators", "kronos", "--model", model, "--device", "cpu", "--out", tmp_path / "s.zarr")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1 and says in lines[0], result.output
    assert not (tmp_path / "s.zarr").exists()


def test_model_paths_that_are_not_checkpoints_say_so(tmp_path, run_cli):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.bin").write_bytes(b"x")
    for model, says in ((tmp_path / "empty", "is not a Kronos checkpoint"), (tmp_path / "file.bin", "is a file"),
                        (tmp_path / "nothere", "does not exist"), ("", "--model is empty")):
        result = run_cli("generate", "--seed-window", "2020-01", "--generators", "kronos", "--model", model,
                         "--out", tmp_path / "s.zarr")
        lines = result.stderr.strip().splitlines()
        assert result.exit_code != 0 and len(lines) == 1 and says in lines[0], result.output


def test_a_model_reference_is_named_for_what_it_is(tiny_kronos, tiny_chronos, tmp_path, run_cli, monkeypatch):
    """A missing `m/nonexist` was taken for a Hub id and asked for a tokenizer; a Chronos model given to kronos (and
    a Kronos one to chronos) was 'no tokenizer known'; a flat Kronos module (config.json + model.safetensors) was
    'neither predictor/ nor tokenizer/' although it loads with --set kronos.tokenizer=..."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    flat = tmp_path / "flat"
    shutil.copytree(tiny_kronos / "predictor", flat)
    (tmp_path / "m").mkdir()
    for gen, model, says in (
            ("kronos", "m/nonexist", "--model 'm/nonexist': no such directory, and could not fetch it from the Hugging "
                                     "Face Hub (offline or unknown id), nor find it in the HF cache"),
            ("kronos", "amazon/chronos-t5-tiny", "is a Chronos model, not Kronos; use --generators chronos"),
            ("kronos", str(tiny_chronos), "is a Chronos model, not Kronos; use --generators chronos"),
            ("chronos", str(tiny_kronos), "is a Kronos model, not Chronos; use --generators kronos"),
            ("chronos", "NeoQuasar/Kronos-small", "is a Kronos model, not Chronos; use --generators kronos"),
            ("kronos", "flat", "holds one Kronos module (config.json + model.safetensors), read as the predictor, but "
                               "no tokenizer; pass it with --set kronos.tokenizer=DIR_OR_HUB_ID")):
        result = run_cli("generate", "--seed-window", "2020-01", "--generators", gen, "--model", model,
                         "--n-paths", 4, "--horizon", 5, "--out", tmp_path / "s.zarr")
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and says in lines[0], (model, result.output)
        assert not (tmp_path / "s.zarr").exists()
    # what the flat module's error says works: the README's layout
    result = run_cli("generate", "--seed-window", "2020-01", "--context", 200, "--generators", "kronos", "--model",
                     "flat", "--set", f"kronos.tokenizer={tiny_kronos / 'tokenizer'}", "--device", "cpu",
                     "--n-paths", 4, "--horizon", 5, "--out", tmp_path / "s.zarr", "--json")
    assert result.exit_code == 0, result.output
