"""Training losses of PIR (paper §3.4; official `get_contr_loss`, `get_affil_loss`, `get_triplet_loss`,
docs/official_behaviour.md §3), vectorised, for any embedding size and batch size.

- `contrastive_loss`: symmetric InfoNCE on I·Tᵀ / temperature; with `image_ids`, every caption of the same image is
  a positive (targets spread uniformly over the positives).
- `affiliation_loss`: cluster-wise affiliation. Per sample, the image (text) centre is the mean embedding of the
  samples with the same scene label in the *local* batch (not renormalised); images are pulled to the text centre of
  their scene and texts to the image centre of theirs, with softmax over the batch and the diagonal as target.
  As in the official formula, samples sharing a label give identical centres, so the loss has a floor of
  mean_i log n_label(i) even for perfect clusters.
- `triplet_loss`: hinge with margin on both directions, summed over negatives (or the hardest one, VSE++).

Inputs are expected L2-normalised [N, D]. The losses are computed in float32. Across ranks the features are
all-gathered with gradient (`pirlib.distributed.all_gather_with_grad`) only when `torch.distributed` is
initialised with more than one process; single-process code never touches it.

Deviations from the official code: any embed size works in `affiliation_loss` (official: 512 only), labels are
moved to the features' device, the triplet loss works on CPU tensors on a CUDA machine, and the learnable
temperatures the model supplies are clamped to [model.min_temperature, model.max_temperature] (official: never
clamped; the default range [0.01, 1] bounds the logit scale to ≤ 100, as CLIP does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pirlib.config import LossConfig
from pirlib.distributed import all_gather_with_grad, is_distributed


def _gather(tensor: torch.Tensor) -> torch.Tensor:
    """All ranks' rows (gradient kept for the local slice); the tensor itself in a single process."""
    return all_gather_with_grad(tensor) if is_distributed() else tensor


def contrastive_loss(
    image_feat: torch.Tensor,
    text_feat: torch.Tensor,
    temperature: torch.Tensor | float,
    image_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE. image_feat, text_feat [N, D] (pairs on the same rows); image_ids [N] or None."""
    image_feat = _gather(image_feat.float())  # [N, D]
    text_feat = _gather(text_feat.float())  # [N, D]
    logits = image_feat @ text_feat.T / temperature  # [N, N]: image i vs text j
    if image_ids is None:
        targets = torch.arange(logits.shape[0], device=logits.device)
        return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
    image_ids = _gather(image_ids.to(logits.device))  # [N]
    positives = (image_ids[:, None] == image_ids[None, :]).float()  # [N, N], symmetric
    targets = positives / positives.sum(dim=1, keepdim=True)  # [N, N], rows sum to 1
    image_to_text = -(targets * logits.log_softmax(dim=1)).sum(dim=1).mean()
    text_to_image = -(targets * logits.T.log_softmax(dim=1)).sum(dim=1).mean()
    return (image_to_text + text_to_image) / 2


def affiliation_loss(
    image_feat: torch.Tensor,
    text_feat: torch.Tensor,
    labels: torch.Tensor,
    temperature: torch.Tensor | float,
) -> torch.Tensor:
    """Cluster-wise affiliation loss. image_feat, text_feat [N, D]; labels [N] scene classes.

    Under DDP each rank computes the scene centres of its own share of the batch (the official definition) before
    the gather, so N GPUs give another loss than one GPU on the same global batch: a centre averages the samples of
    one rank's share only (tests/test_ddp.py leaves this term out of its one-vs-two-process comparison)."""
    image_feat, text_feat = image_feat.float(), text_feat.float()
    labels = labels.to(image_feat.device)
    same_scene = (labels[:, None] == labels[None, :]).float()  # [n, n] on the local batch
    averaging = same_scene / same_scene.sum(dim=1, keepdim=True)  # [n, n], rows sum to 1
    image_centres = _gather(averaging @ image_feat)  # [N, D]: mean image of each sample's scene
    text_centres = _gather(averaging @ text_feat)  # [N, D]
    image_feat, text_feat = _gather(image_feat), _gather(text_feat)  # [N, D]
    image_to_centre = image_feat @ text_centres.T / temperature  # [N, N]: I_a · c^T_b
    centre_to_text = image_centres @ text_feat.T / temperature  # [N, N]: c^I_a · T_b
    targets = torch.arange(image_feat.shape[0], device=image_feat.device)
    return (F.cross_entropy(image_to_centre, targets) + F.cross_entropy(centre_to_text, targets)) / 2


def triplet_loss(
    image_feat: torch.Tensor, text_feat: torch.Tensor, margin: float = 0.2, max_violation: bool = False
) -> torch.Tensor:
    """Bidirectional hinge loss, summed over the batch (as the official code). image_feat, text_feat [N, D]."""
    image_feat = _gather(image_feat.float())  # [N, D]
    text_feat = _gather(text_feat.float())  # [N, D]
    scores = image_feat @ text_feat.T  # [N, N]
    positive = scores.diagonal()  # [N]
    diagonal = torch.eye(scores.shape[0], dtype=torch.bool, device=scores.device)
    cost_text = (margin + scores - positive[:, None]).clamp(min=0).masked_fill(diagonal, 0)  # image i, text j ≠ i
    cost_image = (margin + scores - positive[None, :]).clamp(min=0).masked_fill(diagonal, 0)  # text j, image i ≠ j
    if max_violation:
        return cost_text.max(dim=1).values.sum() + cost_image.max(dim=0).values.sum()
    return cost_text.sum() + cost_image.sum()


class RetrievalObjective:
    """The configured training objective: contrastive + affiliation_weight × affiliation, or triplet.

    `objective(model, image_feat, text_feat, image_ids, labels)` → {"loss", and each term used: "contrastive",
    "affiliation" or "triplet"}. The temperatures are read from the model (`model.temperature`,
    `model.affiliation_temperature`); a DDP-wrapped model is unwrapped. The affiliation term is skipped when its
    weight is 0, and is not added to the triplet objective (official: triplet only without the affiliation loss).
    """

    def __init__(self, config: LossConfig):
        if config.objective not in ("contrastive", "triplet"):
            raise ValueError(f"loss.objective must be 'contrastive' or 'triplet', got {config.objective!r}")
        self.config = config

    def __call__(
        self,
        model: torch.nn.Module,
        image_feat: torch.Tensor,
        text_feat: torch.Tensor,
        image_ids: torch.Tensor | None,
        labels: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        model = getattr(model, "module", model)
        config = self.config
        if config.objective == "triplet":
            triplet = triplet_loss(image_feat, text_feat, config.triplet_margin, config.triplet_max_violation)
            return {"loss": triplet, "triplet": triplet}
        ids = image_ids if config.use_image_ids else None
        terms = {"contrastive": contrastive_loss(image_feat, text_feat, model.temperature, ids)}
        loss = terms["contrastive"]
        if config.affiliation_weight > 0:
            if labels is None:
                raise ValueError("loss.affiliation_weight > 0 needs scene labels; pass labels or set the weight to 0")
            terms["affiliation"] = affiliation_loss(image_feat, text_feat, labels, model.affiliation_temperature)
            loss = loss + config.affiliation_weight * terms["affiliation"]
        return {"loss": loss, **terms}
