"""Embedding a retrieval set and scoring it (paper §4.1 "Evaluation metrics"; PIR_SPEC §2.6).

All images and all captions of a split are embedded once; the score of (image, caption) is the dot product of their
L2-normalised embeddings (cosine similarity), with no re-ranking, and `pirlib.metrics.retrieval_metrics` turns the
[n_images, n_captions] score matrix into R@1/5/10 both ways and mR. Captions are tokenised in chunks of
`train.eval_batch_size`, padded to the longest caption of the chunk (the official evaluation uses chunks of 128).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader

from pirlib.config import Config
from pirlib.data import CaptionCollator, RetrievalDataset, test_transform
from pirlib.data.format import DatasetIndex
from pirlib.metrics import retrieval_metrics


def retrieval_set(index: DatasetIndex, image_ids: Sequence[int], config: Config) -> RetrievalDataset:
    """The images `image_ids` of `index` with the evaluation transform, and all their captions."""
    return RetrievalDataset(index, image_ids, test_transform(config.vision.image_size))


@torch.no_grad()
def embed_retrieval_set(
    model: torch.nn.Module,
    dataset: RetrievalDataset,
    tokenizer,
    config: Config,
    device: torch.device | str = "cpu",
    autocast_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (image embeddings [n_images, D], caption embeddings [n_captions, D]), float32 on the CPU, in dataset order.

    The model is put in eval mode and left in it."""
    device = torch.device(device)
    model.eval()
    amp = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None else contextlib.nullcontext()
    batch_size = config.train.eval_batch_size
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=config.data.num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(0),  # never draw from the global RNG (exact resume)
    )
    image_embeddings = []
    for images in loader:
        images = images.to(device, non_blocking=True)  # [B, 3, H, W]
        if device.type == "cuda" and config.train.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with amp:
            image_embeddings.append(model.encode_image(images).float().cpu())  # [B, D]
    collator = CaptionCollator(tokenizer, config.text.max_tokens)
    text_embeddings = []
    for start in range(0, len(dataset.captions), batch_size):
        text = collator.tokenize(dataset.captions[start : start + batch_size])  # [B, L] each
        with amp:
            embedding = model.encode_text(text["input_ids"].to(device), text["attention_mask"].to(device))
        text_embeddings.append(embedding.float().cpu())  # [B, D]
    return torch.cat(image_embeddings), torch.cat(text_embeddings)


def evaluate_model(
    model: torch.nn.Module,
    dataset: RetrievalDataset,
    tokenizer,
    config: Config,
    device: torch.device | str = "cpu",
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """R@1/5/10 image→text and text→image and mR (in %) of `model` on `dataset`."""
    image_embeddings, text_embeddings = embed_retrieval_set(model, dataset, tokenizer, config, device, autocast_dtype)
    similarity = image_embeddings @ text_embeddings.T  # [n_images, n_captions]
    return retrieval_metrics(similarity, dataset.img2txt, dataset.txt2img)
