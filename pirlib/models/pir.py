"""PIR: the whole model (paper §3, Fig. 2; official `PIRBase` in models/pir.py). Baseline and ablations are flags.

    image ─ Swin ─ vision_projection ─ X [B, N, D] ─┬─ VIR (with the scene prior) ─ image embedding [B, D]
                                                     ├─ (use_vir false) normalize(X[:, 0])
                                                     └─ (prior_fusion) normalize(X[:, 0] + prior_fusion(prior))
    text ─ BERT ─ text_projection ─ T0 [B, L, D] ─┬─ LCA ─ text embedding [B, D]
                                                   └─ (use_lca false) normalize(T0[:, 0])

`model.use_vir` / `model.use_lca` both false is the official baseline (docs/official_behaviour.md §2.5): then the model
has no scene prior, mapping, head, MHSA or CroSA modules at all. `model.prior_fusion` (with use_vir false) is a control
that is not in the paper: the baseline given the same frozen scene prior by late fusion, its pooled feature through
one linear layer (zero-initialised, so training starts from the baseline) added to the image embedding before
normalisation. It has PIR's scene knowledge without VIR's token selection and Spatial-PAE. The model returns
embeddings; losses live in `pirlib.losses`.

The learnable temperatures of the contrastive and affiliation losses live here (official `temp`, `temp2`), stored raw
(as the official parameters) in `raw_temperature` / `raw_affiliation_temperature` and read through the properties
`temperature` / `affiliation_temperature`, which clamp them to [model.min_temperature, model.max_temperature].
A temperature that the configured objective does not use is kept (state dicts do not depend on the loss) but frozen.

Deviations from the official behaviour, each behind a flag:
- `text.use_attention_mask` (default true): BERT and LCA ignore [PAD]; the official code passes no mask (false).
- `prior.batchnorm_train_mode` (default false): the prior stays in eval mode while training; official: its BatchNorm
  statistics drift (true). The prior never receives gradients either way.
- `model.min_temperature` / `model.max_temperature`: temperatures are clamped (official: never); the clamp is a
  no-op for the official initial value 0.07 and for loaded official checkpoints (the range is widened to include
  the stored values). `model.clamp_temperatures: false` reads the raw values, as the official code.
- `text.train_padding_embedding` (default false): the [PAD] word embedding is frozen (transformers' padding_idx);
  official: trained (true).
- Batch size 1 works (official VIR crashes); the official affiliation loss only works with embed_dim 512 (here any).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pirlib.config import Config, ConfigError
from pirlib.models.encoders import ScenePrior, TextEncoder, VisionEncoder, record_text_architecture
from pirlib.models.lca import LanguageCycleAttention, LanguageCycleDetails
from pirlib.models.vir import VisionInstruction, VisionInstructionDetails


class PIR(nn.Module):
    """Prior Instruction Representation model: image and text encoders into a common, L2-normalised space."""

    def __init__(self, config: Config, vocab_size: int | None = None):
        """Build from `config.vision/.prior/.text/.model`; `vocab_size` (e.g. `len(tokenizer)`) overrides
        `config.text.vocab_size`. The built text architecture is recorded back into `config.text`."""
        super().__init__()
        model = config.model
        if not 0 < model.min_temperature <= model.max_temperature:
            raise ConfigError(
                f"model.min_temperature ({model.min_temperature}) and model.max_temperature "
                f"({model.max_temperature}) must satisfy 0 < min <= max"
            )
        self.config = config
        self.vision_encoder = VisionEncoder(config.vision)
        self.text_encoder = TextEncoder(config.text, vocab_size)
        record_text_architecture(config.text, self.text_encoder.bert)
        self.vision_projection = nn.Linear(self.vision_encoder.width, model.embed_dim)
        self.text_projection = nn.Linear(self.text_encoder.width, model.embed_dim)

        self.scene_prior: ScenePrior | None = None
        self.vision_instruction: VisionInstruction | None = None
        if model.use_vir:
            if not 0 < model.filter_size <= self.vision_encoder.num_tokens:
                raise ConfigError(
                    f"model.filter_size = {model.filter_size} must be between 1 and the number of vision tokens "
                    f"({self.vision_encoder.num_tokens} at vision.image_size {config.vision.image_size})"
                )
            self.scene_prior = ScenePrior(config.prior)
            self.vision_instruction = VisionInstruction(
                model.embed_dim,
                self.scene_prior.width,
                model.filter_size,
                model.num_instruction_layers,
                model.num_attention_heads,
                model.dropout,
            )
        self.prior_fusion: nn.Linear | None = None
        if model.prior_fusion:
            if model.use_vir:
                raise ConfigError(
                    "model.prior_fusion=true with model.use_vir=true: the fusion control replaces VIR; "
                    "set model.use_vir=false"
                )
            self.scene_prior = ScenePrior(config.prior)
            self.prior_fusion = nn.Linear(self.scene_prior.width, model.embed_dim)
            nn.init.zeros_(self.prior_fusion.weight)  # [D, C_prior]: the untrained control is the baseline
            nn.init.zeros_(self.prior_fusion.bias)
        self.language_cycle: LanguageCycleAttention | None = None
        if model.use_lca:
            self.language_cycle = LanguageCycleAttention(
                model.embed_dim, model.num_cycles, model.num_attention_heads, model.dropout
            )

        contrastive = config.loss.objective == "contrastive"
        self.raw_temperature = nn.Parameter(torch.tensor(float(model.temperature)), requires_grad=contrastive)
        self.raw_affiliation_temperature = nn.Parameter(
            torch.tensor(float(model.affiliation_temperature)),
            requires_grad=contrastive and config.loss.affiliation_weight > 0,
        )

    def _clamped(self, raw: torch.Tensor) -> torch.Tensor:
        model = self.config.model
        return raw.clamp(model.min_temperature, model.max_temperature) if model.clamp_temperatures else raw

    @property
    def temperature(self) -> torch.Tensor:
        """Contrastive-loss temperature, clamped to [min_temperature, max_temperature] (unless clamp_temperatures
        is false)."""
        return self._clamped(self.raw_temperature)

    @property
    def affiliation_temperature(self) -> torch.Tensor:
        """Affiliation-loss temperature, clamped like `temperature`."""
        return self._clamped(self.raw_affiliation_temperature)

    def text_mask(self, attention_mask: torch.Tensor | None) -> torch.Tensor | None:
        """The mask the text path uses: the given one, or None (official: attend [PAD]) when the flag is off."""
        return attention_mask if self.config.text.use_attention_mask else None

    def encode_image(
        self, images: torch.Tensor, return_details: bool = False, prior_features: torch.Tensor | None = None
    ) -> torch.Tensor | VisionInstructionDetails:
        """images [B, 3, H, W] → L2-normalised embedding [B, D] (or VIR intermediates with `return_details`).
        `prior_features` [B, C_prior]: the scene prior's output for these images, when computed beforehand."""
        tokens = self.vision_encoder(images)  # [B, N, C]
        if self.vision_instruction is None:
            if return_details:
                raise ValueError("return_details needs VIR; this model has model.use_vir = false")
            embedding = self.vision_projection(tokens[:, 0])  # [B, D]
            if self.prior_fusion is not None:
                if prior_features is None:
                    prior_features = self.scene_prior(images)  # [B, C_prior]
                embedding = embedding + self.prior_fusion(prior_features)  # [B, D]
            return F.normalize(embedding.float(), dim=-1)  # [B, D], float32 under autocast
        projected = self.vision_projection(tokens)  # [B, N, D]
        if prior_features is None:
            prior_features = self.scene_prior(images)  # [B, C_prior]
        return self.vision_instruction(projected, prior_features, return_details=return_details)

    def encode_text(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, return_details: bool = False
    ) -> torch.Tensor | LanguageCycleDetails:
        """input_ids [B, L] → L2-normalised embedding [B, D] (or LCA intermediates with `return_details`)."""
        mask = self.text_mask(attention_mask)
        hidden = self.text_encoder(input_ids, mask)  # [B, L, H]
        if self.language_cycle is None:
            if return_details:
                raise ValueError("return_details needs LCA; this model has model.use_lca = false")
            return F.normalize(self.text_projection(hidden[:, 0]).float(), dim=-1)  # [B, D], float32 under autocast
        projected = self.text_projection(hidden)  # [B, L, D]
        return self.language_cycle(projected, mask, return_details=return_details)

    def forward(
        self,
        images: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        prior_features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """→ (image embeddings [B_img, D], text embeddings [B_txt, D]), both L2-normalised."""
        image = self.encode_image(images, prior_features=prior_features)
        return image, self.encode_text(input_ids, attention_mask)
