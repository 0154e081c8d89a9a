"""A larger SynthRS test split for the recorded studies: fresh test images from the same generator, scored in
galleries of the default split's size. Recall falls as a gallery grows, so a larger split is scored as several
galleries of the default size with mR averaged over them, which keeps its values comparable with the default's.

`gallery_dataset` generates SynthRS with the default dataset's settings but `galleries` × its test images held out.
The generator draws the training images' labels and random streams before the test images', so the training images
stay the same; it checks them file by file, so runs trained on the default dataset are scored on images they never
saw. `gallery_hits` cuts a run's test embeddings into the galleries and gives each one's per-image hits
(`variance.hits_by_image`), which `gallery_mR` turns into mR and `variance.bootstrap_mean_difference` resamples.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from pirlib.data import RetrievalDataset, load_index
from pirlib.data.synthrs.generate import DATASHEET_FILE, SynthSettings, generate_synthrs, is_generated
from pirlib.io import file_sha256
from pirlib.tutorial.variance import hits_by_image, mR_of_draws


class GalleryDataError(ValueError):
    """The generated galleries do not share the default dataset's training images."""


def gallery_settings(default_root: Path, galleries: int) -> SynthSettings:
    """The default dataset's SynthRS settings with `galleries` × its test images held out, the training images kept."""
    sheet = json.loads((Path(default_root) / DATASHEET_FILE).read_text())["settings"]
    train_images = sheet["images"] - sheet["test_images"]
    test_images = galleries * sheet["test_images"]
    return SynthSettings(train_images + test_images, test_images, sheet["size"], sheet["seed"], sheet["noise"])


def training_images(root: Path) -> list[tuple[str, int, tuple[str, ...], str]]:
    """(file, scene label, captions, SHA-256 of the image file) of every training image of a dataset."""
    index = load_index(root)
    return [
        (index.images[i].file, index.images[i].label, index.images[i].captions, file_sha256(index.image_path(i)))
        for i in index.split_ids("train")
    ]


def gallery_dataset(default_root: Path, out: Path, galleries: int) -> Path:
    """SynthRS in `out` with the training images of `default_root` and `galleries` × its test images (generated
    unless already there); raises GalleryDataError when the training images differ."""
    settings = gallery_settings(default_root, galleries)
    if not is_generated(out, settings):
        generate_synthrs(out, settings, progress="off")
    if training_images(out) != training_images(default_root):
        raise GalleryDataError(f"the training images of {out} differ from those of {default_root}")
    return out


def gallery_hits(
    image: torch.Tensor, text: torch.Tensor, dataset: RetrievalDataset, galleries: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`hits_by_image` of each gallery: the test images cut in `galleries` consecutive blocks of equal size, each
    scored against its own images' captions. image [n_images, D], text [n_captions, D] in `dataset` order."""
    size, remainder = divmod(len(dataset.img2txt), galleries)
    if remainder:
        raise ValueError(f"gallery_hits: {len(dataset.img2txt)} test images do not make {galleries} equal galleries")
    hits = []
    for first in range(0, len(dataset.img2txt), size):
        images = range(first, first + size)
        captions = [caption for i in images for caption in dataset.img2txt[i]]
        position = {caption: k for k, caption in enumerate(captions)}
        img2txt = [[position[caption] for caption in dataset.img2txt[i]] for i in images]
        txt2img = [dataset.txt2img[caption] - first for caption in captions]
        similarity = image[first : first + size] @ text[captions].T  # [size, n_gallery_captions]
        hits.append(hits_by_image(similarity, img2txt, txt2img))
    return hits


def gallery_mR(hits: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
    """mR (%) of one gallery from its `hits_by_image` (official protocol, pessimistic ties)."""
    return float(mR_of_draws(hits, np.arange(len(hits[2]))[None, :])[0])
