"""Text tokenizers (paper §4.1: BERT-base uncased; `max_tokens` 47, applied by `CaptionCollator`).

- Paper profile: `text_config.tokenizer` is a local directory or hub name -> `BertTokenizerFast.from_pretrained`.
- Offline tiny profile: `text_config.tokenizer == "wordpiece"` -> a BERT-style WordPiece tokenizer (Hugging Face
  `tokenizers` WordPiece model, BERT normaliser and pre-tokeniser, lowercase, [PAD]=0 [UNK] [CLS] [SEP] [MASK],
  [CLS] ... [SEP] post-processing) whose vocabulary is built from the TRAINING captions of the dataset (characters,
  then whole words by frequency), saved in `<data_root>/tokenizer/` and reused from there afterwards. The cache
  records the fingerprint of the captions it was built from (`captions.sha256`) and is rebuilt when they change;
  when the dataset folder is read-only it lives in `$PIRLIB_CACHE` (default `~/.cache/pirlib`) instead.

`tokenizer_fingerprint` identifies a tokenizer by its vocabulary; checkpoints record it, so that a model is never
evaluated with another tokenizer than the one it was trained with.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import tempfile
from collections import Counter
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import BertTokenizerFast, PreTrainedTokenizerFast

from pirlib.config import TextConfig
from pirlib.data.format import load_index
from pirlib.io import umask

WORDPIECE = "wordpiece"
TOKENIZER_DIR = "tokenizer"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..4, [PAD] = 0 as in BERT
DEFAULT_VOCAB_SIZE = 2000  # capped by what the corpus holds
FINGERPRINT_FILE = "captions.sha256"  # in a cached tokenizer/: the fingerprint of the captions it was built from


class TokenizerError(RuntimeError):
    """The requested tokenizer cannot be found or built."""


def _empty_backend(vocabulary: dict[str, int]) -> Tokenizer:
    backend = Tokenizer(models.WordPiece(vocabulary, unk_token="[UNK]", max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    return backend


def wordpiece_vocabulary(captions: list[str], vocab_size: int = DEFAULT_VOCAB_SIZE) -> list[str]:
    """Special tokens, every character (alone and as a "##" continuation), then whole words by frequency.

    Words that do not fit in `vocab_size` are split into character pieces rather than mapped to [UNK]. Ties are
    broken alphabetically, so the vocabulary depends only on the captions (Hugging Face's WordPieceTrainer is not
    deterministic: five trainings on the RSITMD captions gave five different vocabularies).
    """
    if not captions:
        raise TokenizerError("cannot build a WordPiece vocabulary from zero captions")
    backend = _empty_backend({token: k for k, token in enumerate(SPECIAL_TOKENS)})
    words: Counter[str] = Counter()
    for caption in captions:
        normalised = backend.normalizer.normalize_str(caption)
        words.update(word for word, _ in backend.pre_tokenizer.pre_tokenize_str(normalised))
    alphabet = sorted({character for word in words for character in word})
    vocabulary = [*SPECIAL_TOKENS, *alphabet, *(f"##{character}" for character in alphabet)]
    known = set(vocabulary)
    ranked = sorted((word for word in words if word not in known), key=lambda word: (-words[word], word))
    return vocabulary + ranked[: max(0, vocab_size - len(vocabulary))]


def train_wordpiece(captions: list[str], vocab_size: int = DEFAULT_VOCAB_SIZE) -> PreTrainedTokenizerFast:
    """A BERT-style uncased WordPiece tokenizer whose vocabulary comes from `captions` (deterministic)."""
    vocabulary = wordpiece_vocabulary(captions, vocab_size)
    backend = _empty_backend({token: k for k, token in enumerate(vocabulary)})
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


def captions_fingerprint(captions: list[str], vocab_size: int) -> str:
    """SHA-256 of the training captions (in order) and the vocabulary size: what a WordPiece vocabulary depends on."""
    return hashlib.sha256(json.dumps([vocab_size, captions]).encode()).hexdigest()


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerFast) -> str:
    """SHA-256 of the tokenizer's vocabulary (token -> id), the same for a tokenizer and its saved copy."""
    return hashlib.sha256(json.dumps(sorted(tokenizer.get_vocab().items())).encode()).hexdigest()


