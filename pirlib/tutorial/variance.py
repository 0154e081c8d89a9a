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


def hits_by_image(
    similarity: torch.Tensor | np.ndarray, img2txt: Sequence[Sequence[int]], txt2img: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a resample of test images needs, per image: (its image query's hits [n_images, 3], the summed hits of
    its captions' queries [n_images, 3], its number of captions [n_images])."""
    image_hits, caption_hits = query_hits(similarity, img2txt, txt2img)
    caption_sums = np.zeros_like(image_hits, dtype=float)  # [n_images, 3]
    np.add.at(caption_sums, np.asarray(txt2img), caption_hits)
    counts = np.array([len(captions) for captions in img2txt])  # [n_images]
    return image_hits.astype(float), caption_sums, counts


def mR_of_draws(hits: tuple[np.ndarray, np.ndarray, np.ndarray], drawn: np.ndarray) -> np.ndarray:
    """mR (%) of each resample `drawn` [rounds, n_images] (indices of test images, with their captions): [rounds]."""
    image_hits, caption_sums, counts = hits
    image_recall = image_hits[drawn].mean(axis=1)  # [rounds, 3]
    text_recall = caption_sums[drawn].sum(axis=1) / counts[drawn].sum(axis=1)[:, None]  # [rounds, 3]
    return 100.0 * np.concatenate([image_recall, text_recall], axis=1).mean(axis=1)


def draw_test_images(n_images: int, rounds: int, seed: int = 0) -> np.ndarray:
    """`rounds` resamples of `n_images` test images with replacement: [rounds, n_images]."""
    return np.random.default_rng(seed).integers(0, n_images, size=(rounds, n_images))


def bootstrap_mR(
    similarity: torch.Tensor | np.ndarray,
    img2txt: Sequence[Sequence[int]],
    txt2img: Sequence[int],
    rounds: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """mR (%) of `rounds` resamples of the test images (with their captions), official protocol: [rounds]."""
    return mR_of_draws(hits_by_image(similarity, img2txt, txt2img), draw_test_images(len(img2txt), rounds, seed))


def bootstrap_mean_difference(
    pairs: Sequence[tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]], rounds: int = 2000, seed: int = 0
) -> np.ndarray:
    """The mean over seeds of mR(A) − mR(B), for `rounds` resamples of the test images, the same resample for every
    seed and both models (they are scored on the same images): [rounds]. `pairs`: per seed, the `hits_by_image` of A
    and of B on one test split."""
    drawn = draw_test_images(len(pairs[0][0][2]), rounds, seed)
    return np.mean([mR_of_draws(a, drawn) - mR_of_draws(b, drawn) for a, b in pairs], axis=0)
