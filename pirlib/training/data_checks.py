"""What a dataset must hold for `fit` to train on it, checked before the images are decoded and the tokenizer is
built, so that a refused run writes nothing (not even a tokenizer cache)."""

from __future__ import annotations

from collections.abc import Sequence

from pirlib.config import Config, ConfigError
from pirlib.data.format import INDEX_FILE, DatasetIndex


def check_training_split(
    index: DatasetIndex, train_ids: Sequence[int], validation_ids: Sequence[int], config: Config
) -> None:
    """Raise ConfigError, with the advice that fits, when the dataset gives no training pair, no test image, no
    validation image while `data.validation_fraction` asks for some, or fewer pairs than one batch."""
    where = index.root / INDEX_FILE
    captioned = [i for i in index.split_ids("train") if index.images[i].captions]
    if not captioned:
        raise ConfigError(
            f"no training image has a caption ({where}): a training pair is an image and one of its captions; "
            f"add captions to the training images, or choose another dataset"
        )
    if not index.split_ids("test"):
        raise ConfigError(f"the dataset has no test image ({where}): give some images the split 'test'")
    fraction = config.data.validation_fraction
    if fraction > 0 and not validation_ids:
        raise ConfigError(
            f"data.validation_fraction={fraction} holds out none of the {len(captioned)} captioned training images "
            f"({where}): raise it, or set 0 to select on the test set (official protocol)"
        )
    pairs = sum(len(index.images[i].captions) for i in train_ids)
    if pairs < config.train.batch_size:
        raise ConfigError(
            f"train.batch_size={config.train.batch_size} exceeds the {pairs} training pairs ({where}): lower it"
        )
