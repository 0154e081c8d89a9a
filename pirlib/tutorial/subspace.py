"""Semantic confusion in the common subspace (paper §3.4 and Fig. 5): numbers computed in the full D-dimensional
embedding space, and a 2-D UMAP map for looking at it.

The paper motivates the affiliation loss by "semantic confusion zones": embeddings of one scene class lying among
those of another. Its evidence is a 2-D projection; a projection can invent or hide clusters, so the claims here rest
on metrics computed on the L2-normalised embeddings themselves (cosine geometry), with images and captions pooled
into one set (the common subspace is shared):

- k-NN scene purity: the mean fraction of an embedding's k nearest neighbours (itself excluded) of its own class;
- cross-modal k-NN purity: the same for caption queries among images only (what text→image retrieval sees);
- silhouette by class (cosine distance, sklearn): > 0 when embeddings are nearer their class than the next class;
- nearer another centroid: the fraction of embeddings whose cosine to another class's centroid exceeds the cosine to
  their own class's centroid (a direct count of embeddings inside a confusion zone);
- within-group share of confusions (when the classes come in confusable groups, as in SynthRS): of the k-NN
  neighbours of another class, the fraction that belong to the same group;
- modality gap: 1 − cosine between the mean image and the mean caption embedding (descriptive: how far apart the
  two clouds sit; contrastively trained dual encoders keep a gap).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def pooled_embeddings(
    image_embeddings: torch.Tensor,
    text_embeddings: torch.Tensor,
    image_labels: Sequence[int],
    caption_labels: Sequence[int],
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Images then captions as one set: (embeddings [N, D] L2-normalised, class labels [N], is_text [N] bool)."""
    if len(image_embeddings) != len(image_labels) or len(text_embeddings) != len(caption_labels):
        raise ValueError(
            f"pooled_embeddings: {len(image_embeddings)} image embeddings for {len(image_labels)} labels, "
            f"{len(text_embeddings)} caption embeddings for {len(caption_labels)} labels"
        )
    embeddings = F.normalize(torch.cat([image_embeddings, text_embeddings]).float(), dim=-1)  # [N, D]
    labels = np.concatenate([np.asarray(image_labels), np.asarray(caption_labels)])
    is_text = np.concatenate([np.zeros(len(image_labels), bool), np.ones(len(caption_labels), bool)])
    return embeddings, labels, is_text


def nearest_neighbours(queries: torch.Tensor, gallery: torch.Tensor, k: int, exclude_self: bool) -> np.ndarray:
    """Indices [n_queries, k] of the k most cosine-similar gallery rows (rows are unit vectors)."""
    similarity = queries @ gallery.T  # [n_queries, n_gallery]
    if exclude_self:
        similarity.fill_diagonal_(-float("inf"))
    return similarity.topk(k, dim=1).indices.numpy()


def knn_purity(embeddings: torch.Tensor, labels: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each embedding's k nearest neighbours (itself excluded) that share its class."""
    neighbours = nearest_neighbours(embeddings, embeddings, k, exclude_self=True)  # [N, k]
    return float((labels[neighbours] == labels[:, None]).mean())


def cross_modal_knn_purity(
    text_embeddings: torch.Tensor, caption_labels: np.ndarray, image_embeddings: torch.Tensor, image_labels, k: int = 10
) -> float:
    """Mean fraction of each caption's k nearest images that show its scene class."""
    text, images = F.normalize(text_embeddings.float(), dim=-1), F.normalize(image_embeddings.float(), dim=-1)
    neighbours = nearest_neighbours(text, images, k, exclude_self=False)  # [n_captions, k]
    return float((np.asarray(image_labels)[neighbours] == np.asarray(caption_labels)[:, None]).mean())


def class_silhouette(embeddings: torch.Tensor, labels: np.ndarray) -> float:
    """Mean silhouette coefficient of the class labelling under cosine distance (−1 … 1)."""
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(embeddings.numpy(), labels, metric="cosine"))


def class_centroids(embeddings: torch.Tensor, labels: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
    """(classes present [C], their L2-normalised mean embeddings [C, D])."""
    classes = np.unique(labels)
    centroids = torch.stack([embeddings[torch.from_numpy(labels == c)].mean(dim=0) for c in classes])  # [C, D]
    return classes, F.normalize(centroids, dim=-1)


def nearer_other_centroid(embeddings: torch.Tensor, labels: np.ndarray) -> float:
    """Fraction of embeddings more cosine-similar to another class's centroid than to their own class's."""
    classes, centroids = class_centroids(embeddings, labels)
    similarity = embeddings @ centroids.T  # [N, C]
    own = torch.from_numpy(np.searchsorted(classes, labels))  # [N] column of the own class
    own_similarity = similarity.gather(1, own[:, None]).squeeze(1)  # [N]
    others = similarity.scatter(1, own[:, None], -float("inf"))  # [N, C], own class masked
    return float((others.max(dim=1).values > own_similarity).float().mean())


def within_group_confusion(embeddings: torch.Tensor, labels: np.ndarray, groups: Sequence[str], k: int = 10) -> float:
    """Of the k-NN neighbours that belong to another class, the fraction in the same confusable group
    (`groups[c]` is the group of class c); NaN when there is no such neighbour."""
    group_of = np.asarray(groups)
    neighbours = nearest_neighbours(embeddings, embeddings, k, exclude_self=True)  # [N, k]
    other_class = labels[neighbours] != labels[:, None]  # [N, k]
    same_group = group_of[labels[neighbours]] == group_of[labels][:, None]  # [N, k]
    return float(same_group[other_class].mean()) if other_class.any() else float("nan")


def modality_gap(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> float:
    """1 − cosine between the mean image embedding and the mean caption embedding (0: the two clouds share a centre)."""
    image_centre = F.normalize(image_embeddings.float(), dim=-1).mean(dim=0)  # [D]
    text_centre = F.normalize(text_embeddings.float(), dim=-1).mean(dim=0)  # [D]
    return float(1 - F.cosine_similarity(image_centre, text_centre, dim=0))


def confusion_metrics(
    image_embeddings: torch.Tensor,
    text_embeddings: torch.Tensor,
    image_labels: Sequence[int],
    caption_labels: Sequence[int],
    groups: Sequence[str] | None = None,
    k: int = 10,
) -> dict[str, float]:
    """Every metric of this module for one model's test embeddings (images and captions pooled)."""
    embeddings, labels, _ = pooled_embeddings(image_embeddings, text_embeddings, image_labels, caption_labels)
    metrics = {
        f"{k}-NN scene purity": knn_purity(embeddings, labels, k),
        f"caption→image {k}-NN purity": cross_modal_knn_purity(
            text_embeddings, np.asarray(caption_labels), image_embeddings, image_labels, k
        ),
        "silhouette by class": class_silhouette(embeddings, labels),
        "nearer another centroid": nearer_other_centroid(embeddings, labels),
    }
    if groups is not None:
        metrics["confusions within the group"] = within_group_confusion(embeddings, labels, groups, k)
    metrics["modality gap"] = modality_gap(image_embeddings, text_embeddings)
    return metrics


def umap_projection(
    embeddings: torch.Tensor, random_state: int = 0, n_neighbors: int = 15, min_dist: float = 0.1
) -> np.ndarray:
    """2-D UMAP coordinates [N, 2] under cosine distance; a fixed random_state makes it deterministic."""
    import umap

    reducer = umap.UMAP(
        n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine", random_state=random_state
    )
    return reducer.fit_transform(embeddings.numpy())
