"""Retrieval metrics: Recall@1/5/10 in both directions and their mean mR (paper §4.1, "Evaluation metrics").

Two protocols:

- "official" (the default; X-VLM / ALBEF `itm_eval`, see docs/official_behaviour.md §1 "evaluation", used by PIR's Table
  1): each of the five captions of an image is its own query and its own candidate. For an image, the candidates are all
  captions and its rank is the best rank among its own captions; for a caption, the rank is that of its one image.
  Identical captions of different images are therefore distinct candidates, and a caption whose sentence also describes
  other images can only be right about one of them.
- "dedup" (duplicate-aware, as SkyScript / FarSLIP-style evaluations do): identical caption strings are merged into
  one text. A text query is right when it retrieves any image that has that caption; an image query ranks the
  distinct caption strings, each counted once, and is right on any string among its captions. The merged text is
  scored with the column of its first occurrence (identical strings have identical embeddings). On a set without
  repeated captions the two protocols are the same computation.

R@K is the percentage of queries whose rank is below K; mR is the mean of the six.

Tie rule (`tie_rule`). A query's rank is the number of *negative* candidates that beat its best positive:
- "pessimistic" (the default): a negative scoring exactly as much as the best positive counts against the query. It
  is a lower bound that no tie order can undercut, a collapsed model that scores everything equally gets rank
  n - n_positives (never a lucky rank 0), and it is the rule pirlib has always reported.
- "optimistic": only negatives scoring strictly more count; the upper bound.
The official code ranks with an unstable `np.argsort(...)[::-1]`, so its figure lies somewhere between the two, in
an order nobody chose. Without exact ties both rules give the same value; `tie_range` and `protocol_report` give both
bounds wherever ties make them differ.

The computation is vectorised and makes two passes over the score matrix: a query's rank is the number of candidates
scoring at least (or more than) its best positive, minus the positives among them (no Python loop over rows, no
per-row sort, no [n_images, n_captions] masks); float32 scores stay float32 (the comparisons are exact either way).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

RECALL_AT = (1, 5, 10)
METRIC_KEYS = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "mR")
PROTOCOLS = ("official", "dedup")
TIE_RULES = ("pessimistic", "optimistic")


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
    if len(txt2img) and (min(txt2img) < 0 or max(txt2img) >= n_images):
        raise ValueError(f"txt2img holds an image index outside [0, {n_images})")
    columns = [j for captions in img2txt for j in captions]
    if min(columns) < 0 or max(columns) >= n_captions:
        raise ValueError(f"img2txt holds a caption index outside [0, {n_captions})")


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} '{value}': expected one of {', '.join(choices)}")


def _multi_positive_ranks(scores: torch.Tensor, positives: Sequence[Sequence[int]], tie_rule: str) -> torch.Tensor:
    """Rank of each query row of `scores` [n_queries, n_candidates]: the number of negative candidates scoring >=
    (pessimistic) or > (optimistic) its best positive → [n_queries] (int64)."""
    sets = [sorted(set(row)) for row in positives]
    width = max(len(row) for row in sets)
    padded = torch.tensor([row + row[:1] * (width - len(row)) for row in sets])  # [n_queries, w]
    real = torch.tensor([[k < len(row) for k in range(width)] for row in sets])  # [n_queries, w]
    positive_scores = scores.gather(1, padded)  # [n_queries, w]
    best = positive_scores.masked_fill(~real, float("-inf")).amax(dim=1, keepdim=True)  # [n_queries, 1]
    if tie_rule == "optimistic":
        return (scores > best).sum(dim=1)  # no positive scores more than the best one
    return (scores >= best).sum(dim=1) - ((positive_scores >= best) & real).sum(dim=1)


def _single_positive_column_ranks(similarity: torch.Tensor, caption_image: torch.Tensor, tie_rule: str):
    """Rank of each caption column with one image: the number of other images scoring >= (pessimistic) or >
    (optimistic) its own → [n_captions] (int64)."""
    positive = similarity[caption_image, torch.arange(similarity.shape[1])]  # [n_captions]
    if tie_rule == "optimistic":
        return (similarity > positive).sum(dim=0)
    return (similarity >= positive).sum(dim=0) - 1


def distinct_captions(captions: Sequence[str]) -> tuple[list[int], list[int]]:
    """(column of the first occurrence of each distinct string [n_distinct], distinct string of each caption
    [n_captions]); distinct strings are numbered in order of first occurrence."""
    number: dict[str, int] = {}
    first, group = [], []
    for column, caption in enumerate(captions):
        if caption not in number:
            number[caption] = len(first)
            first.append(column)
        group.append(number[caption])
    return first, group


def _ranks(
    similarity: torch.Tensor,
    img2txt: Sequence[Sequence[int]],
    txt2img: Sequence[int],
    protocol: str,
    tie_rule: str,
    captions: Sequence[str] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(image query ranks [n_images], text query ranks [n_captions] or [n_distinct])."""
    if protocol == "official":
        caption_image = torch.as_tensor(list(txt2img), dtype=torch.long)  # [n_captions]
        return (
            _multi_positive_ranks(similarity, img2txt, tie_rule),
            _single_positive_column_ranks(similarity, caption_image, tie_rule),
        )
    if captions is None or len(captions) != similarity.shape[1]:
        raise ValueError("the dedup protocol needs the caption strings, one per similarity column")
    first, group = distinct_captions(captions)
    merged = similarity[:, first]  # [n_images, n_distinct]
    image_strings = [[group[j] for j in row] for row in img2txt]
    string_images: list[list[int]] = [[] for _ in first]
    for column, image in enumerate(txt2img):
        string_images[group[column]].append(image)
    return (
        _multi_positive_ranks(merged, image_strings, tie_rule),
        _multi_positive_ranks(merged.T.contiguous(), string_images, tie_rule),
    )


