"""Confusion metrics of the common subspace (notebook 05) on embeddings whose geometry is known, against brute-force
references, and the UMAP map's determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pirlib.tutorial.subspace import (
    class_silhouette,
    confusion_metrics,
    cross_modal_knn_purity,
    knn_purity,
    modality_gap,
    nearer_other_centroid,
    nearest_neighbours,
    pooled_embeddings,
    umap_projection,
    within_group_confusion,
)


def clusters(num_classes: int, per_class: int, spread: float, dim: int = 16, seed: int = 0):
    """Unit vectors around `num_classes` random centres: ([N, D], labels [N])."""
    generator = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(num_classes, dim, generator=generator), dim=-1)  # [C, D]
    labels = np.repeat(np.arange(num_classes), per_class)
    noise = spread * torch.randn(len(labels), dim, generator=generator)  # [N, D]
    return F.normalize(centres[torch.from_numpy(labels)] + noise, dim=-1), labels


def test_separated_classes_score_perfectly():
    embeddings, labels = clusters(4, 20, spread=0.01)
    assert knn_purity(embeddings, labels, k=5) == 1.0
    assert nearer_other_centroid(embeddings, labels) == 0.0
    assert class_silhouette(embeddings, labels) > 0.9


def test_random_labels_score_at_chance():
    embeddings, _ = clusters(1, 400, spread=1.0)
    labels = np.random.default_rng(0).integers(0, 4, len(embeddings))
    assert abs(knn_purity(embeddings, labels, k=10) - 0.25) < 0.05
    assert nearer_other_centroid(embeddings, labels) > 0.5
    assert abs(class_silhouette(embeddings, labels)) < 0.1


def test_nearest_neighbours_and_centroids_match_brute_force():
    embeddings, labels = clusters(3, 10, spread=0.8, seed=1)
    found = nearest_neighbours(embeddings, embeddings, 4, exclude_self=True)
    distances = 1 - embeddings @ embeddings.T
    for row in range(len(embeddings)):
        order = [j for j in torch.argsort(distances[row]).tolist() if j != row][:4]
        assert found[row].tolist() == order
    centroids = F.normalize(torch.stack([embeddings[labels == c].mean(0) for c in range(3)]), dim=-1)
    expected = np.mean([int((embeddings[n] @ centroids.T).argmax()) != labels[n] for n in range(len(labels))])
    assert nearer_other_centroid(embeddings, labels) == pytest.approx(expected)


def test_cross_modal_and_group_metrics():
    images, image_labels = clusters(4, 5, spread=0.01, seed=2)
    texts = images.repeat_interleave(2, dim=0)  # two captions per image, on top of it
    caption_labels = np.repeat(image_labels, 2)
    assert cross_modal_knn_purity(texts, caption_labels, images, image_labels, k=5) == 1.0
    # classes 0/1 share one centre region, 2/3 another: every other-class neighbour is in the same group
    embeddings = F.normalize(torch.tensor([[1.0, 0.0]] * 10 + [[0.0, 1.0]] * 10) + 0.01 * torch.randn(20, 2), dim=-1)
    labels = np.array([0, 1] * 5 + [2, 3] * 5)
    assert within_group_confusion(embeddings, labels, ["a", "a", "b", "b"], k=4) == 1.0
    assert np.isnan(within_group_confusion(*clusters(2, 5, spread=0.0), ["a", "b"], k=2))


def test_confusion_metrics_pool_both_modalities():
    images, image_labels = clusters(4, 6, spread=0.05, seed=3)
    texts = F.normalize(images + 0.05 * torch.randn_like(images), dim=-1)
    pooled, labels, is_text = pooled_embeddings(images, texts, image_labels, image_labels)
    assert pooled.shape == (48, 16) and is_text.sum() == 24 and (labels[:24] == labels[24:]).all()
    metrics = confusion_metrics(images, texts, image_labels, image_labels, groups=["a", "a", "b", "b"], k=5)
    assert metrics["5-NN scene purity"] == 1.0
    assert set(metrics) == {
        "5-NN scene purity",
        "caption→image 5-NN purity",
        "silhouette by class",
        "nearer another centroid",
        "confusions within the group",
        "modality gap",
    }
    assert metrics["modality gap"] < 0.01 and modality_gap(images, -images) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="24 image embeddings for 3 labels"):
        pooled_embeddings(images, texts, image_labels[:3], image_labels)


@pytest.mark.slow
def test_umap_is_deterministic():
    embeddings, _ = clusters(3, 30, spread=0.2, seed=4)
    first, second = umap_projection(embeddings, random_state=0), umap_projection(embeddings, random_state=0)
    assert first.shape == (90, 2) and np.array_equal(first, second)
