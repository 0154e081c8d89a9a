"""The PAE attention blocks shared by VIR and LCA (paper §3.2-3.3; official `MHAtt`, `SA`, `CA` in models/pir.py).

- `MultiHeadAttention`: scaled dot-product attention over `num_heads` heads via
  `torch.nn.functional.scaled_dot_product_attention`, with dropout on the attention probabilities (train only);
  `attention_weights` recomputes those probabilities for inspection.
- `feed_forward`: Linear(D, 2D), LayerNorm(2D), GELU (exact), Linear(2D, D); state-dict indices 0, 1, 3 as the
  official `build_mlp`.
- `SelfAttentionBlock` (MHSA, post-norm): x1 = norm1(x + drop(MHA(x, x, x))); out = norm2(x1 + drop(FFN(x1))).
- `CrossAttentionBlock` (CroSA): the query comes from `query`, key = value = `context`, **and the residual is the
  context** (docs/official_behaviour.md §2.2): c1 = norm1(c + drop(MHA(q, c, c))); out = norm2(c1 + drop(FFN(c1))).

The official blocks never use a mask. Here an optional key padding mask ([B, N_keys], True = real token) lets LCA
ignore [PAD] keys when `config.text.use_attention_mask` is on; with no mask the computation is the official one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate query/key/value/merge projections (official `MHAtt`)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_attention_heads {num_heads}")
        self.num_heads = num_heads
        self.dropout = dropout
        # Registered in the official order (linear_v, linear_k, linear_q, linear_merge): same initialisation order.
        self.linear_value = nn.Linear(embed_dim, embed_dim)
        self.linear_key = nn.Linear(embed_dim, embed_dim)
        self.linear_query = nn.Linear(embed_dim, embed_dim)
        self.linear_merge = nn.Linear(embed_dim, embed_dim)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        return x.view(batch, length, self.num_heads, width // self.num_heads).transpose(1, 2)  # [B, h, N, D/h]

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """query [B, Nq, D], key/value [B, Nk, D], key_padding_mask [B, Nk] (True = attend) → [B, Nq, D]."""
        q = self._split_heads(self.linear_query(query))  # [B, h, Nq, D/h]
        k = self._split_heads(self.linear_key(key))  # [B, h, Nk, D/h]
        v = self._split_heads(self.linear_value(value))  # [B, h, Nk, D/h]
        mask = None if key_padding_mask is None else key_padding_mask.bool()[:, None, None, :]  # [B, 1, 1, Nk]
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )  # [B, h, Nq, D/h]
        attended = attended.transpose(1, 2).flatten(2)  # [B, Nq, D]
        return self.linear_merge(attended)

    def attention_weights(
        self, query: torch.Tensor, key: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The probabilities softmax(q kᵀ / √(D/h)) that `forward` applies, before dropout → [B, h, Nq, Nk].

        Recomputed from the same projections (for inspection only: `forward` keeps the fused kernel)."""
        q = self._split_heads(self.linear_query(query))  # [B, h, Nq, D/h]
        k = self._split_heads(self.linear_key(key))  # [B, h, Nk, D/h]
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # [B, h, Nq, Nk]
        if key_padding_mask is not None:
            scores = scores.masked_fill(~key_padding_mask.bool()[:, None, None, :], float("-inf"))
        return scores.softmax(dim=-1)


def feed_forward(embed_dim: int) -> nn.Sequential:
    """Linear(D, 2D) → LayerNorm(2D) → GELU → Linear(2D, D) (official `build_mlp`)."""
    return nn.Sequential(
        nn.Linear(embed_dim, 2 * embed_dim),
        nn.LayerNorm(2 * embed_dim),
        nn.GELU(),
        nn.Linear(2 * embed_dim, embed_dim),
    )


class CrossAttentionBlock(nn.Module):
    """CroSA: attention from `query` to `context`, with the context as residual (official `CA`)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float):
        super().__init__()
        self.attention = MultiHeadAttention(embed_dim, num_heads, dropout)
        self.ffn = feed_forward(embed_dim)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.dropout2 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(embed_dim)

    def forward(
        self, query: torch.Tensor, context: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """query [B, N, D], context [B, N, D] (same N: the context is the residual) → [B, N, D]."""
        if query.shape != context.shape:
            raise ValueError(
                f"CroSA needs query and context of one shape, got {tuple(query.shape)} and {tuple(context.shape)}"
            )
        context = self.norm1(context + self.dropout1(self.attention(query, context, context, key_padding_mask)))
        return self.norm2(context + self.dropout2(self.ffn(context)))


class SelfAttentionBlock(CrossAttentionBlock):
    """MHSA: post-norm self-attention + feed-forward (official `SA`) — CroSA with the input as its own context."""

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, N, D] → [B, N, D]."""
        return super().forward(x, x, key_padding_mask)
