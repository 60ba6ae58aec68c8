"""Two-stage Kronos training, as in the Kronos recipe.

Stage 1, tokenizer: reconstruct the window from the coarse (s1) and the full codes,
loss = (MSE_coarse + MSE_full + BSQ) / 2, where BSQ = commitment + zeta * (gamma0 *
per-sample entropy - gamma * codebook entropy) with the straight-through estimator.
Stage 2, predictor (tokenizer frozen): next-token cross-entropy on s1 and on s2 given
the true s1, loss = (CE_s1 + CE_s2) / 2. The dependency layer is trained exactly as it
runs at inference (causal, no rotation).

AdamW (betas 0.9/0.95, weight decay 0.1) with a one-cycle schedule; checkpoints in the
Hub layout (`OUT/tokenizer`, `OUT/predictor`: config.json + model.safetensors), the
training state in `OUT/state.pt` after every evaluation, so an interrupted run resumes
where it stopped. OUT must be new, empty or a run of ours (train/checkpoint.py); the recipe is
recorded in `OUT/training.json` before anything else, and every file is replaced whole
(files.write_*_atomic). A stage's best weights live only in OUT/<stage>/model.safetensors
(state.pt holds the last ones, for the optimiser), so a damaged one stops a resume, named.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from parallelverse import inputs
from parallelverse.errors import TrainError
from parallelverse.files import write_bytes_atomic, write_text_atomic
from parallelverse.generators.kronos import TRAINED_DRIFT_PRIOR_SD, TRAINED_VOL_REGIME_SD
from parallelverse.generators.kronos import representation as rep
from parallelverse.generators.kronos.load import save_module
from parallelverse.generators.kronos.model import KronosPredictor, KronosTokenizer
from parallelverse.train.checkpoint import check_out_dir, recorded_recipe
from parallelverse.train.data import Windows

SIZES = {
    # tiny: for tests, seconds on a CPU
    "tiny": (dict(d_in=6, d_model=32, n_heads=4, ff_dim=64, n_enc_layers=2, n_dec_layers=2, ffn_dropout_p=0.0,
                  attn_dropout_p=0.0, resid_dropout_p=0.0, s1_bits=6, s2_bits=6, beta=0.05, gamma0=1.0, gamma=1.1,
                  zeta=0.05, group_size=3),
             dict(s1_bits=6, s2_bits=6, n_layers=2, d_model=32, n_heads=4, ff_dim=64, ffn_dropout_p=0.0,
                  attn_dropout_p=0.0, resid_dropout_p=0.0, token_dropout_p=0.0, learn_te=True)),
    # small: the shipped default's size (about 1M parameters, 4 MB)
    "small": (dict(d_in=6, d_model=64, n_heads=4, ff_dim=128, n_enc_layers=3, n_dec_layers=3, ffn_dropout_p=0.0,
                   attn_dropout_p=0.0, resid_dropout_p=0.0, s1_bits=8, s2_bits=8, beta=0.05, gamma0=1.0, gamma=1.1,
                   zeta=0.05, group_size=4),
              dict(s1_bits=8, s2_bits=8, n_layers=4, d_model=128, n_heads=4, ff_dim=256, ffn_dropout_p=0.1,
                   attn_dropout_p=0.0, resid_dropout_p=0.1, token_dropout_p=0.0, learn_te=True)),
    # medium: twice the predictor width of small, the same tokenizer
    "medium": (dict(d_in=6, d_model=64, n_heads=4, ff_dim=128, n_enc_layers=3, n_dec_layers=3, ffn_dropout_p=0.0,
                    attn_dropout_p=0.0, resid_dropout_p=0.0, s1_bits=8, s2_bits=8, beta=0.05, gamma0=1.0, gamma=1.1,
                    zeta=0.05, group_size=4),
               dict(s1_bits=8, s2_bits=8, n_layers=4, d_model=256, n_heads=4, ff_dim=512, ffn_dropout_p=0.1,
                    attn_dropout_p=0.0, resid_dropout_p=0.1, token_dropout_p=0.0, learn_te=True)),
}


MAX_THREADS = 1024  # torch CPU threads a recipe may ask for
MAX_LR = 1.0  # a larger AdamW step size only diverges (1e308 overflowed inside torch)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000  # optimiser steps of the tokenizer stage (and of the predictor's unless predictor_steps)
    predictor_steps: int = 0  # optimiser steps of the predictor stage; 0 = steps
    batch_size: int = 32
    lr_tokenizer: float = 2e-3
    lr_predictor: float = 1e-3
    eval_every: int = 200
    seed: int = 0
    patience: int = 0  # stop a stage after this many evaluations without a better validation loss (0 = never)
    threads: int = 1  # torch CPU threads, fixed so the same command gives the same weights (1: no oversubscription
    # on a shared CPU, where 2 threads ran 10x slower)

    def __post_init__(self):
        for name in ("steps", "batch_size", "eval_every", "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise TrainError(f"--{name.replace('_', '-')} {v!r} must be a whole number >= 1; e.g. --{name.replace('_', '-')} "
                                 f"{getattr(TrainConfig, name)}")
        for name in ("lr_tokenizer", "lr_predictor"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 < v <= MAX_LR):
                raise TrainError(f"--{name.replace('_', '-')} {v!r} must be a number > 0 and at most {MAX_LR:g} (AdamW's "
                                 f"step size); e.g. --{name.replace('_', '-')} {getattr(TrainConfig, name)}")
        if isinstance(self.predictor_steps, bool) or not isinstance(self.predictor_steps, int) or self.predictor_steps < 0:
            raise TrainError(f"--predictor-steps {self.predictor_steps!r} must be a whole number >= 0 (0 = --steps)")
        for name in ("patience", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise TrainError(f"--{name} {v!r} must be a whole number >= 0; e.g. --{name} 0")
        inputs.BATCH_SIZE.check(self.batch_size)  # the same bounds as the options, for callers of the API
        inputs.SEED.check(self.seed)
        if self.threads > MAX_THREADS:
            raise TrainError(f"--threads {self.threads} is more than {MAX_THREADS}; use at most the machine's cores, e.g. "
                             "--threads 1")


def bsq_loss(z: torch.Tensor, cfg: dict, zq: torch.Tensor) -> torch.Tensor:
    """Commitment + entropy terms of the binary spherical quantiser (soft, grouped, as upstream)."""
    c = z.shape[-1]
    commit = cfg["beta"] * ((zq.detach() - z) ** 2).sum(-1).mean()
    p = torch.sigmoid(-4 * z / math.sqrt(c))
    probs = torch.stack([p, 1 - p], dim=-1)
    per_sample = -(probs * torch.log(probs + 1e-8)).sum(-1).sum(-1).mean()
    g = cfg["group_size"]
    codes = ((torch.arange(2 ** g, device=z.device)[:, None] >> torch.arange(g - 1, -1, -1, device=z.device)) & 1) * 2 - 1
    codes = codes.float() / math.sqrt(c)
    groups = z.reshape(*z.shape[:-1], c // g, g)
    prob = (2 * torch.einsum("...gc,dc->...gd", groups, codes)).softmax(-1)
    avg = prob.reshape(-1, c // g, 2 ** g).mean(0)
    codebook = -(avg * torch.log(avg + 1e-8)).sum(-1).sum()
    return commit + cfg["zeta"] * (cfg["gamma0"] * per_sample - cfg["gamma"] * codebook)


def tokenizer_loss(tok: KronosTokenizer, x: torch.Tensor) -> torch.Tensor:
    z = tok.embed(x)
    for layer in tok.encoder:
        z = layer(z)
    z = F.normalize(tok.quant_embed(z), dim=-1)
    zq = z + (torch.where(z > 0, 1.0, -1.0) / math.sqrt(tok.codebook_dim) - z).detach()  # straight-through
    pre, full = tok.post_quant_embed_pre(zq[..., : tok.s1_bits]), tok.post_quant_embed(zq)
    for layer in tok.decoder:
        pre = layer(pre)
    for layer in tok.decoder:
        full = layer(full)
    rec = F.mse_loss(tok.head(pre), x) + F.mse_loss(tok.head(full), x)
    return (rec + bsq_loss(z, tok.config, zq)) / 2


def predictor_logits(m: KronosPredictor, s1, s2, stamp, s1_next):
    """Teacher-forced logits for every position: (B, T, V1), (B, T, V2)."""
    x = m.embed(s1, s2, stamp)
    for layer in m.transformer:
        x = layer(x)
    x = m.norm(x)
    ca = m.dep_layer.cross_attn
    q = ca.heads(m.embedding.emb_s1(s1_next), ca.q_proj)
    att = F.scaled_dot_product_attention(q, ca.heads(x, ca.k_proj), ca.heads(x, ca.v_proj), is_causal=True)
    att = ca.out_proj(att.transpose(1, 2).reshape(x.shape))
    return m.head.proj_s1(x), m.head.proj_s2(m.dep_layer.norm(x + att))


def predictor_loss(m: KronosPredictor, tok: KronosTokenizer, x: torch.Tensor, stamp: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        s1, s2 = tok.encode(x)
    l1, l2 = predictor_logits(m, s1[:, :-1], s2[:, :-1], stamp[:, :-1], s1[:, 1:])
    return (F.cross_entropy(l1.reshape(-1, l1.shape[-1]), s1[:, 1:].reshape(-1))
            + F.cross_entropy(l2.reshape(-1, l2.shape[-1]), s2[:, 1:].reshape(-1))) / 2


ProgressFn = Callable[[str, int, int, float, float | None], None]  # stage, step, total, train loss, val loss


def _eval(loss_fn, val: Windows, batch: int) -> float:
    losses = []
    with torch.no_grad():
        for i in range(0, min(len(val), 2048), batch):
            losses.append(float(loss_fn(torch.from_numpy(val.x[i:i + batch]), torch.from_numpy(val.stamp[i:i + batch]))))
    return float(np.mean(losses))


def run_stage(name: str, module, loss_fn, train: Windows, val: Windows, cfg: TrainConfig, lr: float, out: Path,
              state: dict, progress: ProgressFn | None) -> dict:
    """Train one stage, resuming from `state[name]` if present; returns the stage's record.

    Early stopping: OUT/<name> always holds the weights of the best validation loss so far; the
    stage stops after `cfg.patience` evaluations without improvement (0 = never) and ends with the
    best weights loaded. A non-finite loss stops with an error before anything is saved."""
    rec = state.setdefault(name, {"step": 0, "history": []})
    if rec.get("done"):
        return rec
    steps = cfg.predictor_steps or cfg.steps if name == "predictor" else cfg.steps
    opt = torch.optim.AdamW(module.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    offset = 0 if name == "tokenizer" else 1
    gen = torch.Generator().manual_seed(cfg.seed + offset)  # batch draws
    torch.manual_seed(cfg.seed + 100 + offset)  # dropout draws: each stage starts from its own seed
    if "optimizer" in rec:
        opt.load_state_dict(rec.pop("optimizer"))
        sched.load_state_dict(rec.pop("scheduler"))
        gen.set_state(rec.pop("rng"))
        torch.set_rng_state(rec.pop("global_rng"))
        module.load_state_dict(rec.pop("weights"))
    module.train()
    t0, loss = time.perf_counter(), float("nan")
    while rec["step"] < steps:
        idx = torch.randint(0, len(train), (cfg.batch_size,), generator=gen)
        loss_t = loss_fn(torch.from_numpy(train.x[idx.numpy()]), torch.from_numpy(train.stamp[idx.numpy()]))
        if not torch.isfinite(loss_t):
            raise TrainError(f"{name} loss is {loss_t.item()} at step {rec['step'] + 1}; nothing was saved for this "
                                f"step (OUT keeps the best finite checkpoint); lower the learning rate or check the data")
        opt.zero_grad()
        loss_t.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        opt.step()
        sched.step()
        rec["step"] += 1
        loss = loss_t.item()
        last = rec["step"] == steps
        if rec["step"] % cfg.eval_every == 0 or last:
            module.eval()
            val_loss = _eval(loss_fn, val, cfg.batch_size * 4)
            module.train()
            if not math.isfinite(val_loss):
                raise TrainError(f"{name} validation loss is {val_loss} at step {rec['step']}; OUT keeps the best "
                                    "finite checkpoint; lower the learning rate or check the data")
            rec["history"].append({"step": rec["step"], "train_loss": loss, "val_loss": val_loss})
            rec["seconds"] = rec.get("seconds", 0.0) + time.perf_counter() - t0
            t0 = time.perf_counter()
            if val_loss < rec.get("best_val_loss", math.inf):
                rec["best_val_loss"], rec["best_step"] = val_loss, rec["step"]
                save_module(module, out / name)
            stale = (rec["step"] - rec["best_step"]) // cfg.eval_every
            if last or (cfg.patience and stale >= cfg.patience):
                rec["done"], last = True, True
            _save_state(out, state, name, module, opt, sched, gen, last)
            if progress:
                progress(name, rec["step"], steps, loss, val_loss)
            if last:
                break
        elif progress and rec["step"] % 10 == 0:
            progress(name, rec["step"], steps, loss, None)
    from safetensors.torch import load_file

    module.load_state_dict(load_file(str(out / name / "model.safetensors")))  # the best weights
    module.eval()
    return rec


def _recipe(size: str, cfg: TrainConfig, meta: dict | None, train_w: Windows, val_w: Windows) -> dict:
    """What a resumed run must share with the run it continues: size, every training setting, the data options
    and the windows themselves (a digest). The stages to run may differ (tokenizer first, predictor later)."""
    import hashlib

    h = hashlib.sha256()
    for a in (train_w.x, train_w.stamp, val_w.x, val_w.stamp):
        h.update(np.ascontiguousarray(a).tobytes())
    options = {k: v for k, v in (meta or {}).items() if k not in ("stages", "sources")}
    return {"size": size, **asdict(cfg), **options, "windows_sha256": h.hexdigest()}


def _check_same_recipe(found: dict, want: dict, out: Path) -> None:
    diff = sorted(k for k in set(found) | set(want) if found.get(k) != want.get(k))
    if diff:
        names = ", ".join("the data (its windows)" if k == "windows_sha256" else k for k in diff[:6])
        raise TrainError(f"{str(out)!r} holds a training run made with other settings (differs in: {names}"
                         f"{', ...' if len(diff) > 6 else ''}); rerun the command that made it to resume, or choose "
                         "another --out")


def _save_state(out: Path, state: dict, name: str, module, opt, sched, gen, last: bool) -> None:
    snapshot = {k: dict(v) for k, v in state.items() if isinstance(v, dict)}
    snapshot.update({k: v for k, v in state.items() if not isinstance(v, dict)})
    if not last:
        snapshot[name].update({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": gen.get_state(),
                               "global_rng": torch.get_rng_state(),
                               "weights": {k: v.detach().clone() for k, v in module.state_dict().items()}})
    import io

    buf = io.BytesIO()
    torch.save(snapshot, buf)
    write_bytes_atomic(out / "state.pt", buf.getvalue())  # whole or the previous one, never truncated
    write_text_atomic(out / "training.json", _record_json(snapshot))


def _record_json(snapshot: dict) -> str:
    return json.dumps(snapshot, default=lambda o: None, indent=2)


def train(train_w: Windows, val_w: Windows, out: Path, size: str = "small", cfg: TrainConfig = TrainConfig(),
          init: tuple[KronosTokenizer, KronosPredictor] | None = None, stages: tuple[str, ...] = ("tokenizer", "predictor"),
          meta: dict | None = None, progress: ProgressFn | None = None) -> dict:
    """Train (or resume, or fine-tune) and write OUT/tokenizer, OUT/predictor, OUT/state.pt."""
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(train_w, val_w, out, size, cfg, init, stages, meta, progress)
    finally:
        torch.set_num_threads(threads)


def _train(train_w, val_w, out, size, cfg, init, stages, meta, progress) -> dict:
    torch.manual_seed(cfg.seed)
    kind = rep.check((meta or {}).get("representation", "zscore"))
    check_out_dir(out)  # new, empty or a run of ours: nothing else is ever overwritten
    recipe = _recipe(size, cfg, meta, train_w, val_w)
    found = recorded_recipe(out)
    if found is not None:  # compared as recorded (JSON) before the run's state.pt is read
        _check_same_recipe(found, json.loads(_record_json(recipe)), out)
    state = torch.load(out / "state.pt", weights_only=False) if found is not None and (out / "state.pt").exists() \
        else {}
    if "recipe" in state:
        _check_same_recipe(state["recipe"], recipe, out)
    if "tokenizer" not in stages and init is None and not state.get("tokenizer", {}).get("done"):
        raise TrainError(f"--stage predictor needs a trained tokenizer, and {str(out)!r} has none; train it first "
                         "(--stage tokenizer, or --stage both), or fine-tune from a checkpoint with --init")
    if init is not None:
        tok, pred = init
        if tok.config["d_in"] != rep.D_IN[kind]:
            raise TrainError(f"the --init tokenizer reads {tok.config['d_in']} numbers per bar, the {kind} representation "
                             f"{rep.D_IN[kind]}; pass the checkpoint's own --representation "
                             f"({'zscore' if tok.config['d_in'] == rep.D_IN['zscore'] else 'logret'})")
    else:
        tok_cfg, pred_cfg = SIZES[size]
        tok, pred = KronosTokenizer(**{**tok_cfg, "d_in": rep.D_IN[kind]}), KronosPredictor(**pred_cfg)
    from safetensors.torch import load_file

    for name, module in (("tokenizer", tok), ("predictor", pred)):  # resume from the stages' best checkpoints
        if state.get(name, {}).get("best_step") is None:
            continue
        f = out / name / "model.safetensors"
        try:
            module.load_state_dict(load_file(str(f)))
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:  # the best weights are only in this file: they cannot be rebuilt from state.pt
            raise TrainError(f"{str(f)!r} is damaged or missing ({type(exc).__name__}), so the run in {str(out)!r} "
                             f"cannot resume ({name} best checkpoint of step {state[name]['best_step']}); restore the "
                             f"file, or train anew in another --out") from None
    state["config"], state["meta"], state["recipe"] = asdict(cfg), meta or state.get("meta", {}), recipe
    for name in stages:
        state.setdefault(name, {"step": 0, "history": []})  # `generate` refuses OUT until every stage is done
    out.mkdir(parents=True, exist_ok=True)  # only once the run is known to go ahead
    write_text_atomic(out / "training.json", _record_json(state))  # the recipe first: OUT is ours from here on
    if meta and meta.get("lookback"):
        # what sampling needs to see inputs the way training did: window length, normalisation span, representation,
        # and the span of real bars the checkpoint has seen (calibrate keeps those windows out of any score)
        write_text_atomic(out / "parallelverse.json", json.dumps(
            {"max_context": meta["lookback"] + meta["predict"], "norm_window": meta["lookback"], "representation": kind,
             "renorm_every": meta.get("renorm_every", 0),
             # logret has no level to lose, so the window may slide by half (half the cache rebuilds of a quarter)
             "window_slide": (meta["lookback"] + meta["predict"]) // 2 if kind == "logret" else 0,
             # estimation uncertainty of the drift and the volatility regime, on by default (generators/kronos)
             "drift_prior_sd": TRAINED_DRIFT_PRIOR_SD, "vol_regime_sd": TRAINED_VOL_REGIME_SD,
             "train_start": meta.get("train_start"),
             "train_end": meta.get("train_end")}, indent=2))
    for p in list(tok.parameters()) + list(pred.parameters()):
        p.requires_grad_(True)
    if "tokenizer" in stages:
        run_stage("tokenizer", tok, lambda x, s: tokenizer_loss(tok, x), train_w, val_w, cfg, cfg.lr_tokenizer, out,
                  state, progress)
    else:
        save_module(tok, out / "tokenizer")
    tok.eval()
    for p in tok.parameters():
        p.requires_grad_(False)
    if "predictor" in stages:
        run_stage("predictor", pred, lambda x, s: predictor_loss(pred, tok, x, s), train_w, val_w, cfg,
                  cfg.lr_predictor, out, state, progress)
    else:
        save_module(pred, out / "predictor")
    return state
