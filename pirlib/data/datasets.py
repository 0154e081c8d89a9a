"""Training and evaluation datasets, caption collation, scene-grouped batches, the validation split.

Training pairs follow the official data pipeline (docs/official_behaviour.md §1, "data"): every caption is one sample
(image, caption, image index, scene label), the label being the image's scene class, used by the affiliation loss
(paper §3.4). Evaluation (paper §4.1) ranks all test images against all test captions: `RetrievalDataset` holds the
images and the caption list with the image<->caption maps the metrics need.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

import torch
from torch.utils.data import Dataset, Sampler

from pirlib.data.format import DatasetIndex
from pirlib.data.images import load_rgb


class PairDataset(Dataset):
    """One item per caption of the images `image_ids`: {"image", "caption", "image_id", "label"}.

    `image_id` is the image's position in `index.images` (its id everywhere in pirlib), so captions of one image share
    it (the multi-positive contrastive loss); `label` is the scene class.
    """

    def __init__(self, index: DatasetIndex, image_ids: Sequence[int], transform: Callable) -> None:
        self.index = index
        self.transform = transform
        self.pairs = [(image_id, caption) for image_id in image_ids for caption in index.images[image_id].captions]
        self.labels = [index.images[image_id].label for image_id, _ in self.pairs]  # per sample, for the sampler

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, position: int) -> dict:
        image_id, caption = self.pairs[position]
        image = self.transform(load_rgb(self.index.image_path(image_id)))  # [3, H, W]
        return {"image": image, "caption": caption, "image_id": image_id, "label": self.labels[position]}


class RetrievalDataset(Dataset):
    """The images `image_ids` (items: transformed image [3, H, W]) and all their captions.

    Ids are relative to the subset: image k is `image_ids[k]`; `captions` lists the captions image by image;
    `img2txt[k]` are the caption positions of image k, `txt2img[j]` the image of caption j.
    """

    def __init__(self, index: DatasetIndex, image_ids: Sequence[int], transform: Callable) -> None:
        self.index = index
        self.transform = transform
        self.image_ids = list(image_ids)
        self.captions: list[str] = []
        self.img2txt: list[list[int]] = []
        self.txt2img: list[int] = []
        for position, image_id in enumerate(self.image_ids):
            captions = index.images[image_id].captions
            self.img2txt.append(list(range(len(self.captions), len(self.captions) + len(captions))))
            self.txt2img.extend([position] * len(captions))
            self.captions.extend(captions)
        self.image_labels = [index.images[image_id].label for image_id in self.image_ids]
        self.caption_labels = [self.image_labels[position] for position in self.txt2img]

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, position: int) -> torch.Tensor:
        return self.transform(load_rgb(self.index.image_path(self.image_ids[position])))  # [3, H, W]


class CaptionCollator:
    """Batches `PairDataset` items; `tokenize` alone batches a list of captions (evaluation).

    Captions are padded to the longest in the batch and truncated at `max_tokens` (paper: 47). Under DDP the batch is
    each rank's share, so the padding length differs from one GPU's: it matters only where `[PAD]` is attended
    (`text.use_attention_mask=false`).
    """

    def __init__(self, tokenizer, max_tokens: int) -> None:
        if max_tokens < 3:
            raise ValueError(f"max_tokens={max_tokens}: need room for [CLS], one word and [SEP]")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens

    def tokenize(self, captions: Sequence[str]) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer(
            list(captions),
            padding="longest",
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
            return_token_type_ids=False,
        )
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}  # [B, L] each

    def __call__(self, items: Sequence[dict]) -> dict[str, torch.Tensor]:
        text = self.tokenize([item["caption"] for item in items])
        return {
            "images": torch.stack([item["image"] for item in items]),  # [B, 3, H, W]
            "input_ids": text["input_ids"],
            "attention_mask": text["attention_mask"],
            "image_ids": torch.tensor([item["image_id"] for item in items], dtype=torch.long),
            "labels": torch.tensor([item["label"] for item in items], dtype=torch.long),
        }


class SceneGroupedBatchSampler(Sampler[list[int]]):
    """Batches drawn scene by scene, so in-batch negatives share the scene (hard negatives).

    Each epoch, every scene's samples are shuffled and cut into chunks of `batch_size // scenes_per_batch`; the full
    chunks are shuffled and concatenated into batches (then the scenes' shorter remainders), so when `batch_size` is a
    multiple of `scenes_per_batch` a batch holds at most `scenes_per_batch` scenes, except the last few batches made
    of remainders. Every sample appears once per epoch. The order depends only on (seed, epoch): call `set_epoch`
    each epoch. With `num_replicas` > 1, rank r takes batches r, r + num_replicas, ... (the epoch is cut to a
    multiple of num_replicas batches).
    """

    def __init__(
        self,
        labels: Sequence[int],
        batch_size: int,
        seed: int,
        scenes_per_batch: int = 2,
        drop_last: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if batch_size < 1 or scenes_per_batch < 1 or scenes_per_batch > batch_size:
            raise ValueError(f"need 1 <= scenes_per_batch ({scenes_per_batch}) <= batch_size ({batch_size})")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, num_replicas={num_replicas})")
        self.labels = list(labels)
        self.batch_size = batch_size
        self.seed = seed
        self.chunk_size = batch_size // scenes_per_batch
        self.drop_last = drop_last
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _all_batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        by_scene: dict[int, list[int]] = {}
        for position, label in enumerate(self.labels):
            by_scene.setdefault(label, []).append(position)
        full, partial = [], []
        for label in sorted(by_scene):
            members = by_scene[label]
            rng.shuffle(members)
            for start in range(0, len(members), self.chunk_size):
                chunk = members[start : start + self.chunk_size]
                (full if len(chunk) == self.chunk_size else partial).append(chunk)
        rng.shuffle(full)
        rng.shuffle(partial)
        order = [position for chunk in full + partial for position in chunk]  # partial chunks last keep alignment
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches[: len(batches) - len(batches) % self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._all_batches()[self.rank :: self.num_replicas]

    def __len__(self) -> int:
        full, rest = divmod(len(self.labels), self.batch_size)
        count = full + (1 if rest and not self.drop_last else 0)
        return (count - count % self.num_replicas) // self.num_replicas


def split_train_validation(index: DatasetIndex, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Hold out `fraction` of the training images, stratified by scene class; returns sorted (train_ids, val_ids).

    `fraction` 0 gives the official protocol (no validation split; the official script selects on the test set).
    Training images without captions (RSITMD has four) are never held out: a validation image needs a caption.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction {fraction} must be in [0, 1)")
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for image_id in index.split_ids("train"):
        if not index.images[image_id].captions:
            continue
        by_class.setdefault(index.images[image_id].label, []).append(image_id)
    validation: list[int] = []
    for label in sorted(by_class):
        members = by_class[label]
        rng.shuffle(members)
        validation.extend(members[: round(fraction * len(members))])
    held_out = set(validation)
    train = [image_id for image_id in index.split_ids("train") if image_id not in held_out]
    return train, sorted(validation)
