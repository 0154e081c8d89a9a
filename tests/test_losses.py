"""Losses against slow, obviously-correct float64 loop references written from the formulas of PIR_SPEC §3."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pirlib.config import LossConfig
from pirlib.losses import RetrievalObjective, affiliation_loss, contrastive_loss, triplet_loss


def _features(n: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    image = F.normalize(torch.randn(n, dim, generator=generator), dim=-1)
    text = F.normalize(torch.randn(n, dim, generator=generator), dim=-1)
    return image, text


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return sum(float(x) * float(y) for x, y in zip(a.tolist(), b.tolist(), strict=True))


def _log_softmax_at(row: list[float], index: int) -> float:
    top = max(row)
    return row[index] - top - math.log(sum(math.exp(v - top) for v in row))


def slow_contrastive(image, text, temperature, ids=None) -> float:
    n = len(image)
    logits = [[_dot(image[i], text[j]) / temperature for j in range(n)] for i in range(n)]
    ids = list(range(n)) if ids is None else ids.tolist()
    total = 0.0
    for direction in (logits, [list(col) for col in zip(*logits, strict=True)]):
        for i in range(n):
            positives = [j for j in range(n) if ids[j] == ids[i]]
            total -= sum(_log_softmax_at(direction[i], j) for j in positives) / len(positives) / n
    return total / 2


def slow_affiliation(image, text, labels, temperature) -> float:
    n, labels = len(image), labels.tolist()

    def centre(features, i):
        members = [j for j in range(n) if labels[j] == labels[i]]
        return torch.stack([features[j].double() for j in members]).mean(dim=0)

    image_centres = [centre(image, i) for i in range(n)]
    text_centres = [centre(text, i) for i in range(n)]
    total = 0.0
    for a in range(n):
        to_centres = [_dot(image[a], text_centres[b]) / temperature for b in range(n)]
        to_texts = [_dot(image_centres[a], text[b]) / temperature for b in range(n)]
        total -= (_log_softmax_at(to_centres, a) + _log_softmax_at(to_texts, a)) / (2 * n)
    return total


def slow_triplet(image, text, margin, max_violation) -> float:
    n = len(image)
    scores = [[_dot(image[i], text[j]) for j in range(n)] for i in range(n)]
    per_image = [[max(0.0, margin + scores[i][j] - scores[i][i]) for j in range(n) if j != i] for i in range(n)]
    per_text = [[max(0.0, margin + scores[i][j] - scores[j][j]) for i in range(n) if i != j] for j in range(n)]
    if max_violation:
        return sum(max(row, default=0.0) for row in per_image) + sum(max(row, default=0.0) for row in per_text)
    return sum(map(sum, per_image)) + sum(map(sum, per_text))


@pytest.mark.parametrize("dim", [16, 256, 512])
def test_contrastive_matches_loop_reference(dim):
    image, text = _features(9, dim)
    ids = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4, 4])
    for use_ids in (None, ids):
        expected = slow_contrastive(image, text, 0.07, use_ids)
        assert contrastive_loss(image, text, 0.07, use_ids).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("dim", [16, 256, 512])
def test_affiliation_matches_loop_reference_any_embed_size(dim):
    image, text = _features(8, dim, seed=1)
    labels = torch.tensor([5, 5, 1, 1, 1, 7, 7, 2])
    expected = slow_affiliation(image, text, labels, 0.05)
    assert affiliation_loss(image, text, labels, 0.05).item() == pytest.approx(expected, rel=1e-5)


def test_affiliation_floor_for_perfect_clusters():
    """Identical embeddings within each scene: the loss reaches its floor mean_i log n_label(i) (official quirk)."""
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    centres = torch.eye(3)
    image = text = centres[labels]
    floor = sum(math.log((labels == label).sum().item()) for label in labels) / len(labels)
    assert affiliation_loss(image, text, labels, 0.001).item() == pytest.approx(floor, abs=1e-5)


@pytest.mark.parametrize("max_violation", [False, True])
def test_triplet_matches_loop_reference(max_violation):
    image, text = _features(7, 32, seed=2)
    expected = slow_triplet(image, text, 0.2, max_violation)
    assert triplet_loss(image, text, 0.2, max_violation).item() == pytest.approx(expected, rel=1e-5)


def test_batch_size_one():
    image, text = _features(1, 8)
    assert contrastive_loss(image, text, 0.07, torch.tensor([3])).item() == pytest.approx(0.0, abs=1e-6)
    assert affiliation_loss(image, text, torch.tensor([2]), 0.07).item() == pytest.approx(0.0, abs=1e-6)
    assert triplet_loss(image, text).item() == 0.0


def test_gradients_flow_to_features_and_temperature():
    image, text = _features(6, 16)
    image.requires_grad_(True)
    text.requires_grad_(True)
    temperature = torch.tensor(0.07, requires_grad=True)
    loss = contrastive_loss(image, text, temperature, torch.tensor([0, 0, 1, 2, 3, 3]))
    loss = loss + affiliation_loss(image, text, torch.tensor([1, 1, 0, 0, 2, 2]), temperature)
    loss.backward()
    for grad in (image.grad, text.grad, temperature.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


class _TemperatureHolder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.temperature = torch.tensor(0.07)
        self.affiliation_temperature = torch.tensor(0.1)


def test_objective_terms():
    image, text = _features(6, 16)
    ids, labels = torch.tensor([0, 0, 1, 2, 3, 3]), torch.tensor([1, 1, 0, 0, 2, 2])
    holder = _TemperatureHolder()
    terms = RetrievalObjective(LossConfig(affiliation_weight=0.5))(holder, image, text, ids, labels)
    assert set(terms) == {"loss", "contrastive", "affiliation"}
    assert terms["contrastive"].item() == pytest.approx(contrastive_loss(image, text, 0.07, ids).item())
    assert terms["affiliation"].item() == pytest.approx(affiliation_loss(image, text, labels, 0.1).item())
    assert terms["loss"].item() == pytest.approx(terms["contrastive"].item() + 0.5 * terms["affiliation"].item())

    no_affiliation = RetrievalObjective(LossConfig(affiliation_weight=0.0, use_image_ids=False))
    terms = no_affiliation(holder, image, text, ids, None)
    assert set(terms) == {"loss", "contrastive"}
    assert terms["loss"].item() == pytest.approx(contrastive_loss(image, text, 0.07).item())

    triplet = RetrievalObjective(LossConfig(objective="triplet", triplet_max_violation=True))(
        holder, image, text, ids, labels
    )
    assert set(triplet) == {"loss", "triplet"}
    assert triplet["loss"].item() == pytest.approx(slow_triplet(image, text, 0.2, True), rel=1e-5)


def test_objective_needs_labels_for_affiliation():
    image, text = _features(4, 8)
    with pytest.raises(ValueError, match="scene labels"):
        RetrievalObjective(LossConfig())(_TemperatureHolder(), image, text, torch.arange(4), None)
