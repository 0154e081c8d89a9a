"""Retrieval metrics: Recall@1/5/10 in both directions and their mean mR (paper §4.1, "Evaluation metrics").

The official definition (X-VLM / ALBEF `itm_eval`, see PIR_SPEC §1 "evaluation"): for an image, the candidates are
all captions sorted by similarity and its rank is the best (smallest) rank among its own captions; for a caption, the
rank is that of its one image. R@K is the percentage of queries whose rank is below K; mR is the mean of the six.

Tie rule (the official code uses an unstable numpy sort, so its tie order is arbitrary): ties count against the
query. A query's rank is the number of *negative* candidates whose score is at least the best positive score. A
collapsed model that scores everything equally therefore gets rank n - n_positives, never a lucky rank 0.

The computation is vectorised and makes two passes over the score matrix: a query's rank is the number of candidates
scoring at least its best positive, minus the positives among them (no Python loop over rows, no per-row sort, no
[n_images, n_captions] masks); float32 scores stay float32 (the comparisons are exact either way).
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


def _image_ranks(similarity: torch.Tensor, img2txt: Sequence[Sequence[int]]) -> torch.Tensor:
    """Rank of each image row: number of non-matching captions scoring >= its best caption → [n_images] (int64)."""
    captions = [sorted(set(positions)) for positions in img2txt]
    width = max(len(positions) for positions in captions)
    padded = torch.tensor([positions + positions[:1] * (width - len(positions)) for positions in captions])  # [n, w]
    real = torch.tensor([[k < len(positions) for k in range(width)] for positions in captions])  # [n, w]
    positive_scores = similarity.gather(1, padded)  # [n_images, w]
    best = positive_scores.masked_fill(~real, float("-inf")).amax(dim=1, keepdim=True)  # [n_images, 1]
    return (similarity >= best).sum(dim=1) - ((positive_scores >= best) & real).sum(dim=1)


def _caption_ranks(similarity: torch.Tensor, caption_image: torch.Tensor) -> torch.Tensor:
    """Rank of each caption column: number of other images scoring >= its own image → [n_captions] (int64)."""
    positive = similarity[caption_image, torch.arange(similarity.shape[1])]  # [n_captions]
    return (similarity >= positive).sum(dim=0) - 1


def _recalls(ranks: torch.Tensor) -> list[float]:
    return [100.0 * (ranks < k).double().mean().item() for k in RECALL_AT]


def retrieval_metrics(
    similarity: torch.Tensor | np.ndarray, img2txt: Sequence[Sequence[int]], txt2img: Sequence[int]
) -> dict[str, float]:
    """R@1/5/10 image→text and text→image and mR, in percent.

    similarity: [n_images, n_captions] scores (higher = more similar); img2txt[i]: caption indices of image i;
    txt2img[j]: image index of caption j.
    """
    similarity = torch.as_tensor(similarity).detach().cpu()
    if similarity.dtype not in (torch.float32, torch.float64):
        similarity = similarity.double()
    _check_inputs(similarity, img2txt, txt2img)
    n_images, n_captions = similarity.shape
    caption_image = torch.as_tensor(list(txt2img), dtype=torch.long)  # [n_captions]
    if caption_image.numel() and (caption_image.min() < 0 or caption_image.max() >= n_images):
        raise ValueError(f"txt2img holds an image index outside [0, {n_images})")
    columns = [j for captions in img2txt for j in captions]
    if min(columns) < 0 or max(columns) >= n_captions:
        raise ValueError(f"img2txt holds a caption index outside [0, {n_captions})")
    image_ranks = _image_ranks(similarity, img2txt)  # [n_images]
    caption_ranks = _caption_ranks(similarity, caption_image)  # [n_captions]

    values = _recalls(image_ranks) + _recalls(caption_ranks)
    values.append(sum(values) / len(values))
    return dict(zip(METRIC_KEYS, values, strict=True))
