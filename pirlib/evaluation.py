"""Embedding a retrieval set and scoring it (paper §4.1 "Evaluation metrics"; docs/official_behaviour.md §2.6).

All images and all captions of a split are embedded once; the score of (image, caption) is the dot product of their
L2-normalised embeddings (cosine similarity), with no re-ranking, and `pirlib.metrics.retrieval_metrics` turns the
[n_images, n_captions] score matrix into R@1/5/10 both ways and mR (`evaluate_protocols`: under the official and
the duplicate-aware protocols, with the tie range, as `pirlib.metrics.protocol_report`). Captions are tokenised in
chunks of `train.eval_batch_size`, padded to the longest caption of the chunk (the official evaluation uses chunks of
128).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from pirlib.checkpoint import (
    WEIGHTS_FILE,
    CheckpointError,
    checkpoint_tokenizer,
    existing_checkpoint,
    load_config_from_checkpoint,
    load_model,
    recorded_data_root,
)
from pirlib.config import Config, ConfigError, seed_of
from pirlib.data import (
    CaptionCollator,
    RetrievalDataset,
    build_tokenizer,
    load_index,
    split_train_validation,
    test_transform,
)
from pirlib.data.format import INDEX_FILE, DatasetIndex
from pirlib.metrics import protocol_report, retrieval_metrics
from pirlib.progress import progress_bar
from pirlib.training.runtime import resolve_device


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
    for images in progress_bar(loader, desc="embedding images", unit="batch", leave=False):
        images = images.to(device, non_blocking=True)  # [B, 3, H, W]
        if config.train.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with amp:
            image_embeddings.append(model.encode_image(images).float().cpu())  # [B, D]
    collator = CaptionCollator(tokenizer, config.text.max_tokens)
    text_embeddings = []
    starts = range(0, len(dataset.captions), batch_size)
    for start in progress_bar(starts, desc="embedding captions", unit="batch", leave=False):
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


def evaluate_protocols(
    model: torch.nn.Module,
    dataset: RetrievalDataset,
    tokenizer,
    config: Config,
    device: torch.device | str = "cpu",
    autocast_dtype: torch.dtype | None = None,
    protocols: Sequence[str] = ("official",),
    tie_rule: str = "pessimistic",
) -> dict:
    """`pirlib.metrics.protocol_report` of `model` on `dataset`: the official metrics as top-level keys, each other
    protocol under its name, and the optimistic–pessimistic range wherever the scores hold ties."""
    image_embeddings, text_embeddings = embed_retrieval_set(model, dataset, tokenizer, config, device, autocast_dtype)
    similarity = image_embeddings @ text_embeddings.T  # [n_images, n_captions]
    return protocol_report(similarity, dataset.img2txt, dataset.txt2img, dataset.captions, protocols, tie_rule)


def find_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint directory (holding model.safetensors), or a run directory (its best/, else last/).

    Each is resolved by `pirlib.checkpoint.existing_checkpoint`: a checkpoint whose replacement was interrupted is
    found in the complete copy beside it, so a run never falls back to last/ while its selected best/ exists."""
    path = Path(path)
    for candidate in (path, path / "best", path / "last"):
        found = existing_checkpoint(candidate)
        if found is not None and (found / WEIGHTS_FILE).is_file():
            return found
    raise CheckpointError(
        f"{path}: no {WEIGHTS_FILE} here nor in {path / 'best'} or {path / 'last'}; pass a checkpoint directory "
        f"or a run directory written by `pirlib train`"
    )


def split_image_ids(index: DatasetIndex, config: Config, split: str) -> list[int]:
    """Image ids of "test", "train" or "validation" (the held-out training images of the run's config)."""
    if split == "test":
        return index.split_ids("test")
    train_ids, validation_ids = split_train_validation(
        index, config.data.validation_fraction, seed_of(config.train, "split")
    )
    if split == "train":
        return train_ids
    if split == "validation":
        if not validation_ids:
            raise ConfigError("this run has no validation split (data.validation_fraction is 0)")
        return validation_ids
    raise ConfigError(f"unknown split '{split}': expected test, validation or train")


def evaluation_data_root(checkpoint: str | os.PathLike, data_root: str | os.PathLike | None) -> Path:
    """The dataset an evaluation of `checkpoint` reads: `data_root`, else the checkpoint's (`recorded_data_root`)."""
    if data_root is not None:
        return Path(data_root)
    directory = find_checkpoint(checkpoint)
    return recorded_data_root(directory, load_config_from_checkpoint(directory))


def load_for_evaluation(
    checkpoint: str | os.PathLike, data_root: str | os.PathLike | None, split: str, device: str
) -> tuple[torch.nn.Module, Config, object, RetrievalDataset, Path]:
    """(model in eval mode, its config, its tokenizer, the retrieval set of `split`, the checkpoint directory).

    `data_root` defaults to the checkpoint's dataset (`evaluation_data_root`); the tokenizer is the one saved with the
    checkpoint, else the config's (`build_tokenizer`), refused when it is not the one the model was trained with. A
    split without images is refused."""
    directory = find_checkpoint(checkpoint)
    resolved_device = resolve_device(device, key="--device")
    model, config = load_model(directory, device=resolved_device)
    root = evaluation_data_root(directory, data_root)
    index = load_index(root)
    image_ids = split_image_ids(index, config, split)
    if not image_ids:
        raise ConfigError(
            f"the {split} split holds no image ({root / INDEX_FILE}): choose another --split or another dataset"
        )
    tokenizer = checkpoint_tokenizer(directory, config, lambda: build_tokenizer(config.text, root))
    return model, config, tokenizer, retrieval_set(index, image_ids, config), directory