def _recalls(ranks: torch.Tensor) -> list[float]:
    return [100.0 * (ranks < k).double().mean().item() for k in RECALL_AT]


def _as_scores(similarity: torch.Tensor | np.ndarray) -> torch.Tensor:
    similarity = torch.as_tensor(similarity).detach().cpu()
    return similarity if similarity.dtype in (torch.float32, torch.float64) else similarity.double()


def _metrics(image_ranks: torch.Tensor, text_ranks: torch.Tensor) -> dict[str, float]:
    values = _recalls(image_ranks) + _recalls(text_ranks)
    values.append(sum(values) / len(values))
    return dict(zip(METRIC_KEYS, values, strict=True))


def retrieval_metrics(
    similarity: torch.Tensor | np.ndarray,
    img2txt: Sequence[Sequence[int]],
    txt2img: Sequence[int],
    protocol: str = "official",
    tie_rule: str = "pessimistic",
    captions: Sequence[str] | None = None,
) -> dict[str, float]:
    """R@1/5/10 image→text and text→image and mR, in percent.

    similarity: [n_images, n_captions] scores (higher = more similar); img2txt[i]: caption indices of image i;
    txt2img[j]: image index of caption j; protocol: "official" or "dedup" (which needs `captions`, the caption
    strings of the columns, already normalised); tie_rule: "pessimistic" or "optimistic".
    """
    _check_choice("protocol", protocol, PROTOCOLS)
    _check_choice("tie rule", tie_rule, TIE_RULES)
    similarity = _as_scores(similarity)
    _check_inputs(similarity, img2txt, txt2img)
    return _metrics(*_ranks(similarity, img2txt, txt2img, protocol, tie_rule, captions))


def query_ranks(
    similarity: torch.Tensor | np.ndarray,
    img2txt: Sequence[Sequence[int]],
    txt2img: Sequence[int],
    tie_rule: str = "pessimistic",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The official protocol's rank of every query: (image queries [n_images], caption queries [n_captions]); a
    query with rank < K counts for R@K. `retrieval_metrics` is the mean of these hits."""
    _check_choice("tie rule", tie_rule, TIE_RULES)
    similarity = _as_scores(similarity)
    _check_inputs(similarity, img2txt, txt2img)
    return _ranks(similarity, img2txt, txt2img, "official", tie_rule, None)


def tie_range(
    similarity: torch.Tensor | np.ndarray,
    img2txt: Sequence[Sequence[int]],
    txt2img: Sequence[int],
    protocol: str = "official",
    captions: Sequence[str] | None = None,
) -> dict:
    """Both tie rules at once: {"pessimistic": metrics, "optimistic": metrics, "tied_queries": {"i2t": n, "t2i": n}}
    where a tied query is one whose rank differs between the rules (a negative scores exactly its best positive)."""
    _check_choice("protocol", protocol, PROTOCOLS)
    similarity = _as_scores(similarity)
    _check_inputs(similarity, img2txt, txt2img)
    low = _ranks(similarity, img2txt, txt2img, protocol, "pessimistic", captions)
    high = _ranks(similarity, img2txt, txt2img, protocol, "optimistic", captions)
    return {
        "pessimistic": _metrics(*low),
        "optimistic": _metrics(*high),
        "tied_queries": {
            direction: int((worst != best).sum())
            for direction, worst, best in zip(("i2t", "t2i"), low, high, strict=True)
        },
    }


def protocol_report(
    similarity: torch.Tensor | np.ndarray,
    img2txt: Sequence[Sequence[int]],
    txt2img: Sequence[int],
    captions: Sequence[str] | None = None,
    protocols: Sequence[str] = ("official",),
    tie_rule: str = "pessimistic",
) -> dict:
    """The metrics of each protocol under `tie_rule`, for results files (`pirlib evaluate`'s eval JSON).

    The official protocol's metrics are the top-level keys (METRIC_KEYS), any other protocol's sit under its name.
    Each carries "protocol", "tie_rule" and "tied_queries"; where ties make the rules differ, "tie_range" holds
    {"pessimistic": metrics, "optimistic": metrics}. The dedup block also counts its "text_queries" (distinct
    caption strings)."""
    _check_choice("tie rule", tie_rule, TIE_RULES)
    report: dict = {}
    for protocol in dict.fromkeys(("official", *protocols)):
        bounds = tie_range(similarity, img2txt, txt2img, protocol, captions)
        block = {**bounds[tie_rule], "protocol": protocol, "tie_rule": tie_rule, "tied_queries": bounds["tied_queries"]}
        if any(bounds["tied_queries"].values()):
            block["tie_range"] = {rule: bounds[rule] for rule in TIE_RULES}
        if protocol == "official":
            report.update(block)
        else:
            block["text_queries"] = len(distinct_captions(captions)[0])
            report[protocol] = block
    return report
