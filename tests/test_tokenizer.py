"""build_tokenizer: WordPiece trained on the training captions (saved, reused, deterministic) or a BERT directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import BertTokenizerFast, PreTrainedTokenizerFast

from pirlib.config import TextConfig
from pirlib.data import build_tokenizer, write_index
from pirlib.data.format import ImageRecord
from pirlib.data.tokenizer import SPECIAL_TOKENS, TokenizerError, train_wordpiece

CAPTIONS = [
    "there are three red planes next to the terminal",
    "a green playground surrounded by a red track",
    "two white storage tanks on both sides of the road",
    "many boats are in the middle of the blue pond",
]


def _dataset(root: Path) -> Path:
    records = [ImageRecord(f"{k}.png", "train", 0, (caption,)) for k, caption in enumerate(CAPTIONS)]
    records.append(ImageRecord("test.png", "test", 0, ("a zebra crossing with quokkas",)))
    write_index(root, "words", ["scene"], records)
    return root


def test_wordpiece_is_bert_style() -> None:
    tokenizer = train_wordpiece(CAPTIONS, vocab_size=120)
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert [tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert tokenizer.pad_token_id == 0 and tokenizer.mask_token == "[MASK]"
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("Three RED planes")["input_ids"])
    assert tokens == ["[CLS]", "three", "red", "planes", "[SEP]"]
    assert len(tokenizer) <= 120


def test_wordpiece_is_trained_on_training_captions_saved_and_reused(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data")
    config = TextConfig(tokenizer="wordpiece")
    tokenizer = build_tokenizer(config, root, vocab_size=150)
    assert (root / "tokenizer" / "tokenizer.json").is_file()
    assert "quokkas" not in tokenizer.get_vocab()  # test captions are never seen
    again = build_tokenizer(config, root, vocab_size=150)
    assert again.get_vocab() == tokenizer.get_vocab()
    assert again("red track")["input_ids"] == tokenizer("red track")["input_ids"]


def test_wordpiece_training_is_deterministic(tmp_path: Path) -> None:
    first = build_tokenizer(TextConfig(tokenizer="wordpiece"), _dataset(tmp_path / "a"), vocab_size=150)
    second = build_tokenizer(TextConfig(tokenizer="wordpiece"), _dataset(tmp_path / "b"), vocab_size=150)
    assert first.get_vocab() == second.get_vocab()
    assert (tmp_path / "a/tokenizer/tokenizer.json").read_bytes() == (
        tmp_path / "b/tokenizer/tokenizer.json"
    ).read_bytes()


def test_bert_tokenizer_from_a_local_directory(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join([*SPECIAL_TOKENS, "red", "plane", "##s"]) + "\n")
    BertTokenizerFast(vocab=str(vocab)).save_pretrained(str(tmp_path / "bert"))
    tokenizer = build_tokenizer(TextConfig(tokenizer=str(tmp_path / "bert")), tmp_path)
    assert tokenizer.convert_ids_to_tokens(tokenizer("Red planes")["input_ids"]) == [
        "[CLS]",
        "red",
        "plane",
        "##s",
        "[SEP]",
    ]


def test_missing_bert_files_say_what_to_do(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never wait for the network in a test
    with pytest.raises(TokenizerError, match="bert-base-uncased"):
        build_tokenizer(TextConfig(tokenizer=str(tmp_path / "no-such-dir")), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TokenizerError, match="no vocabulary found"):
        build_tokenizer(TextConfig(tokenizer=str(tmp_path / "empty")), tmp_path)
    with pytest.raises(TokenizerError, match="hub is unreachable"):
        build_tokenizer(TextConfig(tokenizer="no-such-org/no-such-bert"), tmp_path)


def test_words_beyond_the_vocabulary_fall_back_to_characters() -> None:
    tokenizer = train_wordpiece(CAPTIONS, vocab_size=60)  # room for the alphabet and a few frequent words only
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("red terminal")["input_ids"])
    assert tokens[:2] == ["[CLS]", "red"]
    assert tokens[2:-1] == ["t", "##e", "##r", "##m", "##i", "##n", "##a", "##l"]
    assert "[UNK]" not in tokens
