"""Where the seed spread of a test mR comes from: the random sources of a run (validation hold-out, initial weights,
data order and augmentation, dropout; `pirlib.config.SEED_SOURCES`), each varied alone, and the finite test set,
measured by a bootstrap over test images.

The bootstrap resamples test images with replacement, each with its image query and its captions' queries (a
cluster bootstrap: an image's queries are not independent), and keeps every candidate, so it measures how much the
metric would move with another draw of test queries of the same kind, the model and the gallery fixed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from pirlib.metrics import RECALL_AT, query_ranks


def query_hits(
    similarity: torch.Tensor | np.ndarray, img2txt: Sequence[Sequence[int]], txt2img: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(image-query hits [n_images, 3], caption-query hits [n_captions, 3]): rank < K for K in RECALL_AT, official
    protocol, pessimistic ties."""
    image_ranks, text_ranks = query_ranks(similarity, img2txt, txt2img)
    thresholds = torch.tensor(RECALL_AT)
    return (
        (image_ranks[:, None] < thresholds).numpy(),  # [n_images, 3]
        (text_ranks[:, None] < thresholds).numpy(),  # [n_captions, 3]
    )


def bootstrap_mR(
    similarity: torch.Tensor | np.ndarray,
    img2txt: Sequence[Sequence[int]],
    txt2img: Sequence[int],
    rounds: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """mR (%) of `rounds` resamples of the test images (with their captions), official protocol: [rounds]."""
    image_hits, caption_hits = query_hits(similarity, img2txt, txt2img)
    counts = np.array([len(captions) for captions in img2txt])  # [n_images]
    caption_sums = np.zeros_like(image_hits, dtype=float)  # [n_images, 3]: hits of each image's captions
    np.add.at(caption_sums, np.asarray(txt2img), caption_hits)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(img2txt), size=(rounds, len(img2txt)))  # [rounds, n_images]
    image_recall = image_hits[drawn].mean(axis=1)  # [rounds, 3]
    text_recall = caption_sums[drawn].sum(axis=1) / counts[drawn].sum(axis=1)[:, None]  # [rounds, 3]
    return 100.0 * np.concatenate([image_recall, text_recall], axis=1).mean(axis=1)
