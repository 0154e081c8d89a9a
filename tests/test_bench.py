"""The bench command end to end on a tiny config (a couple of steps, JSON written), and the naive references of the
hot spots against pirlib's fast paths. No timing assertions: timings depend on the machine."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from train_helpers import TINY_OVERRIDES, make_synthrs

from pirlib.benchmarks import hotspots
from pirlib.benchmarks.profiles import OFFICIAL_TINY_OVERRIDES, load_entry, load_profile, parse_entry, random_weights
from pirlib.cli import main
from pirlib.config import ConfigError
from pirlib.losses import affiliation_loss
from pirlib.metrics import retrieval_metrics
from pirlib.models.vir import rank_and_filter
from pirlib.training.runtime import cpu_has_native_bf16


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_synthrs(tmp_path_factory.mktemp("bench") / "synthrs")


def test_bench_command_runs_and_writes_json(tiny_data, tmp_path, capsys):
    out = tmp_path / "bench.json"
    # float32, so the fast paths can be held to the naive references at 1e-4 (the tiny profile trains in bf16)
    overrides = [item for item in TINY_OVERRIDES if not item.startswith("train.batch_size")] + ["train.precision=fp32"]
    code = main(
        ["bench", "--config", "tiny", "--device", "cpu", "--data", str(tiny_data), "--batch-size", "8", "--steps", "1"]
        + ["--warmup", "0", "--repeats", "1", "--metric-images", "12", "--out", str(out), "--set", *overrides]
    )
    assert code == 0
    results = json.loads(out.read_text())
    (training,) = results["training"]
    assert training["config"] == "tiny" and training["config_name"] == "tiny_synthrs" and training["batch_size"] == 8
    for key in ("pairs_per_s", "model_pairs_per_s", "data_pairs_per_s", "peak_memory_mib", "flops_per_pair"):
        assert training[key] > 0, key
    assert training["target_pairs_per_s"] == 150.0
    assert set(training["forward_flops_per_pair"]) >= {"vision_encoder", "scene_prior", "text_encoder"}
    parts = [row["part"] for row in results["components"]]
    expected = ["scene prior (forward)", "Swin vision encoder", "VIR", "BERT text encoder", "LCA", "objective"]
    assert parts == [*expected, "AdamW step"]
    assert all(row["wall_ms"] > 0 for row in results["components"])
    (embedding,) = results["embedding"]
    assert embedding["images_per_s"] > 0 and embedding["texts_per_s"] > 0
    names = [row["hot_spot"] for row in results["hotspots"]]
    assert names == ["rank & filter", "affiliation loss", "metrics", "attention", "attention, dropout 0.2"]
    for row in results["hotspots"][:4]:
        assert row["max_abs_difference"] < 1e-4, row
        assert row["fast_ms"] > 0 and row["naive_ms"] > 0
    # fp32 entries: the bf16 GEMM rate only where the CPU computes bf16 natively
    expected = {"float32", "bfloat16"} if cpu_has_native_bf16() else {"float32"}
    assert {rate["dtype"] for rate in results["matmul"]} == expected
    assert "Training throughput" in capsys.readouterr().out


def test_bench_rejects_bad_input(tiny_data, capsys):
    assert main(["bench", "--config", "no_such_profile", "--device", "cpu", "--data", str(tiny_data)]) == 2
    assert "neither a YAML file nor a profile name" in capsys.readouterr().err
    assert main(["bench", "--steps", "0"]) == 2


def test_profiles_use_random_weights_and_keep_the_vocabulary():
    config, vocab_size = random_weights(load_profile("paper"))
    assert config.vision.pretrained is None and config.prior.checkpoint is None and config.text.pretrained is None
    assert config.text.tokenizer == "wordpiece" and vocab_size == 30522
    official = load_profile("official-tiny")
    assert official.vision.depths == (1, 1, 2, 1) and official.train.batch_size == 16
    assert "vision.embed_dim=48" in OFFICIAL_TINY_OVERRIDES
    with pytest.raises(ConfigError, match="profile name"):
        load_profile("missing.yaml")


def test_config_entries_carry_their_own_overrides():
    assert parse_entry("paper") == ("paper", [])
    assert parse_entry("paper:data.gpu_resident=true; train.compile=true") == (
        "paper",
        ["data.gpu_resident=true", "train.compile=true"],
    )
    config = load_entry("tiny:train.batch_size=8", ["train.batch_size=4", "train.epochs=1"])
    assert config.train.batch_size == 8 and config.train.epochs == 1
    with pytest.raises(ConfigError, match="PROFILE:KEY=VALUE"):
        parse_entry("paper:compile")


def test_naive_rank_and_filter_matches_the_batched_one():
    tokens, prior = torch.randn(3, 10, 8), torch.randn(3, 8)
    kept, _, _ = rank_and_filter(tokens, prior, 4)
    torch.testing.assert_close(hotspots.naive_rank_and_filter(tokens, prior, 4), kept)


def test_naive_affiliation_loss_matches_the_vectorised_one():
    image, text = F.normalize(torch.randn(9, 6), dim=1), F.normalize(torch.randn(9, 6), dim=1)
    labels = torch.tensor([0, 0, 1, 2, 2, 2, 3, 1, 0])
    expected = affiliation_loss(image, text, labels, 0.07)
    torch.testing.assert_close(hotspots.naive_affiliation_loss(image, text, labels, 0.07), expected)


def test_naive_metrics_match_the_vectorised_ones():
    similarity = torch.randn(7, 21)
    img2txt = [list(range(3 * i, 3 * i + 3)) for i in range(7)]
    txt2img = [j // 3 for j in range(21)]
    fast = retrieval_metrics(similarity, img2txt, txt2img)
    naive = hotspots.naive_retrieval_metrics(similarity.numpy(), img2txt, txt2img)
    assert fast == pytest.approx(naive)


def test_naive_attention_matches_sdpa():
    query, key, value = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 6, 4), torch.randn(2, 3, 6, 4)
    expected = F.scaled_dot_product_attention(query, key, value)
    torch.testing.assert_close(hotspots.naive_attention(query, key, value), expected)
