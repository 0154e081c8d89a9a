"""Ask your own caption: a free-text query retrieved against the test images of a trained run.

The query goes through exactly what a training caption goes through: `pre_caption` (lower case, punctuation removed,
at most 30 words, as in the official code), then the run's tokenizer and the caption collator (same `max_tokens`).
The words the tokenizer does not know are reported instead of vanishing into the embedding: a word it maps to
[UNK] (or partly, e.g. a letter absent from the vocabulary) tells the model nothing, and a word it can only spell
from sub-word pieces was never a word of its vocabulary (for the WordPiece tokenizer trained on the training
captions: a word that is not, or rarely, in them). The query's text embedding is ranked by cosine similarity against
the run's cached test-image embeddings (`pirlib.tutorial.runs.load_test_embeddings`), in test-split order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from pirlib.checkpoint import load_model, load_tokenizer
from pirlib.data import CaptionCollator, build_tokenizer, pre_caption
from pirlib.evaluation import find_checkpoint


@dataclass
class TokenizedQuery:
    """A free-text caption as the model reads it."""

    text: str  # the query as typed
    caption: str  # after pre_caption: what is tokenised
    tokens: list[str]  # the tokens the model reads, [CLS] and [SEP] included (after truncation to max_tokens)
    unknown_words: list[str]  # words the tokenizer maps (wholly or partly) to its unknown token
    spelled_words: list[str]  # words that are no token of the vocabulary, spelled from sub-word pieces


@dataclass
class QueryResult:
    """The top test images of one query under one run."""

    query: TokenizedQuery
    positions: list[int]  # positions in the test split (index.split_ids("test") order), best first
    scores: list[float]  # their cosine similarities to the query


def tokenize_query(text: str, tokenizer) -> TokenizedQuery:
    """`text` normalised like the training captions, its tokens, and the words `tokenizer` does not know."""
    caption = pre_caption(text)
    unknown, spelled = [], []
    for word in dict.fromkeys(caption.split(" ")):  # each distinct word once, in order
        pieces = tokenizer.tokenize(word)
        if tokenizer.unk_token in pieces:
            unknown.append(word)
        elif len(pieces) > 1:
            spelled.append(word)
    return TokenizedQuery(text, caption, [], unknown, spelled)


@torch.no_grad()
def query_images(
    run_dir: str | os.PathLike, text: str, top_k: int = 5, device: str = "cpu", image_embeddings=None
) -> QueryResult:
    """The `top_k` test images of `run_dir` (a run directory or a checkpoint directory) closest to the caption
    `text`. `image_embeddings` [n_images, D] default to the run's cached test embeddings."""
    from pirlib.tutorial.runs import load_test_embeddings

    directory = find_checkpoint(run_dir)
    model, config = load_model(directory, device=device)
    model.eval()
    tokenizer = load_tokenizer(directory) or build_tokenizer(config.text, config.data.root)
    query = tokenize_query(text, tokenizer)
    encoded = CaptionCollator(tokenizer, config.text.max_tokens).tokenize([query.caption])  # [1, L] each
    query.tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist())
    embedding = model.encode_text(encoded["input_ids"].to(device), encoded["attention_mask"].to(device))  # [1, D]
    if image_embeddings is None:
        image_embeddings = load_test_embeddings(Path(run_dir), device)[0]  # [n_images, D]
    similarity = embedding.float().cpu()[0] @ image_embeddings.float().cpu().T  # [n_images]
    scores, positions = similarity.topk(min(top_k, len(similarity)))
    return QueryResult(query, positions.tolist(), scores.tolist())


def describe_query(query: TokenizedQuery) -> str:
    """Two or three lines for a reader: what is tokenised, and which words the model cannot read."""
    lines = [f"caption as trained: “{query.caption}”", f"tokens: {' '.join(query.tokens)}"]
    if query.unknown_words:
        lines.append(f"unknown to the tokenizer ([UNK]): {', '.join(query.unknown_words)}")
    if query.spelled_words:
        lines.append(f"not in the vocabulary, spelled from pieces: {', '.join(query.spelled_words)}")
    if not query.unknown_words and not query.spelled_words:
        lines.append("every word is a token of the vocabulary")
    return "\n".join(lines)