def cache_root() -> Path:
    """Where tokenizers of read-only datasets are kept: $PIRLIB_CACHE, else $XDG_CACHE_HOME/pirlib (~/.cache/pirlib)."""
    if os.environ.get("PIRLIB_CACHE"):
        return Path(os.environ["PIRLIB_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pirlib"


def _cached(directory: Path, fingerprint: str) -> PreTrainedTokenizerFast | None:
    """The tokenizer kept in `directory` when it was built from the captions of `fingerprint` and reads back whole;
    None otherwise (absent, stale, truncated or corrupt: then it is rebuilt)."""
    try:
        if (directory / FINGERPRINT_FILE).read_text().strip() != fingerprint:
            return None
        return _wrap(Tokenizer.from_file(str(directory / "tokenizer.json")))
    except Exception:  # tokenizers raises a bare Exception for a truncated or foreign file
        return None


def _save_atomically(tokenizer: PreTrainedTokenizerFast, directory: Path, fingerprint: str) -> None:
    """Write into a temporary sibling directory, then rename it into place, moving a stale copy away first (when a
    concurrent writer's copy got there first, it wins: it was built from the same captions)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        os.chmod(temporary, 0o777 & ~umask())  # a new folder's mode, not mkdtemp's private 0700
        tokenizer.save_pretrained(str(temporary))
        (temporary / FINGERPRINT_FILE).write_text(fingerprint + "\n")
        if directory.exists() and _cached(directory, fingerprint) is None:
            with contextlib.suppress(FileNotFoundError):  # another writer moved it already
                os.replace(directory, temporary.with_name(temporary.name + ".stale"))
            shutil.rmtree(temporary.with_name(temporary.name + ".stale"), ignore_errors=True)
        try:
            os.replace(temporary, directory)
        except OSError:
            if _cached(directory, fingerprint) is None:
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def wordpiece_for_dataset(
    data_root: str | os.PathLike, vocab_size: int = DEFAULT_VOCAB_SIZE
) -> PreTrainedTokenizerFast:
    """The WordPiece tokenizer of the dataset at `data_root`'s training captions: loaded from `data_root/tokenizer/`
    (or the cache folder for a read-only dataset) when it was built from these captions, else trained and saved."""
    index = load_index(data_root)
    captions = [caption for image_id in index.split_ids("train") for caption in index.images[image_id].captions]
    fingerprint = captions_fingerprint(captions, vocab_size)
    places = (Path(data_root) / TOKENIZER_DIR, cache_root() / "tokenizers" / fingerprint)
    for directory in places:
        cached = _cached(directory, fingerprint)
        if cached is not None:
            return cached
    tokenizer = train_wordpiece(captions, vocab_size)
    for directory in places:
        try:
            _save_atomically(tokenizer, directory, fingerprint)
            break
        except OSError:  # a read-only dataset folder: try the cache folder (and else keep it in memory only)
            continue
    return tokenizer


def build_tokenizer(
    text_config: TextConfig, data_root: str | os.PathLike, vocab_size: int = DEFAULT_VOCAB_SIZE
) -> PreTrainedTokenizerFast:
    """The tokenizer named by `text_config.tokenizer` ("wordpiece", a local directory, or a hub name)."""
    name = text_config.tokenizer
    if name == WORDPIECE:
        return wordpiece_for_dataset(data_root, vocab_size)
    if Path(name).is_dir():
        return _bert_tokenizer(name, local_files_only=True)
    try:  # already in the Hugging Face cache
        return _bert_tokenizer(name, local_files_only=True)
    except TokenizerError:
        pass
    if not _hub_reachable():
        raise TokenizerError(
            f"text.tokenizer='{name}': not a local directory, not cached, and the hub is unreachable. {_ADVICE}"
        )
    return _bert_tokenizer(name, local_files_only=False)


_ADVICE = (
    "Without internet, download bert-base-uncased elsewhere (e.g. `huggingface-cli download bert-base-uncased "
    "--local-dir DIR`), copy DIR here and set text.tokenizer=DIR; or use text.tokenizer=wordpiece (trained on the "
    "captions)"
)


def _bert_tokenizer(name: str, local_files_only: bool) -> BertTokenizerFast:
    """`from_pretrained`, refusing the empty tokenizer transformers 5 silently returns when no file is found."""
    try:
        tokenizer = BertTokenizerFast.from_pretrained(name, local_files_only=local_files_only)
    except (OSError, ValueError) as error:
        raise TokenizerError(f"text.tokenizer='{name}': cannot load a BERT tokenizer ({error}). {_ADVICE}") from error
    if len(tokenizer) <= len(SPECIAL_TOKENS):
        raise TokenizerError(f"text.tokenizer='{name}': no vocabulary found (no vocab.txt / tokenizer.json). {_ADVICE}")
    return tokenizer


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick connection test, so that an offline machine fails at once instead of after minutes of retries."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
    except OSError:
        return False
    return True
