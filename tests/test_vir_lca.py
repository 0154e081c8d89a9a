"""VIR (rank & filter, Spatial-PAE steps, fusion) and LCA (Temporal-PAE cycles) against per-sample loop references
of PIR_SPEC §2.3-2.4; batch size 1; the optional key padding mask of LCA."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pirlib.models.lca import LanguageCycleAttention
from pirlib.models.vir import VisionInstruction, rank_and_filter

DIM, PRIOR_WIDTH, TOKENS = 32, 24, 10


def test_rank_and_filter_matches_loop():
    tokens, prior = torch.randn(3, TOKENS, DIM), torch.randn(3, DIM)
    filtered, logits, order = rank_and_filter(tokens, prior, filter_size=4)
    for b in range(3):
        beliefs = [float(tokens[b, n] @ prior[b]) for n in range(TOKENS)]
        ranked = sorted(range(TOKENS), key=lambda n: -beliefs[n])
        assert order[b].tolist() == ranked
        torch.testing.assert_close(logits[b], torch.tensor(beliefs))
        torch.testing.assert_close(filtered[b], tokens[b, ranked[:4]])


def test_rank_and_filter_orders_by_float32_logits_under_bf16_autocast():
    """bf16 logits tie where float32 ones do not (8 bits of mantissa), and the stable sort would then keep the low
    token indices; the order must be the float32 one. Tokens and prior hold bf16-exact values, as under autocast."""
    tokens = torch.stack([torch.ones(8), torch.arange(8) / 128], dim=-1)[None]  # [1, 8, 2]: logits 1 + n/2048
    prior = torch.tensor([[1.0, 1 / 16]])  # [1, 2]
    expected = torch.sort(torch.einsum("bnd,bd->bn", tokens, prior), dim=1, descending=True, stable=True).indices
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tied = torch.einsum("bnd,bd->bn", tokens.bfloat16(), prior.bfloat16())  # what bf16 logits would be
        _, logits, order = rank_and_filter(tokens.bfloat16(), prior.bfloat16(), filter_size=4)
    assert tied.dtype == torch.bfloat16 and tied.unique().numel() < 8  # the case: bf16 rounding makes ties
    assert logits.dtype == torch.float32
    assert torch.equal(order, expected) and order[0, 0] == 7


def test_rank_and_filter_rejects_too_large_filter():
    with pytest.raises(ValueError, match="filter_size = 11"):
        rank_and_filter(torch.randn(1, TOKENS, DIM), torch.randn(1, DIM), filter_size=11)


def _vir() -> VisionInstruction:
    return VisionInstruction(DIM, PRIOR_WIDTH, filter_size=6, num_instruction_layers=2, num_heads=4, dropout=0.2)


def slow_vir(vir: VisionInstruction, tokens: torch.Tensor, prior_feature: torch.Tensor) -> torch.Tensor:
    """One image at a time, written from the spec: sort by belief, keep the first filter_size, instruct, fuse."""
    embeddings = []
    for x, feature in zip(tokens, prior_feature, strict=True):
        prior = vir.prior_projection(feature)  # [D]
        belief = torch.stack([x[n] @ prior for n in range(len(x))]).softmax(dim=0)
        kept = x[belief.argsort(descending=True)[: vir.filter_size]][None]  # [1, filter_size, D]
        for i in range(len(vir.self_attention)):
            attended = vir.self_attention[i](kept)
            query = vir.prior_mapping[i](prior).repeat(1, vir.filter_size, 1)  # the same row for every token
            kept = vir.cross_attention[i](query, attended)
        embeddings.append(F.normalize(x[0] + vir.head(kept[0, 0]), dim=-1))
    return torch.stack(embeddings)


def test_vir_matches_per_image_reference_and_batch_size_one():
    vir = _vir().eval()
    tokens, prior_feature = torch.randn(4, TOKENS, DIM), torch.randn(4, PRIOR_WIDTH)
    batched = vir(tokens, prior_feature)
    torch.testing.assert_close(batched, slow_vir(vir, tokens, prior_feature), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(vir(tokens[:1], prior_feature[:1]), batched[:1], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(batched.norm(dim=-1), torch.ones(4))


def test_vir_details():
    vir = _vir().eval()
    tokens, prior_feature = torch.randn(2, TOKENS, DIM), torch.randn(2, PRIOR_WIDTH)
    details = vir(tokens, prior_feature, return_details=True)
    assert details.belief.shape == details.order.shape == (2, TOKENS)
    assert details.kept.shape == (2, 6) and torch.equal(details.kept, details.order[:, :6])
    torch.testing.assert_close(details.belief.sum(dim=1), torch.ones(2))
    assert len(details.self_attention) == len(details.cross_attention) == len(details.mapped_prior) == 2
    assert details.cross_attention[-1].shape == (2, 6, DIM)
    torch.testing.assert_close(details.embedding, vir(tokens, prior_feature))
    assert len(details.cross_attention_weights) == 2
    for step, weights in enumerate(details.cross_attention_weights):  # [B, h, filter_size, filter_size]
        assert weights.shape == (2, 4, 6, 6)
        torch.testing.assert_close(weights, weights[:, :, :1].expand_as(weights))  # one query: the prior
        block, context = vir.cross_attention[step], details.self_attention[step]  # the CroSA block and its S
        values = block.attention._split_heads(block.attention.linear_value(context))  # [B, h, filter_size, D/h]
        attended = block.attention.linear_merge((weights @ values).transpose(1, 2).flatten(2))  # [B, filter_size, D]
        hidden = block.norm1(context + attended)
        torch.testing.assert_close(block.norm2(hidden + block.ffn(hidden)), details.cross_attention[step])


def _lca() -> LanguageCycleAttention:
    return LanguageCycleAttention(DIM, num_cycles=3, num_heads=4, dropout=0.2).eval()


def test_lca_matches_per_sentence_reference():
    lca = _lca()
    tokens = torch.randn(3, 7, DIM)
    expected = []
    for sentence in tokens:
        state = sentence[None]
        for i in range(3):
            attended = lca.self_attention[i](state)
            state = lca.cross_attention[i](lca.cycle_mapping[i](state), attended)
        expected.append(F.normalize(sentence[0] + lca.head(state[0, 0]), dim=-1))
    torch.testing.assert_close(lca(tokens), torch.stack(expected), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lca(tokens[1:2]), lca(tokens)[1:2], atol=1e-6, rtol=1e-5)


def test_lca_mask_makes_padding_irrelevant():
    lca = _lca()
    sentence = torch.randn(1, 5, DIM)
    padded = torch.cat([sentence, torch.randn(1, 4, DIM)], dim=1)  # 4 [PAD] positions with arbitrary features
    mask = torch.tensor([[1] * 5 + [0] * 4], dtype=torch.bool)
    torch.testing.assert_close(lca(padded, mask), lca(sentence), atol=1e-6, rtol=1e-5)
    assert not torch.allclose(lca(padded), lca(sentence), atol=1e-3)  # official: [PAD] attended without a mask


def test_lca_details():
    details = _lca()(torch.randn(2, 6, DIM), return_details=True)
    assert len(details.self_attention) == len(details.cross_attention) == 3
    assert details.embedding.shape == (2, DIM)
