"""KV-cached Kronos sampling that returns every path.

The context is shared by all paths, so it is run through the predictor once
(`prefill`) and its keys and values are kept as a *shared prefix* of shape
(heads, L, head_dim) — never copied per path. Each step, every path's query attends
to the shared prefix with one matrix product for all paths and to its own generated
tokens separately; the two parts are merged exactly by a joint softmax (log-sum-exp).
The dependency-aware layer (s2 given s1) attends to the final hidden states of the
whole window in the same way.

Sliding window: while context + generated <= max_context, positions are exactly
those of the official implementation (0 .. n-1) and the cache is exact. When the
window would overflow, the oldest `slide` tokens (default max_context // 4) are dropped
and the cache is rebuilt once (prefix = what is left of the real context, re-encoded at
positions 0..; each path's generated tokens re-run on top of it), then decoding
continues incrementally. The official code drops one token per step and recomputes the
whole window every step: `slide=1` does exactly that (and matches it exactly, at the
official cost); the default trades it for one rebuild every max_context // 4 steps, the
model always seeing between 3/4 and all of max_context tokens.

Sampling draws from per-path uniforms (inverse CDF), so path i is the same whatever
the batch it is computed in. Temperature, top-k and top-p compose (top-k first, then
top-p on what is left) — upstream silently ignores top-p when top-k > 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from parallelverse.generators.kronos.model import KronosPredictor, KronosTokenizer


def filter_logits(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """(B, V) logits -> temperature-scaled logits with -inf outside the top-k and then the top-p set."""
    logits = logits / temperature
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = F.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass of the tokens ranked above
        remove = before >= top_p  # keep the smallest set whose mass reaches top_p (>= 1 token)
        logits = logits.masked_fill(torch.zeros_like(remove).scatter(-1, order, remove), float("-inf"))
    return logits


def sample_tokens(logits: torch.Tensor, u: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """Inverse-CDF sampling with one uniform per row: (B, V), (B,) -> (B,) int64."""
    probs = F.softmax(filter_logits(logits.float(), temperature, top_k, top_p), dim=-1)
    cdf = torch.cumsum(probs, dim=-1)
    idx = (cdf < u[:, None] * cdf[:, -1:]).sum(-1)
    return idx.clamp_max(logits.shape[-1] - 1)


@dataclass
class Cache:
    """Keys/values of one batch of paths: a shared prefix plus each path's own tokens."""

    pk: list  # per layer (H, L, hd): shared prefix keys
    pv: list
    gk: list  # per layer (B, H, t, hd): the paths' own tokens
    gv: list
    dep_pk: torch.Tensor  # (H4, L, hd4): dependency-layer keys of the prefix's final hidden states
    dep_pv: torch.Tensor
    dep_gk: torch.Tensor  # (B, H4, t, hd4)
    dep_gv: torch.Tensor
    last_hidden: torch.Tensor  # (B, d): final hidden state of the last token in the window
    n_prefix: int
    n_gen: int


