"""The test-set bootstrap against the metric it resamples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pirlib.metrics import retrieval_metrics
from pirlib.tutorial.variance import bootstrap_mean_difference, bootstrap_mR, hits_by_image, query_hits


def retrieval_set(images: int = 40, per_image: int = 5, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    similarity = torch.randn(images, images * per_image, generator=generator)
    img2txt = [list(range(i * per_image, (i + 1) * per_image)) for i in range(images)]
    txt2img = [i for i in range(images) for _ in range(per_image)]
    for i, captions in enumerate(img2txt):  # a signal: own captions score higher
        similarity[i, captions] += 1.5
    return similarity, img2txt, txt2img


def test_hits_average_to_the_metrics():
    similarity, img2txt, txt2img = retrieval_set()
    image_hits, caption_hits = query_hits(similarity, img2txt, txt2img)
    metrics = retrieval_metrics(similarity, img2txt, txt2img)
    recalls = np.concatenate([image_hits.mean(axis=0), caption_hits.mean(axis=0)]) * 100
    assert recalls.mean() == pytest.approx(metrics["mR"])


def test_bootstrap_centres_on_the_metric_and_shrinks_with_more_images():
    small, large = retrieval_set(40), retrieval_set(400)
    draws_small, draws_large = bootstrap_mR(*small, rounds=800), bootstrap_mR(*large, rounds=800)
    assert draws_small.mean() == pytest.approx(retrieval_metrics(*small)["mR"], abs=1.0)
    assert draws_large.std() < draws_small.std() / 2  # about 1/sqrt(10)
    assert np.array_equal(bootstrap_mR(*small, rounds=50, seed=3), bootstrap_mR(*small, rounds=50, seed=3))


def test_mean_difference_uses_one_draw_of_test_images_for_both_models_and_every_seed():
    seeds = [retrieval_set(60, seed=seed) for seed in range(3)]
    same = [(hits_by_image(*run), hits_by_image(*run)) for run in seeds]
    assert np.all(bootstrap_mean_difference(same, rounds=200) == 0.0)  # one draw for both sides: no spurious spread
    pairs = [(hits_by_image(*run), hits_by_image(*retrieval_set(60, seed=10 + s))) for s, run in enumerate(seeds)]
    draws = bootstrap_mean_difference(pairs, rounds=2000)
    full = np.mean([retrieval_metrics(*run)["mR"] - retrieval_metrics(*retrieval_set(60, seed=10 + s))["mR"]
                    for s, run in enumerate(seeds)])  # fmt: skip
    assert draws.mean() == pytest.approx(full, abs=0.5) and draws.std() > 0
    one_seed = bootstrap_mean_difference(pairs[:1], rounds=2000)
    assert draws.std() < one_seed.std()  # the seeds' own test-set noise partly averages out
