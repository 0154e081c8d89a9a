"""Ask your own caption (`pirlib.tutorial.query`): the query is normalised and tokenised like the training captions,
the words the tokenizer does not know are reported, and its ranking of the test images is the one the cached embeddings
give for the same caption (slow: trains a tiny run for two steps)."""

from __future__ import annotations

import pytest
import torch
from train_helpers import make_synthrs, tiny_config

from pirlib.data import load_index
from pirlib.data.tokenizer import wordpiece_for_dataset
from pirlib.tutorial.query import describe_query, query_images, tokenize_query


@pytest.fixture(scope="module")
def synthrs(tmp_path_factory):
    return make_synthrs(tmp_path_factory.mktemp("data") / "synthrs")


def test_unknown_and_spelled_words_are_reported(synthrs):
    tokenizer = wordpiece_for_dataset(synthrs)
    vocabulary = tokenizer.get_vocab()
    known = next(word for word in ("red", "near", "two") if word in vocabulary)
    query = tokenize_query(f"Zebra, {known.upper()}   helicopters!", tokenizer)
    assert query.caption == f"zebra {known} helicopters"  # pre_caption: lower case, punctuation and spaces removed
    assert query.unknown_words == ["zebra"]  # "z" never occurs in SynthRS captions: [UNK]
    assert query.spelled_words == ["helicopters"]
    assert "[UNK]" in describe_query(query) and "helicopters" in describe_query(query)
    clean = tokenize_query(known, tokenizer)
    assert clean.unknown_words == clean.spelled_words == []


@pytest.mark.slow
def test_query_ranks_like_the_cached_embeddings(synthrs, tmp_path):
    from pirlib.training import fit
    from pirlib.tutorial.runs import load_test_embeddings

    fit(tiny_config(synthrs, "train.max_steps=2"), tmp_path / "run")
    image, text = load_test_embeddings(tmp_path / "run")
    index = load_index(synthrs)
    caption = index.images[index.split_ids("test")[3]].captions[0]
    position = [c for i in index.split_ids("test") for c in index.images[i].captions].index(caption)
    result = query_images(tmp_path / "run", caption, top_k=4)
    expected_scores, expected_positions = (text[position] @ image.T).topk(4)
    assert result.positions == expected_positions.tolist()
    assert torch.allclose(torch.tensor(result.scores), expected_scores, atol=1e-5)
    assert result.query.tokens[0] == "[CLS]" and result.query.tokens[-1] == "[SEP]"
    assert result.query.unknown_words == []
