"""Text tokenizers (paper §4.1: BERT-base uncased; `max_tokens` 47, applied by `CaptionCollator`).

- Paper profile: `text_config.tokenizer` is a local directory or hub name -> `BertTokenizerFast.from_pretrained`.
- Offline tiny profile: `text_config.tokenizer == "wordpiece"` -> a BERT-style WordPiece vocabulary (lowercase,
  [PAD]=0 [UNK] [CLS] [SEP] [MASK], [CLS] ... [SEP] post-processing) trained with Hugging Face `tokenizers` on the
  TRAINING captions of the dataset, saved in `<data_root>/tokenizer/` and reused from there afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertTokenizerFast, PreTrainedTokenizerFast

from pirlib.config import TextConfig
from pirlib.data.format import load_index

WORDPIECE = "wordpiece"
TOKENIZER_DIR = "tokenizer"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..4, [PAD] = 0 as in BERT
DEFAULT_VOCAB_SIZE = 2000  # capped by what the corpus holds


class TokenizerError(RuntimeError):
    """The requested tokenizer cannot be found or built."""


def train_wordpiece(captions: list[str], vocab_size: int = DEFAULT_VOCAB_SIZE) -> PreTrainedTokenizerFast:
    """A BERT-style uncased WordPiece tokenizer trained on `captions` (deterministic for a given caption list)."""
    if not captions:
        raise TokenizerError("cannot train a WordPiece tokenizer on zero captions")
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=1, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    backend.train_from_iterator(captions, trainer=trainer)
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", backend.token_to_id("[CLS]")), ("[SEP]", backend.token_to_id("[SEP]"))],
    )
    return _wrap(backend)


def _wrap(backend: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )


def _save_atomically(tokenizer: PreTrainedTokenizerFast, directory: Path) -> None:
    """Write into a temporary sibling directory, then rename it into place (a concurrent writer's copy wins)."""
    temporary = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        tokenizer.save_pretrained(str(temporary))
        os.replace(temporary, directory)
    except OSError:
        if not (directory / "tokenizer.json").is_file():
            raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def wordpiece_for_dataset(
    data_root: str | os.PathLike, vocab_size: int = DEFAULT_VOCAB_SIZE
) -> PreTrainedTokenizerFast:
    """The WordPiece tokenizer of the dataset at `data_root`: loaded from `tokenizer/` or trained and saved there."""
    directory = Path(data_root) / TOKENIZER_DIR
    if (directory / "tokenizer.json").is_file():
        return _wrap(Tokenizer.from_file(str(directory / "tokenizer.json")))
    index = load_index(data_root)
    captions = [caption for image_id in index.split_ids("train") for caption in index.images[image_id].captions]
    tokenizer = train_wordpiece(captions, vocab_size)
    _save_atomically(tokenizer, directory)
    return tokenizer


def build_tokenizer(
    text_config: TextConfig, data_root: str | os.PathLike, vocab_size: int = DEFAULT_VOCAB_SIZE
) -> PreTrainedTokenizerFast:
    """The tokenizer named by `text_config.tokenizer` ("wordpiece", a local directory, or a hub name)."""
    name = text_config.tokenizer
    if name == WORDPIECE:
        return wordpiece_for_dataset(data_root, vocab_size)
    try:
        return BertTokenizerFast.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise TokenizerError(
            f"text.tokenizer='{name}': cannot load a BERT tokenizer ({error}). Without internet, download "
            f"bert-base-uncased elsewhere (e.g. `huggingface-cli download bert-base-uncased --local-dir DIR`), copy "
            f"DIR here and set text.tokenizer=DIR; or use text.tokenizer=wordpiece (trained on the captions)"
        ) from error
