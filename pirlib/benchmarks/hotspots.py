"""Hot spots of PIR, each timed against a naive reference in the same run, reported as ratios.

- rank & filter (VIR, paper §3.2): `rank_and_filter` (one einsum, one batched sort, one gather) against a
  per-sample Python loop (belief softmax, argsort, index);
- affiliation loss (paper §3.4): `affiliation_loss` (scene centres by one [N, N] averaging matmul) against a
  per-sample loop over the batch building each centre;
- metrics (paper §4.1): `retrieval_metrics` (vectorised ranks) against a per-row argsort (the official `itm_eval`
  loop, NumPy);
- attention (PAE, paper §3.2-3.3): `scaled_dot_product_attention` against an explicit softmax(QKᵀ/√d)·V.

The differentiable hot spots are timed forward + backward. Each entry also reports the largest absolute difference
between the two results, so a fast path that is fast because it is wrong shows up.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from pirlib.benchmarks.timing import time_call
from pirlib.losses import affiliation_loss
from pirlib.metrics import retrieval_metrics
from pirlib.models.vir import rank_and_filter

RSICD_TEST_IMAGES = 1093  # RSICD test split: 1,093 images × 5 captions
CAPTIONS_PER_IMAGE = 5


def naive_rank_and_filter(tokens: torch.Tensor, prior: torch.Tensor, filter_size: int) -> torch.Tensor:
    """tokens [B, N, D], prior [B, D] → kept tokens [B, filter_size, D], one sample at a time."""
    kept = []
    for sample in range(tokens.shape[0]):
        belief = torch.softmax(tokens[sample] @ prior[sample], dim=0)  # [N]
        order = torch.argsort(belief.detach(), descending=True, stable=True)  # [N]
        kept.append(tokens[sample, order[:filter_size]])  # [filter_size, D]
    return torch.stack(kept)  # [B, filter_size, D]


def naive_affiliation_loss(
    image_feat: torch.Tensor, text_feat: torch.Tensor, labels: torch.Tensor, temperature: float
) -> torch.Tensor:
    """The affiliation loss with each sample's scene centres built by a Python loop over the batch."""
    image_centres, text_centres = [], []
    for sample in range(image_feat.shape[0]):
        members = [other for other in range(image_feat.shape[0]) if labels[other] == labels[sample]]
        image_centres.append(torch.stack([image_feat[other] for other in members]).mean(dim=0))  # [D]
        text_centres.append(torch.stack([text_feat[other] for other in members]).mean(dim=0))  # [D]
    image_to_centre = image_feat @ torch.stack(text_centres).T / temperature  # [N, N]
    centre_to_text = torch.stack(image_centres) @ text_feat.T / temperature  # [N, N]
    targets = torch.arange(image_feat.shape[0], device=image_feat.device)
    return (F.cross_entropy(image_to_centre, targets) + F.cross_entropy(centre_to_text, targets)) / 2


def naive_retrieval_metrics(similarity: np.ndarray, img2txt: list[list[int]], txt2img: list[int]) -> dict:
    """R@1/5/10 both ways and mR by a full argsort of every row (the official evaluation loop)."""
    image_ranks = np.zeros(similarity.shape[0])
    for image, scores in enumerate(similarity):
        order = np.argsort(scores)[::-1]
        image_ranks[image] = min(np.where(order == caption)[0][0] for caption in img2txt[image])
    caption_ranks = np.zeros(similarity.shape[1])
    for caption, scores in enumerate(similarity.T):
        order = np.argsort(scores)[::-1]
        caption_ranks[caption] = np.where(order == txt2img[caption])[0][0]
    values = [100.0 * np.mean(ranks < k) for ranks in (image_ranks, caption_ranks) for k in (1, 5, 10)]
    keys = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10")
    return {**dict(zip(keys, values, strict=True)), "mR": sum(values) / len(values)}


def naive_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
    """[B, h, Nq, d], [B, h, Nk, d], [B, h, Nk, d] → [B, h, Nq, d] with an explicit [B, h, Nq, Nk] score matrix."""
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])  # [B, h, Nq, Nk]
    return F.dropout(torch.softmax(scores, dim=-1), dropout) @ value


def _forward_backward(function, inputs: list[torch.Tensor]):
    """A callable running `function(*inputs)` forward and backward (gradients cleared each time)."""

    def run() -> torch.Tensor:
        for tensor in inputs:
            tensor.grad = None
        output = function(*inputs)
        output.float().sum().backward()
        return output

    return run


