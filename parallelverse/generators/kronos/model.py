"""Kronos (arXiv 2508.02739) in parallelverse's own code, checkpoint-compatible with the official weights.

Parameter names, shapes and config.json keys match NeoQuasar/Kronos-* and
Kronos-Tokenizer-*, so their `model.safetensors` load with strict=True. Details that
must match the official implementation (and do; tests compare against it):

- tokenizer: effective depth n_enc_layers - 1 / n_dec_layers - 1 blocks; BSQ codes are
  sign(normalize(z)) / sqrt(s1_bits + s2_bits); indices are LSB-first (bit i <-> 2**i),
  s1 = bits 0..s1_bits-1, s2 = the rest; the `basis` / `group_basis` buffers exist only
  to match the state dict;
- predictor: s1 and s2 embeddings scaled by sqrt(d_model) and fused by a linear layer;
  learned temporal embeddings (minute-of-hour, hour, weekday, day, month) summed;
  causal RoPE blocks (RMSNorm eps 1e-5 in fp32, SwiGLU without biases, biased q/k/v/out);
- dependency-aware layer (4 heads): at inference the official RoPE cache has length 1,
  so query and keys are rotated by angle 0 and attention is over every position; the
  s1 sibling embedding is *not* scaled by sqrt(d_model).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(torch.mean(xf * xf, dim=-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class FeedForward(nn.Module):
    def __init__(self, d_model: int, ff_dim: int, dropout: float = 0.0):
        super().__init__()
        self.w1 = nn.Linear(d_model, ff_dim, bias=False)
        self.w3 = nn.Linear(d_model, ff_dim, bias=False)
        self.w2 = nn.Linear(ff_dim, d_model, bias=False)
        self.ffn_dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.ffn_dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)))


class Rotary(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))

    def cos_sin(self, positions: torch.Tensor):
        """positions (T,) -> cos, sin (T, dim) for rotate-half RoPE."""
        freqs = positions.to(self.inv_freq.dtype)[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class SelfAttention(nn.Module):
    """Causal multi-head attention with RoPE (parameter names as MultiHeadAttentionWithRoPE)."""

    def __init__(self, d_model: int, n_heads: int, attn_dropout: float = 0.0, resid_dropout: float = 0.0):
        super().__init__()
        self.n_heads, self.head_dim = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.rotary = Rotary(self.head_dim)
        self.attn_dropout = attn_dropout
        self.resid_dropout = nn.Dropout(resid_dropout)

    def heads(self, x: torch.Tensor, proj: nn.Linear) -> torch.Tensor:
        b, t, _ = x.shape
        return proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)

    def qkv(self, x: torch.Tensor, positions: torch.Tensor):
        cos, sin = self.rotary.cos_sin(positions)
        return rotate(self.heads(x, self.q_proj), cos, sin), rotate(self.heads(x, self.k_proj), cos, sin), self.heads(x, self.v_proj)

    def merge(self, out: torch.Tensor) -> torch.Tensor:
        b, _, t, _ = out.shape
        return self.resid_dropout(self.out_proj(out.transpose(1, 2).reshape(b, t, -1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x, torch.arange(x.shape[1], device=x.device))
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_dropout if self.training else 0.0, is_causal=True)
        return self.merge(out)


class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, ff_dim, ffn_dropout=0.0, attn_dropout=0.0, resid_dropout=0.0):
        super().__init__()
        self.norm1 = RMSNorm(d_model)
        self.self_attn = SelfAttention(d_model, n_heads, attn_dropout, resid_dropout)
        self.norm2 = RMSNorm(d_model)
        self.ffn = FeedForward(d_model, ff_dim, ffn_dropout)

    def forward(self, x):
        x = x + self.self_attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class _BSQBuffers(nn.Module):
    """Holds the official BinarySphericalQuantizer's persistent buffers (metrics only, unused here)."""

    def __init__(self, embed_dim: int, group_size: int):
        super().__init__()
        self.register_buffer("basis", 2 ** torch.arange(embed_dim - 1, -1, -1))
        self.register_buffer("group_basis", 2 ** torch.arange(group_size - 1, -1, -1))


class _BSQuantizer(nn.Module):
    def __init__(self, codebook_dim: int, group_size: int):
        super().__init__()
        self.bsq = _BSQBuffers(codebook_dim, group_size)


