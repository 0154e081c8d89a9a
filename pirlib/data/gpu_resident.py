"""GPU-resident training data (`data.gpu_resident`): decoded images and tokenised captions on the device.

`ResidentPairs` decodes every training image once into one uint8 tensor on the training device (RSITMD's 4,743
images at 256² are ≈ 0.9 GB) and tokenises every caption once; a batch is then two gathers plus the batched
augmentation of `pirlib.data.gpu_augment`, with no worker processes, no PIL and no image copy from the host. On CUDA
making a batch never waits for the device (the batch length is computed from host-side caption lengths, the index
is copied from pinned memory, the augmentation is sync-free), so the host queues the next step while the device
runs the previous one.

It yields the same batches as the DataLoader path (`pirlib.training.sampling.TrainingLoader` + `CaptionCollator`):
the same global batches and rank slices, captions padded to the longest of the batch and truncated at `max_tokens`.
The augmentation draws from a device generator seeded by (seed, epoch, batch index, rank), so a resumed run draws
the same augmentations; they differ from the PIL path's draws (and pixels, see `gpu_augment`).

Images of another size than the most common one are resized (bicubic) to it when decoded; non-square images are
stored squashed to a square (the benchmarks are square). Without augmentation the images are stored already resized
to `image_size` (exactly the evaluation transform's resize) and only normalised per batch.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image

from pirlib.config import Config, seed_of
from pirlib.data.datasets import PairDataset
from pirlib.data.gpu_augment import augment_batch, normalize_batch
from pirlib.data.images import load_rgb


def decode_images(paths: Sequence[os.PathLike], side: int) -> torch.Tensor:
    """The images at `paths` as uint8 [N, 3, side, side] (bicubic resize where needed), decoded by a thread pool (PIL
    releases the GIL while decoding)."""
    stored = torch.empty(len(paths), 3, side, side, dtype=torch.uint8)

    def decode(row: int) -> None:
        image = load_rgb(paths[row])
        if image.size != (side, side):
            image = image.resize((side, side), Image.Resampling.BICUBIC)
        stored[row] = torch.from_numpy(np.array(image)).permute(2, 0, 1)  # [3, side, side]

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(decode, range(len(paths))))
    return stored


class ResidentPairs:
    """The pairs of a `PairDataset`, resident on `device`; `epoch_batches` replaces the training DataLoader."""

    def __init__(
        self,
        pairs: PairDataset,
        tokenizer,
        max_tokens: int,
        image_size: int,
        augment: bool,
        device: torch.device,
        seed: int,
    ) -> None:
        self.image_size, self.augment, self.device, self.seed = image_size, augment, torch.device(device), seed
        image_ids = sorted({image_id for image_id, _ in pairs.pairs})
        if augment:
            sizes = Counter(load_rgb(pairs.index.image_path(image_id)).size for image_id in image_ids[:64])
            side = max(sizes.most_common(1)[0][0])
        else:
            side = image_size
        row_of = {image_id: row for row, image_id in enumerate(image_ids)}
        paths = [pairs.index.image_path(image_id) for image_id in image_ids]
        self.images = decode_images(paths, side).to(self.device)  # [N_images, 3, side, side] uint8
        self.image_rows = torch.tensor([row_of[i] for i, _ in pairs.pairs], device=self.device)  # [P]
        self.image_ids = torch.tensor([i for i, _ in pairs.pairs], device=self.device)  # [P]
        self.labels = torch.tensor(pairs.labels, device=self.device)  # [P]
        encoded = tokenizer(
            [caption for _, caption in pairs.pairs],
            padding="max_length",
            truncation=True,
            max_length=max_tokens,
            return_tensors="pt",
            return_token_type_ids=False,
        )
        self.input_ids = encoded["input_ids"].to(self.device)  # [P, max_tokens]
        self.attention_mask = encoded["attention_mask"].to(self.device)  # [P, max_tokens]
        self.caption_lengths = encoded["attention_mask"].sum(dim=1)  # [P] on the host: no device sync per batch
        self.prior_features: torch.Tensor | None = None  # [N_images, C_prior] once cache_prior_features ran

    @classmethod
    def from_config(cls, pairs: PairDataset, tokenizer, config: Config, device: torch.device) -> ResidentPairs:
        """The resident copy of `pairs` that `config` asks for (sizes, augmentation, seed), on `device`."""
        return cls(
            pairs,
            tokenizer,
            config.text.max_tokens,
            config.vision.image_size,
            config.data.augment,
            device,
            seed_of(config.train, "data"),
        )

    def __len__(self) -> int:
        return len(self.image_rows)

    @property
    def nbytes(self) -> int:
        return self.images.numel() * self.images.element_size()

    @torch.no_grad()
    def cache_prior_features(self, scene_prior: torch.nn.Module, runtime, channels_last: bool, chunk: int = 64):
        """Run the frozen prior once over every resident image (as a training step would: normalised, same autocast
        and memory format) and serve its features with each batch; only valid without augmentation."""
        if self.augment:
            raise ValueError("cache_prior_features: the images are augmented every step; the prior must run per step")
        features = []
        for start in range(0, len(self.images), chunk):
            images = normalize_batch(self.images[start : start + chunk].float())  # [chunk, 3, S, S]
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with runtime.autocast():
                features.append(scene_prior(images))  # [chunk, C_prior]
        self.prior_features = torch.cat(features)  # [N_images, C_prior]

    def batch(self, positions: Sequence[int], generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """The collated batch of the pair `positions` (same keys and shapes as `CaptionCollator`), on the device."""
        host_index = torch.as_tensor(list(positions))  # [B]
        length = int(self.caption_lengths[host_index].max())  # pad to the longest caption of the batch
        if self.device.type == "cuda":  # a copy from pageable host memory would wait for the queued device work
            host_index = host_index.pin_memory()
        index = host_index.to(self.device, non_blocking=True)  # [B]
        images = self.images[self.image_rows[index]]  # [B, 3, side, side] uint8
        if not self.augment:  # stored already resized to image_size
            return self._collate(index, length, normalize_batch(images.float()))
        return self._collate(index, length, augment_batch(images, self.image_size, generator))  # [B, 3, S, S]

    def _collate(self, index: torch.Tensor, length: int, images: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = self.attention_mask[index]  # [B, max_tokens]
        return {
            "images": images,
            "input_ids": self.input_ids[index, :length],  # [B, L]
            "attention_mask": mask[:, :length],  # [B, L]
            "image_ids": self.image_ids[index],  # [B]
            "labels": self.labels[index],  # [B]
            **({} if self.prior_features is None else {"prior_features": self.prior_features[self.image_rows[index]]}),
        }

    def epoch_batches(
        self, batches: list[list[int]], epoch: int, first_batch: int, rank: int, world_size: int
    ) -> Iterator[dict[str, torch.Tensor]]:
        """This rank's slice of each global batch from `first_batch` on (as `TrainingLoader`), augmented on device."""
        from pirlib.training.sampling import mixed_seed

        for batch_index in range(first_batch, len(batches)):
            batch = batches[batch_index]
            share = len(batch) // world_size
            generator = torch.Generator(device=self.device)
            generator.manual_seed(mixed_seed(self.seed, epoch, batch_index, rank))
            yield self.batch(batch[rank * share : (rank + 1) * share], generator)
