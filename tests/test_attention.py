"""PAE attention blocks against a slow float64 reference of PIR_SPEC §2.2 (MHAtt, MHSA, CroSA)."""

from __future__ import annotations

import math

import pytest
import torch

from pirlib.models.attention import CrossAttentionBlock, MultiHeadAttention, SelfAttentionBlock, feed_forward


def slow_attention(module: MultiHeadAttention, query, key, value, keep=None) -> torch.Tensor:
    """Per batch, per head, per query row: softmax(q·k/√d) over the (kept) keys, weighted sum, merge; float64."""
    module = module.double()
    q, k, v = module.linear_query(query.double()), module.linear_key(key.double()), module.linear_value(value.double())
    heads, width = module.num_heads, q.shape[-1]
    size = width // heads
    out = torch.zeros(q.shape, dtype=torch.float64)
    for b in range(q.shape[0]):
        keys = [j for j in range(k.shape[1]) if keep is None or keep[b, j]]
        for h in range(heads):
            part = slice(h * size, (h + 1) * size)
            for i in range(q.shape[1]):
                scores = torch.stack([q[b, i, part] @ k[b, j, part] / math.sqrt(size) for j in keys])
                weights = scores.softmax(dim=0)
                out[b, i, part] = sum(w * v[b, j, part] for w, j in zip(weights, keys, strict=True))
    result = module.linear_merge(out)
    module.float()
    return result


def test_attention_matches_slow_reference():
    attention = MultiHeadAttention(16, 4, dropout=0.2).eval()
    query, key = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    expected = slow_attention(attention, query, key, key)
    torch.testing.assert_close(attention(query, key, key).double(), expected, atol=1e-5, rtol=1e-5)


def test_key_padding_mask_ignores_masked_keys():
    attention = MultiHeadAttention(16, 2, dropout=0.0).eval()
    query, key = torch.randn(2, 4, 16), torch.randn(2, 4, 16)
    keep = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    expected = slow_attention(attention, query, key, key, keep)
    torch.testing.assert_close(attention(query, key, key, keep).double(), expected, atol=1e-5, rtol=1e-5)


def test_attention_weights_are_the_probabilities_forward_applies():
    attention = MultiHeadAttention(16, 4, dropout=0.3).eval()
    query, key, value = torch.randn(2, 3, 16), torch.randn(2, 5, 16), torch.randn(2, 5, 16)
    keep = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    for mask in (None, keep):
        weights = attention.attention_weights(query, key, mask)  # [B, h, Nq, Nk]
        assert weights.shape == (2, 4, 3, 5)
        torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2, 4, 3))
        values = attention._split_heads(attention.linear_value(value))  # [B, h, Nk, D/h]
        rebuilt = attention.linear_merge((weights @ values).transpose(1, 2).flatten(2))  # [B, Nq, D]
        torch.testing.assert_close(rebuilt, attention(query, key, value, mask), atol=1e-5, rtol=1e-5)
    assert torch.all(attention.attention_weights(query, key, keep)[0, :, :, 3:] == 0)


def test_attention_dropout_only_in_training():
    attention = MultiHeadAttention(16, 2, dropout=0.5)
    x = torch.randn(1, 6, 16)
    attention.eval()
    assert torch.equal(attention(x, x, x), attention(x, x, x))
    attention.train()
    assert not torch.equal(attention(x, x, x), attention(x, x, x))


def test_embed_dim_must_divide_heads():
    with pytest.raises(ValueError, match="not divisible"):
        MultiHeadAttention(10, 3, 0.0)


def test_feed_forward_layout_matches_official_indices():
    assert [name for name, _ in feed_forward(8).state_dict().items()] == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "3.weight",
        "3.bias",
    ]


def test_self_attention_block_is_post_norm():
    block = SelfAttentionBlock(16, 4, dropout=0.2).eval()
    x = torch.randn(2, 5, 16)
    hidden = block.norm1(x + block.attention(x, x, x))
    torch.testing.assert_close(block(x), block.norm2(hidden + block.ffn(hidden)))


def test_cross_attention_block_residual_is_the_context():
    block = CrossAttentionBlock(16, 4, dropout=0.2).eval()
    query, context = torch.randn(2, 5, 16), torch.randn(2, 5, 16)
    hidden = block.norm1(context + block.attention(query, context, context))
    torch.testing.assert_close(block(query, context), block.norm2(hidden + block.ffn(hidden)))
    with pytest.raises(ValueError, match="one shape"):
        block(torch.randn(2, 4, 16), context)
