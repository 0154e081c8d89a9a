"""Retrieval metrics: Recall@1/5/10 in both directions and their mean mR (paper §4.1, "Evaluation metrics").

The official definition (X-VLM / ALBEF `itm_eval`, see PIR_SPEC §1 "evaluation"): for an image, the candidates are
all captions sorted by similarity and its rank is the best (smallest) rank among its own captions; for a caption, the
rank is that of its one image. R@K is the percentage of queries whose rank is below K; mR is the mean of the six.

Tie rule (the official code uses an unstable numpy sort, so its tie order is arbitrary): ties count against the
query. A query's rank is the number of *negative* candidates whose score is at least the best positive score. A
collapsed model that scores everything equally therefore gets rank n - n_positives, never a lucky rank 0.

The computation is vectorised: each positive score is compared with its whole row at once (no Python loop over rows).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

RECALL_AT = (1, 5, 10)
METRIC_KEYS = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "mR")


def _check_inputs(similarity: torch.Tensor, img2txt: Sequence[Sequence[int]], txt2img: Sequence[int]) -> None:
    if similarity.ndim != 2:
        raise ValueError(f"similarity must be a 2-D [n_images, n_captions] matrix, got shape {tuple(similarity.shape)}")
    n_images, n_captions = similarity.shape
    if len(img2txt) != n_images:
        raise ValueError(f"img2txt has {len(img2txt)} entries but similarity has {n_images} image rows")
    if len(txt2img) != n_captions:
        raise ValueError(f"txt2img has {len(txt2img)} entries but similarity has {n_captions} caption columns")
    if any(len(captions) == 0 for captions in img2txt):
        raise ValueError("img2txt: every image needs at least one caption")
    if not torch.isfinite(similarity).all():
        raise ValueError("similarity contains NaN or infinite values; the embeddings are broken")


def _ranks(scores: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Rank of each query row: number of negatives scoring >= the row's best positive.

    scores [Q, C] and a boolean positives mask [Q, C] with at least one True per row -> ranks [Q] (int64).
    """
    best_positive = scores.masked_fill(~positives, float("-inf")).amax(dim=1, keepdim=True)  # [Q, 1]
    return ((scores >= best_positive) & ~positives).sum(dim=1)  # [Q]


def _recalls(ranks: torch.Tensor) -> list[float]:
    return [100.0 * (ranks < k).double().mean().item() for k in RECALL_AT]


def retrieval_metrics(
    similarity: torch.Tensor | np.ndarray, img2txt: Sequence[Sequence[int]], txt2img: Sequence[int]
) -> dict[str, float]:
    """R@1/5/10 image→text and text→image and mR, in percent.

    similarity: [n_images, n_captions] scores (higher = more similar); img2txt[i]: caption indices of image i;
    txt2img[j]: image index of caption j.
    """
    similarity = torch.as_tensor(similarity).detach().to("cpu", torch.float64)
    _check_inputs(similarity, img2txt, txt2img)
    n_images, n_captions = similarity.shape
    caption_image = torch.as_tensor(list(txt2img), dtype=torch.long)  # [n_captions]
    if caption_image.numel() and (caption_image.min() < 0 or caption_image.max() >= n_images):
        raise ValueError(f"txt2img holds an image index outside [0, {n_images})")
    image_caption_positives = torch.zeros(n_images, n_captions, dtype=torch.bool)
    rows = torch.as_tensor([i for i, captions in enumerate(img2txt) for _ in captions], dtype=torch.long)
    columns = torch.as_tensor([j for captions in img2txt for j in captions], dtype=torch.long)
    if columns.min() < 0 or columns.max() >= n_captions:
        raise ValueError(f"img2txt holds a caption index outside [0, {n_captions})")
    image_caption_positives[rows, columns] = True

    image_ranks = _ranks(similarity, image_caption_positives)  # [n_images]
    caption_positives = torch.zeros(n_captions, n_images, dtype=torch.bool)
    caption_positives[torch.arange(n_captions), caption_image] = True
    caption_ranks = _ranks(similarity.T, caption_positives)  # [n_captions]

    values = _recalls(image_ranks) + _recalls(caption_ranks)
    values.append(sum(values) / len(values))
    return dict(zip(METRIC_KEYS, values, strict=True))