class KronosTokenizer(nn.Module):
    """Encoder -> binary spherical quantisation -> decoder over the 6 normalised OHLCVA features."""

    CONFIG = ("d_in", "d_model", "n_heads", "ff_dim", "n_enc_layers", "n_dec_layers", "ffn_dropout_p", "attn_dropout_p",
              "resid_dropout_p", "s1_bits", "s2_bits", "beta", "gamma0", "gamma", "zeta", "group_size")

    def __init__(self, d_in, d_model, n_heads, ff_dim, n_enc_layers, n_dec_layers, ffn_dropout_p, attn_dropout_p,
                 resid_dropout_p, s1_bits, s2_bits, beta, gamma0, gamma, zeta, group_size):
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k in self.CONFIG}
        self.s1_bits, self.s2_bits = s1_bits, s2_bits
        self.codebook_dim = s1_bits + s2_bits
        block = lambda: TransformerBlock(d_model, n_heads, ff_dim, ffn_dropout_p, attn_dropout_p, resid_dropout_p)  # noqa: E731
        self.embed = nn.Linear(d_in, d_model)
        self.head = nn.Linear(d_model, d_in)
        self.encoder = nn.ModuleList([block() for _ in range(n_enc_layers - 1)])
        self.decoder = nn.ModuleList([block() for _ in range(n_dec_layers - 1)])
        self.quant_embed = nn.Linear(d_model, self.codebook_dim)
        self.post_quant_embed_pre = nn.Linear(s1_bits, d_model)
        self.post_quant_embed = nn.Linear(self.codebook_dim, d_model)
        self.tokenizer = _BSQuantizer(self.codebook_dim, group_size)

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d_in) -> BSQ codes in {-1, 1} / sqrt(codebook_dim), (B, T, codebook_dim)."""
        z = self.embed(x)
        for layer in self.encoder:
            z = layer(z)
        z = F.normalize(self.quant_embed(z), dim=-1)
        return torch.where(z > 0, 1.0, -1.0).to(z.dtype) / math.sqrt(self.codebook_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, d_in) -> (s1, s2) token ids, each (B, T) int64, LSB-first."""
        bits = (self.quantize(x) >= 0).long()
        weights = 2 ** torch.arange(self.s1_bits, device=x.device)
        s1 = (bits[..., : self.s1_bits] * weights).sum(-1)
        s2 = (bits[..., self.s1_bits :] * (2 ** torch.arange(self.s2_bits, device=x.device))).sum(-1)
        return s1, s2

    def codes(self, s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
        def bits(ids, n):
            return ((ids.unsqueeze(-1) & (2 ** torch.arange(n, device=ids.device))) != 0).float() * 2 - 1
        return torch.cat([bits(s1, self.s1_bits), bits(s2, self.s2_bits)], dim=-1) / math.sqrt(self.codebook_dim)

    def decode(self, s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> (B, T, d_in) normalised features (causal decoder)."""
        z = self.post_quant_embed(self.codes(s1, s2))
        for layer in self.decoder:
            z = layer(z)
        return self.head(z)


class CrossAttention(SelfAttention):
    """The dependency-aware layer's attention (official MultiHeadCrossAttentionWithRoPE): the same
    parameters; at inference the official RoPE cache has length 1, so nothing is rotated."""

    def __init__(self, d_model: int, n_heads: int = 4):
        super().__init__(d_model, n_heads)


class DependencyAwareLayer(nn.Module):
    def __init__(self, d_model: int, n_heads: int = 4):
        super().__init__()
        self.cross_attn = CrossAttention(d_model, n_heads)
        self.norm = RMSNorm(d_model)


class HierarchicalEmbedding(nn.Module):
    def __init__(self, s1_bits: int, s2_bits: int, d_model: int):
        super().__init__()
        self.d_model = d_model
        self.emb_s1 = nn.Embedding(2 ** s1_bits, d_model)
        self.emb_s2 = nn.Embedding(2 ** s2_bits, d_model)
        self.fusion_proj = nn.Linear(2 * d_model, d_model)

    def forward(self, s1, s2):
        scale = math.sqrt(self.d_model)
        return self.fusion_proj(torch.cat([self.emb_s1(s1) * scale, self.emb_s2(s2) * scale], dim=-1))


class TemporalEmbedding(nn.Module):
    """Learned embeddings of minute-of-hour, hour, weekday, day of month and month, summed."""

    def __init__(self, d_model: int):
        super().__init__()
        self.minute_embed = nn.Embedding(60, d_model)
        self.hour_embed = nn.Embedding(24, d_model)
        self.weekday_embed = nn.Embedding(7, d_model)
        self.day_embed = nn.Embedding(32, d_model)
        self.month_embed = nn.Embedding(13, d_model)

    def forward(self, stamp):  # (B, T, 5) minute, hour, weekday, day, month
        s = stamp.long()
        return (self.hour_embed(s[..., 1]) + self.weekday_embed(s[..., 2]) + self.day_embed(s[..., 3])
                + self.month_embed(s[..., 4]) + self.minute_embed(s[..., 0]))


class KronosPredictor(nn.Module):
    """The decoder-only predictor (official class `Kronos`)."""

    CONFIG = ("s1_bits", "s2_bits", "n_layers", "d_model", "n_heads", "ff_dim", "ffn_dropout_p", "attn_dropout_p",
              "resid_dropout_p", "token_dropout_p", "learn_te")

    def __init__(self, s1_bits, s2_bits, n_layers, d_model, n_heads, ff_dim, ffn_dropout_p, attn_dropout_p,
                 resid_dropout_p, token_dropout_p, learn_te):
        super().__init__()
        if not learn_te:
            raise ValueError("learn_te=false (fixed sinusoidal time embeddings) is not supported; every released Kronos uses true")
        self.config = {k: v for k, v in locals().items() if k in self.CONFIG}
        self.s1_bits, self.s2_bits, self.d_model = s1_bits, s2_bits, d_model
        self.embedding = HierarchicalEmbedding(s1_bits, s2_bits, d_model)
        self.time_emb = TemporalEmbedding(d_model)
        self.token_drop = nn.Dropout(token_dropout_p)
        self.transformer = nn.ModuleList(
            [TransformerBlock(d_model, n_heads, ff_dim, ffn_dropout_p, attn_dropout_p, resid_dropout_p) for _ in range(n_layers)])
        self.norm = RMSNorm(d_model)
        self.dep_layer = DependencyAwareLayer(d_model)
        self.head = _DualHead(s1_bits, s2_bits, d_model)

    def embed(self, s1, s2, stamp):
        return self.token_drop(self.embedding(s1, s2) + self.time_emb(stamp))


class _DualHead(nn.Module):
    def __init__(self, s1_bits, s2_bits, d_model):
        super().__init__()
        self.proj_s1 = nn.Linear(d_model, 2 ** s1_bits)
        self.proj_s2 = nn.Linear(d_model, 2 ** s2_bits)
