"""PIR model components (paper §3): encoders, PAE attention blocks, VIR, LCA and the whole model."""

from __future__ import annotations

from pirlib.models.attention import CrossAttentionBlock, MultiHeadAttention, SelfAttentionBlock
from pirlib.models.encoders import ScenePrior, TextEncoder, VisionEncoder
from pirlib.models.lca import LanguageCycleAttention, LanguageCycleDetails
from pirlib.models.pir import PIR
from pirlib.models.vir import VisionInstruction, VisionInstructionDetails, rank_and_filter
from pirlib.models.weights import WeightsError

__all__ = [
    "PIR",
    "CrossAttentionBlock",
    "LanguageCycleAttention",
    "LanguageCycleDetails",
    "MultiHeadAttention",
    "ScenePrior",
    "SelfAttentionBlock",
    "TextEncoder",
    "VisionEncoder",
    "VisionInstruction",
    "VisionInstructionDetails",
    "WeightsError",
    "rank_and_filter",
]