class KronosSampler:
    def __init__(self, tokenizer: KronosTokenizer, predictor: KronosPredictor, max_context: int = 512, slide: int = 0):
        self.tok, self.model, self.max_context = tokenizer, predictor, max_context
        self.slide = slide or max(1, max_context // 4)  # tokens dropped per rebuild; 1 = the official semantics

    # --- attention over [shared prefix | own tokens], exact joint softmax
    @staticmethod
    def _attend(q, pk, pv, gk, gv, causal_new: int) -> torch.Tensor:
        """q (B, H, T, hd); pk/pv (H, L, hd); gk/gv (B, H, t, hd) whose last `causal_new` rows are the queries' own."""
        b, h, t_q, hd = q.shape
        scale = 1.0 / math.sqrt(hd)
        L = pk.shape[1]
        sp = (q.permute(1, 0, 2, 3).reshape(h, b * t_q, hd) @ pk.transpose(1, 2)).reshape(h, b, t_q, L).permute(1, 0, 2, 3)
        sg = q @ gk.transpose(-1, -2)
        if causal_new > 1:  # a query may not see the new tokens after it
            t_g = gk.shape[2]
            mask = torch.ones(t_q, t_g, dtype=torch.bool, device=q.device).tril(t_g - t_q)
            sg = sg.masked_fill(~mask, float("-inf"))
        scores = torch.cat([sp, sg], dim=-1) * scale
        w = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        wp, wg = w[..., :L], w[..., L:]
        op = (wp.permute(1, 0, 2, 3).reshape(h, b * t_q, L) @ pv).reshape(h, b, t_q, hd).permute(1, 0, 2, 3)
        return op + wg @ gv

    @torch.no_grad()
    def prefill(self, s1, s2, stamp, n_paths: int) -> Cache:
        """Run the shared window once: s1, s2 (L,), stamp (L, 5)."""
        m = self.model
        if len(s1) == 0:
            return self._empty(n_paths, s1.device)
        x = m.embed(s1[None], s2[None], stamp[None])
        pos = torch.arange(x.shape[1], device=x.device)
        pk, pv = [], []
        for layer in m.transformer:
            q, k, v = layer.self_attn.qkv(layer.norm1(x), pos)
            pk.append(k[0])
            pv.append(v[0])
            x = x + layer.self_attn.merge(F.scaled_dot_product_attention(q, k, v, is_causal=True))
            x = x + layer.ffn(layer.norm2(x))
        final = m.norm(x)
        ca = m.dep_layer.cross_attn
        cache = self._empty(n_paths, final.device)
        cache.pk, cache.pv = pk, pv
        cache.dep_pk, cache.dep_pv = ca.heads(final, ca.k_proj)[0], ca.heads(final, ca.v_proj)[0]
        cache.last_hidden = final[:, -1].expand(n_paths, -1).contiguous()
        cache.n_prefix = x.shape[1]
        return cache

    def _empty(self, n_paths: int, device) -> Cache:
        m = self.model
        sa, ca = m.transformer[0].self_attn, m.dep_layer.cross_attn
        dtype = m.norm.weight.dtype
        z = lambda *shape: torch.empty(*shape, device=device, dtype=dtype)  # noqa: E731
        n, cap = len(m.transformer), self.max_context  # own tokens never exceed the window
        # Own-token buffers are allocated once at full capacity and filled in place: growing them by
        # concatenation would copy the whole cache at every step.
        return Cache([z(sa.n_heads, 0, sa.head_dim) for _ in range(n)], [z(sa.n_heads, 0, sa.head_dim) for _ in range(n)],
                     [z(n_paths, sa.n_heads, cap, sa.head_dim) for _ in range(n)],
                     [z(n_paths, sa.n_heads, cap, sa.head_dim) for _ in range(n)],
                     z(ca.n_heads, 0, ca.head_dim), z(ca.n_heads, 0, ca.head_dim),
                     z(n_paths, ca.n_heads, cap, ca.head_dim), z(n_paths, ca.n_heads, cap, ca.head_dim),
                     torch.zeros(n_paths, m.d_model, device=device, dtype=dtype), 0, 0)

    @torch.no_grad()
    def extend(self, cache: Cache, s1, s2, stamp) -> Cache:
        """Append tokens (B, T) with stamps (B, T, 5) to every path's window."""
        m = self.model
        x = m.embed(s1, s2, stamp)
        t_new = x.shape[1]
        pos = torch.arange(cache.n_prefix + cache.n_gen, cache.n_prefix + cache.n_gen + t_new, device=x.device)
        lo, hi = cache.n_gen, cache.n_gen + t_new
        for i, layer in enumerate(m.transformer):
            q, k, v = layer.self_attn.qkv(layer.norm1(x), pos)
            cache.gk[i][:, :, lo:hi] = k
            cache.gv[i][:, :, lo:hi] = v
            att = self._attend(q, cache.pk[i], cache.pv[i], cache.gk[i][:, :, :hi], cache.gv[i][:, :, :hi], t_new)
            x = x + layer.self_attn.merge(att)
            x = x + layer.ffn(layer.norm2(x))
        final = m.norm(x)
        ca = m.dep_layer.cross_attn
        cache.dep_gk[:, :, lo:hi] = ca.heads(final, ca.k_proj)
        cache.dep_gv[:, :, lo:hi] = ca.heads(final, ca.v_proj)
        cache.last_hidden = final[:, -1]
        cache.n_gen = hi
        return cache

    def s1_logits(self, cache: Cache) -> torch.Tensor:
        return self.model.head.proj_s1(cache.last_hidden)

    def s2_logits(self, cache: Cache, s1: torch.Tensor) -> torch.Tensor:
        """s2 given the sampled s1 (B,): attention of emb_s1(s1) over the whole window, no rotation."""
        m = self.model
        ca = m.dep_layer.cross_attn
        query = m.embedding.emb_s1(s1)[:, None]  # (B, 1, d), not scaled by sqrt(d_model)
        q = ca.heads(query, ca.q_proj)
        n = cache.n_gen
        att = self._attend(q, cache.dep_pk, cache.dep_pv, cache.dep_gk[:, :, :n], cache.dep_gv[:, :, :n], 1)
        out = ca.out_proj(att.transpose(1, 2).reshape(q.shape[0], 1, -1))[:, 0]
        return m.head.proj_s2(m.dep_layer.norm(cache.last_hidden + out))

    @torch.no_grad()
    def generate(self, s1, s2, stamp, future_stamp, u, temperature=1.0, top_k=0, top_p=1.0, forced=None, on_logits=None):
        """Token paths after a shared context.

        s1, s2: (n,) context tokens; stamp: (n, 5); future_stamp: (h, 5); u: (B, h, 2)
        uniforms per path, step and sub-token. Returns s1, s2 of shape (B, h).
        forced: optional (s1, s2) token paths (B, h) to feed instead of sampling (teacher
        forcing); on_logits(i, s1_logits, s2_logits) sees every step's logits.
        """
        b, h = u.shape[0], u.shape[1]
        keep = min(len(s1), self.max_context)
        ctx_s1, ctx_s2, ctx_stamp = s1[-keep:], s2[-keep:], stamp[-keep:]
        cache = self.prefill(ctx_s1, ctx_s2, ctx_stamp, b)
        out1 = torch.empty(b, h, dtype=torch.long, device=s1.device)
        out2 = torch.empty_like(out1)
        dropped = 0  # context tokens slid out of the window so far
        for i in range(h):
            l1 = self.s1_logits(cache)
            t1 = forced[0][:, i] if forced is not None else sample_tokens(l1, u[:, i, 0], temperature, top_k, top_p)
            l2 = self.s2_logits(cache, t1)
            t2 = forced[1][:, i] if forced is not None else sample_tokens(l2, u[:, i, 1], temperature, top_k, top_p)
            if on_logits is not None:
                on_logits(i, l1, l2)
            out1[:, i], out2[:, i] = t1, t2
            if i == h - 1:
                break
            if cache.n_prefix + cache.n_gen + 1 > self.max_context:
                dropped += self.slide
                cache = self._rebuild(ctx_s1, ctx_s2, ctx_stamp, out1[:, :i], out2[:, :i], future_stamp[:i], dropped)
            cache = self.extend(cache, t1[:, None], t2[:, None], future_stamp[i][None, None].expand(b, 1, -1))
        return out1, out2

    @torch.no_grad()
    def generate_per_path(self, s1, s2, stamp, future_stamp, u, temperature=1.0, top_k=0, top_p=1.0):
        """Like `generate`, but every path has its own context: s1, s2 (B, n); stamp (n, 5) shared;
        future_stamp (h, 5); u (B, h, 2). The window must hold n + h tokens (no sliding)."""
        b, n = s1.shape
        h = u.shape[1]
        if n + h > self.max_context:
            raise ValueError(f"per-path contexts need n + h <= max_context, got {n} + {h} > {self.max_context}")
        cache = self.extend(self._empty(b, s1.device), s1, s2, stamp[None].expand(b, -1, -1))
        out1 = torch.empty(b, h, dtype=torch.long, device=s1.device)
        out2 = torch.empty_like(out1)
        for i in range(h):
            t1 = sample_tokens(self.s1_logits(cache), u[:, i, 0], temperature, top_k, top_p)
            t2 = sample_tokens(self.s2_logits(cache, t1), u[:, i, 1], temperature, top_k, top_p)
            out1[:, i], out2[:, i] = t1, t2
            if i < h - 1:
                cache = self.extend(cache, t1[:, None], t2[:, None], future_stamp[i][None, None].expand(b, 1, -1))
        return out1, out2

    def _rebuild(self, ctx_s1, ctx_s2, ctx_stamp, gen1, gen2, gen_stamp, dropped: int) -> Cache:
        """Window = context minus its oldest `dropped` tokens (shared), then each path's tokens."""
        b, n_gen = gen1.shape
        k = len(ctx_s1)
        from_ctx = max(0, k - dropped)
        drop_gen = max(0, dropped - k)
        if from_ctx > 0:
            cache = self.prefill(ctx_s1[k - from_ctx :], ctx_s2[k - from_ctx :], ctx_stamp[k - from_ctx :], b)
        else:  # the real context has slid out entirely: an empty shared prefix
            cache = self.prefill(ctx_s1[:0], ctx_s2[:0], ctx_stamp[:0], b)
        g1, g2, gs = gen1[:, drop_gen:], gen2[:, drop_gen:], gen_stamp[drop_gen:]
        if g1.shape[1] == 0:
            return cache
        return self.extend(cache, g1, g2, gs[None].expand(b, -1, -1))


@torch.no_grad()
def decode_paths(tok: KronosTokenizer, ctx1, ctx2, g1, g2, max_context: int) -> torch.Tensor:
    """Decode each path's generated tokens to (B, h, d_in) features.

    h <= max_context: one window, the last max_context tokens of context + own tokens, as the
    official code does (it refuses longer horizons). h > max_context: blocks of max_context // 2
    bars, each decoded in the max_context-token window that ends with it.
    """
    b, h = g1.shape
    if h <= max_context:
        return _decode_window(tok, ctx1, ctx2, g1, g2, max_context)
    block, out, n = max(1, max_context // 2), [], len(ctx1)
    for end in range(block, h + block, block):
        end = min(end, h)
        start_tok = n + end - max_context  # first token of the window in context + own numbering
        c1, c2 = ctx1[max(0, start_tok):], ctx2[max(0, start_tok):]
        lo = max(0, start_tok - n)
        z = _decode_window(tok, c1, c2, g1[:, lo:end], g2[:, lo:end], max_context)
        out.append(z[:, -(end - (len(out) * block)):])
        if end == h:
            break
    return torch.cat(out, dim=1)


def _decode_window(tok: KronosTokenizer, ctx1, ctx2, g1, g2, max_context: int) -> torch.Tensor:
    """The last max_context tokens of context + own tokens through the causal decoder; the shared
    context part runs once. Returns the rows of the own tokens, (B, h, d_in)."""
    b, h = g1.shape
    total = len(ctx1) + h
    start = max(0, total - max_context)
    c1, c2 = ctx1[start:], ctx2[start:]
    n1, n2 = g1[:, max(0, start - len(ctx1)):], g2[:, max(0, start - len(ctx1)):]
    pk, pv = [], []
    x = tok.post_quant_embed(tok.codes(c1, c2))[None]  # (1, Lp, d)
    lp = x.shape[1]
    for layer in tok.decoder:
        a = layer.self_attn
        if lp:
            q, k, v = a.qkv(layer.norm1(x), torch.arange(lp, device=x.device))
            pk.append(k[0])
            pv.append(v[0])
            x = x + a.merge(F.scaled_dot_product_attention(q, k, v, is_causal=True))
            x = x + layer.ffn(layer.norm2(x))
        else:
            pk.append(torch.empty(a.n_heads, 0, a.head_dim, device=x.device))
            pv.append(torch.empty(a.n_heads, 0, a.head_dim, device=x.device))
    y = tok.post_quant_embed(tok.codes(n1, n2))  # (B, T, d)
    pos = torch.arange(lp, lp + y.shape[1], device=y.device)
    for i, layer in enumerate(tok.decoder):
        a = layer.self_attn
        q, k, v = a.qkv(layer.norm1(y), pos)
        y = y + a.merge(KronosSampler._attend(q, pk[i], pv[i], k, v, y.shape[1]))
        y = y + layer.ffn(layer.norm2(y))
    return tok.head(y)[:, -h:]
