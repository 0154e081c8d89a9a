"""retrieval_metrics against a slow, obviously-correct loop written after the official `itm_eval`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pirlib.metrics import METRIC_KEYS, retrieval_metrics


def reference_metrics(similarity: np.ndarray, img2txt: list[list[int]], txt2img: list[int]) -> dict[str, float]:
    """The official loop: sort each row, image rank = best rank among its captions. Ties: negatives first."""

    def rank(scores: np.ndarray, positives: set[int]) -> int:
        order = sorted(range(len(scores)), key=lambda k: (-scores[k], k in positives))
        return min(order.index(p) for p in positives)

    image_ranks = np.array([rank(similarity[i], set(img2txt[i])) for i in range(similarity.shape[0])])
    caption_ranks = np.array([rank(similarity[:, j], {txt2img[j]}) for j in range(similarity.shape[1])])
    values = [100.0 * np.mean(image_ranks < k) for k in (1, 5, 10)]
    values += [100.0 * np.mean(caption_ranks < k) for k in (1, 5, 10)]
    return dict(zip(METRIC_KEYS, [*values, sum(values) / 6], strict=True))


def five_captions(n_images: int, shuffle: np.random.Generator | None = None) -> tuple[list[list[int]], list[int]]:
    txt2img = [i for i in range(n_images) for _ in range(5)]
    if shuffle is not None:
        shuffle.shuffle(txt2img)
    img2txt = [[j for j, i in enumerate(txt2img) if i == image] for image in range(n_images)]
    return img2txt, txt2img


@pytest.mark.parametrize("seed", range(4))
def test_matches_reference_on_random_matrices(seed):
    rng = np.random.default_rng(seed)
    img2txt, txt2img = five_captions(23, rng if seed % 2 else None)
    similarity = rng.standard_normal((23, 115))
    for i, captions in enumerate(img2txt):  # make the task non-trivial: positives get a boost of varying size
        similarity[i, captions] += rng.uniform(0, 2)
    assert retrieval_metrics(similarity, img2txt, txt2img) == pytest.approx(
        reference_metrics(similarity, img2txt, txt2img)
    )


@pytest.mark.parametrize("seed", range(3))
def test_ties_follow_the_reference_rule(seed):
    rng = np.random.default_rng(100 + seed)
    img2txt, txt2img = five_captions(12, rng)
    similarity = rng.integers(0, 3, size=(12, 60)).astype(np.float32)  # many exact ties
    assert retrieval_metrics(torch.from_numpy(similarity), img2txt, txt2img) == pytest.approx(
        reference_metrics(similarity, img2txt, txt2img)
    )


def test_perfect_and_collapsed_models():
    img2txt, txt2img = five_captions(20)
    perfect = np.zeros((20, 100))
    for i, captions in enumerate(img2txt):
        perfect[i, captions] = 1.0
    assert all(value == 100.0 for value in retrieval_metrics(perfect, img2txt, txt2img).values())
    collapsed = retrieval_metrics(np.ones((20, 100)), img2txt, txt2img)
    assert all(value == 0.0 for value in collapsed.values())


def test_bad_inputs_are_named():
    img2txt, txt2img = five_captions(4)
    with pytest.raises(ValueError, match="img2txt has 4 entries"):
        retrieval_metrics(np.zeros((5, 20)), img2txt, txt2img)
    with pytest.raises(ValueError, match="txt2img has 20 entries"):
        retrieval_metrics(np.zeros((4, 19)), img2txt, txt2img)
    broken = np.zeros((4, 20))
    broken[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        retrieval_metrics(broken, img2txt, txt2img)
    with pytest.raises(ValueError, match="2-D"):
        retrieval_metrics(np.zeros(20), img2txt, txt2img)
