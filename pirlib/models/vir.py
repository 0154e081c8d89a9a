"""Vision Instruction Representation (VIR, paper §3.2; official `get_vision_fusion_embeds`, docs/official_behaviour.md
§2.3).

Given the projected Swin tokens X [B, N, D] (token 0 = the global mean token) and the scene-prior feature:

1. P = prior_projection(prior feature) [B, D] (official `conv_proj`).
2. Rank & filter: belief logits ⟨X[b, n], P[b]⟩ over all N tokens (raw dot products, the global token included);
   the tokens are ordered by decreasing belief and the first `filter_size` are kept → F [B, filter_size, D].
   Batched (`torch.sort` + `gather`), no loop over the batch; N comes from the encoder. The logits are computed in
   float32 even under bf16 autocast (no gradient flows through the order): bf16 logits would tie often (8 bits of
   mantissa) and the stable sort would then prefer low token indices.
3. `num_instruction_layers` Spatial-PAE steps: S = MHSA_i(F); Q = prior_mapping_i(P) broadcast to every row (always
   the original P); F = CroSA_i(Q, S) (query Q, key/value/residual S).
4. Fusion: embedding = normalize(X[:, 0] + head(F[:, 0])); F[:, 0] descends from the highest-belief token.

Deviations from the official code (none changes a result on untied inputs):
- Works at batch size 1 (the official `.squeeze()` crashes there, docs/official_behaviour.md §4.2).
- The order is a *stable* sort of the belief logits (official: non-stable sort of the softmax belief). Softmax is
  monotonic, so the order is the same except between exactly tied values, which the official code breaks
  arbitrarily (a saturated softmax makes such ties; the logits rarely tie).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pirlib.models.attention import CrossAttentionBlock, SelfAttentionBlock


@dataclass
class VisionInstructionDetails:
    """Intermediates of one VIR forward pass (for inspection and the tutorial notebook)."""

    tokens: torch.Tensor  # [B, N, D] projected vision tokens X
    prior: torch.Tensor  # [B, D] projected scene prior P
    belief_logits: torch.Tensor  # [B, N] ⟨X[b, n], P[b]⟩, float32
    belief: torch.Tensor  # [B, N] softmax of the logits over the tokens
    order: torch.Tensor  # [B, N] token indices by decreasing belief
    kept: torch.Tensor  # [B, filter_size] indices of the tokens that survive the filter
    mapped_prior: list[torch.Tensor]  # per instruction step: [B, D] prior_mapping_i(P)
    self_attention: list[torch.Tensor]  # per instruction step: [B, filter_size, D] MHSA output S
    cross_attention: list[torch.Tensor]  # per instruction step: [B, filter_size, D] CroSA output F
    cross_attention_weights: list[torch.Tensor]  # per step: [B, h, filter_size, filter_size] CroSA attention over
    # the kept tokens (columns in `kept` order; before dropout); all query rows are equal, the query being the prior
    embedding: torch.Tensor  # [B, D] the L2-normalised image embedding


def rank_and_filter(tokens: torch.Tensor, prior: torch.Tensor, filter_size: int):
    """Order tokens [B, N, D] by belief ⟨token, prior⟩ and keep the first `filter_size`.

    Returns (kept tokens [B, filter_size, D], belief logits [B, N], order [B, N]).
    """
    num_tokens = tokens.shape[1]
    if not 0 < filter_size <= num_tokens:
        raise ValueError(
            f"model.filter_size = {filter_size} must be between 1 and the number of vision tokens ({num_tokens}: "
            f"1 + the Swin grid); lower filter_size or raise vision.image_size"
        )
    with torch.autocast(tokens.device.type, enabled=False):
        logits = torch.einsum("bnd,bd->bn", tokens.float(), prior.float())  # [B, N] float32
    order = torch.sort(logits.detach(), dim=1, descending=True, stable=True).indices  # [B, N]
    kept = order[:, :filter_size]  # [B, filter_size]
    filtered = torch.gather(tokens, 1, kept.unsqueeze(-1).expand(-1, -1, tokens.shape[2]))  # [B, filter_size, D]
    return filtered, logits, order


class VisionInstruction(nn.Module):
    """VIR: prior-guided rank & filter of the vision tokens, then Spatial-PAE instruction steps and fusion."""

    def __init__(
        self,
        embed_dim: int,
        prior_width: int,
        filter_size: int,
        num_instruction_layers: int,
        num_heads: int,
        dropout: float,
    ):
        super().__init__()
        self.filter_size = filter_size
        self.prior_projection = nn.Linear(prior_width, embed_dim)
        self.self_attention = nn.ModuleList(
            SelfAttentionBlock(embed_dim, num_heads, dropout) for _ in range(num_instruction_layers)
        )
        self.cross_attention = nn.ModuleList(
            CrossAttentionBlock(embed_dim, num_heads, dropout) for _ in range(num_instruction_layers)
        )
        self.prior_mapping = nn.ModuleList(nn.Linear(embed_dim, embed_dim) for _ in range(num_instruction_layers))
        self.head = nn.Linear(embed_dim, embed_dim)

    def forward(
        self, tokens: torch.Tensor, prior_feature: torch.Tensor, return_details: bool = False
    ) -> torch.Tensor | VisionInstructionDetails:
        """tokens [B, N, D] (projected Swin tokens), prior_feature [B, C_prior] → embedding [B, D] (unit norm)."""
        prior = self.prior_projection(prior_feature)  # [B, D]
        filtered, logits, order = rank_and_filter(tokens, prior, self.filter_size)  # [B, filter_size, D]
        mapped, self_outputs, cross_outputs, cross_weights = [], [], [], []
        for self_attention, cross_attention, prior_mapping in zip(
            self.self_attention, self.cross_attention, self.prior_mapping, strict=True
        ):
            attended = self_attention(filtered)  # [B, filter_size, D]
            instruction = prior_mapping(prior)  # [B, D]
            query = instruction.unsqueeze(1).expand_as(attended)  # [B, filter_size, D], one query row per token
            filtered = cross_attention(query, attended)  # [B, filter_size, D]
            if return_details:
                mapped.append(instruction)
                self_outputs.append(attended)
                cross_outputs.append(filtered)
                cross_weights.append(cross_attention.attention.attention_weights(query, attended))  # [B, h, F, F]
        embedding = F.normalize((tokens[:, 0] + self.head(filtered[:, 0])).float(), dim=-1)  # [B, D], float32
        if not return_details:
            return embedding
        return VisionInstructionDetails(
            tokens=tokens,
            prior=prior,
            belief_logits=logits,
            belief=logits.softmax(dim=1),
            order=order,
            kept=order[:, : self.filter_size],
            mapped_prior=mapped,
            self_attention=self_outputs,
            cross_attention=cross_outputs,
            cross_attention_weights=cross_weights,
            embedding=embedding,
        )