def _entry(name: str, shape: str, fast, naive, device: torch.device, repeats: int, difference: float) -> dict:
    fast_time = time_call(fast, device, warmup=1, repeats=repeats)["seconds"]
    naive_time = time_call(naive, device, warmup=1, repeats=repeats)["seconds"]
    return {
        "hot_spot": name,
        "shape": shape,
        "fast_ms": 1000 * fast_time,
        "naive_ms": 1000 * naive_time,
        "speedup": naive_time / fast_time,
        "max_abs_difference": difference,
    }


def _leaf(generator: torch.Generator, shape: tuple[int, ...], device: torch.device, dtype=torch.float32):
    return torch.randn(shape, generator=generator).to(device, dtype).requires_grad_(True)


def bench_rank_and_filter(batch: int, tokens: int, width: int, filter_size: int, device, repeats: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    inputs = [_leaf(generator, (batch, tokens, width), device), _leaf(generator, (batch, width), device)]
    fast = _forward_backward(lambda x, p: rank_and_filter(x, p, filter_size)[0], inputs)
    naive = _forward_backward(lambda x, p: naive_rank_and_filter(x, p, filter_size), inputs)
    difference = (fast() - naive()).abs().max().item()
    return _entry(
        "rank & filter", f"B={batch} N={tokens} D={width} keep {filter_size}", fast, naive, device, repeats, difference
    )


def bench_affiliation(batch: int, width: int, classes: int, device, repeats: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    inputs = [F.normalize(torch.randn(batch, width, generator=generator), dim=1).to(device) for _ in range(2)]
    inputs = [tensor.requires_grad_(True) for tensor in inputs]
    labels = torch.randint(classes, (batch,), generator=generator).to(device)
    fast = _forward_backward(lambda i, t: affiliation_loss(i, t, labels, 0.07), inputs)
    naive = _forward_backward(lambda i, t: naive_affiliation_loss(i, t, labels, 0.07), inputs)
    difference = (fast() - naive()).abs().item()
    return _entry("affiliation loss", f"N={batch} D={width} {classes} scenes", fast, naive, device, repeats, difference)


def bench_metrics(images: int, repeats: int) -> dict:
    """Both metric implementations on an RSICD-sized test set (CPU, as the evaluation computes them)."""
    generator = torch.Generator().manual_seed(0)
    captions = images * CAPTIONS_PER_IMAGE
    similarity = torch.randn(images, captions, generator=generator)  # [n_images, n_captions]
    img2txt = [list(range(CAPTIONS_PER_IMAGE * i, CAPTIONS_PER_IMAGE * (i + 1))) for i in range(images)]
    txt2img = [j // CAPTIONS_PER_IMAGE for j in range(captions)]
    fast_result = retrieval_metrics(similarity, img2txt, txt2img)
    naive_result = naive_retrieval_metrics(similarity.numpy(), img2txt, txt2img)
    difference = max(abs(fast_result[key] - naive_result[key]) for key in fast_result)
    cpu = torch.device("cpu")
    return _entry(
        "metrics",
        f"{images} images × {captions} captions",
        lambda: retrieval_metrics(similarity, img2txt, txt2img),
        lambda: naive_retrieval_metrics(similarity.numpy(), img2txt, txt2img),
        cpu,
        repeats,
        difference,
    )


def bench_attention(
    batch: int, heads: int, length: int, head_width: int, dropout: float, device, dtype, repeats: int
) -> dict:
    """SDPA against explicit attention; with `dropout` > 0 (training) both drop attention probabilities, and the
    outputs, being random, are not compared (difference NaN)."""
    generator = torch.Generator().manual_seed(0)
    inputs = [_leaf(generator, (batch, heads, length, head_width), device, dtype) for _ in range(3)]
    fast = _forward_backward(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=dropout), inputs)
    naive = _forward_backward(lambda q, k, v: naive_attention(q, k, v, dropout), inputs)
    difference = (fast() - naive()).abs().max().item() if dropout == 0 else float("nan")
    shape = f"B={batch} h={heads} N={length} d={head_width} {str(dtype).replace('torch.', '')}"
    name = "attention" if dropout == 0 else f"attention, dropout {dropout:g}"
    return _entry(name, shape, fast, naive, device, repeats, difference)
