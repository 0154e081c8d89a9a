"""Language Cycle Attention (LCA, paper §3.3; official `get_text_fusion_embeds`, docs/official_behaviour.md §2.4).

Given the projected BERT tokens T0 [B, L, D] (position 0 = [CLS]), `num_cycles` Temporal-PAE cycles run:
S = MHSA_i(T); Q = cycle_mapping_i(T) (a per-token map of the cycle *input*); T = CroSA_i(Q, S) (query Q,
key/value/residual S). The embedding is normalize(T0[:, 0] + head(T[:, 0])).

Deviation (flag `text.use_attention_mask`, default on for new models): with a key padding mask, [PAD] positions are
ignored as attention keys in every block. The official code uses no mask, so [PAD] tokens are attended and the
embedding depends on the padded length (docs/official_behaviour.md §4.1); `load_official_checkpoint` turns the mask off
for parity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pirlib.models.attention import CrossAttentionBlock, SelfAttentionBlock


@dataclass
class LanguageCycleDetails:
    """Intermediates of one LCA forward pass (for inspection and the tutorial notebook)."""

    tokens: torch.Tensor  # [B, L, D] projected text tokens T0
    self_attention: list[torch.Tensor]  # per cycle: [B, L, D] MHSA output S
    cross_attention: list[torch.Tensor]  # per cycle: [B, L, D] CroSA output T
    embedding: torch.Tensor  # [B, D] the L2-normalised text embedding


class LanguageCycleAttention(nn.Module):
    """LCA: `num_cycles` Temporal-PAE cycles over the text tokens, then fusion with the [CLS] token."""

    def __init__(self, embed_dim: int, num_cycles: int, num_heads: int, dropout: float):
        super().__init__()
        self.self_attention = nn.ModuleList(
            SelfAttentionBlock(embed_dim, num_heads, dropout) for _ in range(num_cycles)
        )
        self.cross_attention = nn.ModuleList(
            CrossAttentionBlock(embed_dim, num_heads, dropout) for _ in range(num_cycles)
        )
        self.cycle_mapping = nn.ModuleList(nn.Linear(embed_dim, embed_dim) for _ in range(num_cycles))
        self.head = nn.Linear(embed_dim, embed_dim)

    def forward(
        self, tokens: torch.Tensor, key_padding_mask: torch.Tensor | None = None, return_details: bool = False
    ) -> torch.Tensor | LanguageCycleDetails:
        """tokens [B, L, D], key_padding_mask [B, L] (True = real token, None = attend all) → embedding [B, D]."""
        state = tokens
        self_outputs, cross_outputs = [], []
        for self_attention, cross_attention, cycle_mapping in zip(
            self.self_attention, self.cross_attention, self.cycle_mapping, strict=True
        ):
            attended = self_attention(state, key_padding_mask)  # [B, L, D]
            query = cycle_mapping(state)  # [B, L, D]
            state = cross_attention(query, attended, key_padding_mask)  # [B, L, D]
            if return_details:
                self_outputs.append(attended)
                cross_outputs.append(state)
        embedding = F.normalize((tokens[:, 0] + self.head(state[:, 0])).float(), dim=-1)  # [B, D], float32
        if not return_details:
            return embedding
        return LanguageCycleDetails(
            tokens=tokens, self_attention=self_outputs, cross_attention=cross_outputs, embedding=embedding
        )
