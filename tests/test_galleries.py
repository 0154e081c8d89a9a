"""A larger test split scored as galleries: the same training images, fresh test images, each gallery's mR as if it
were a test split of its own, and the claims' bootstrap averaged over galleries."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_helpers import make_synthrs

from pirlib.data import RetrievalDataset, load_index
from pirlib.data.synthrs.generate import DATASHEET_FILE
from pirlib.metrics import retrieval_metrics
from pirlib.tutorial.galleries import (
    GalleryDataError,
    gallery_dataset,
    gallery_hits,
    gallery_mR,
    gallery_settings,
    training_images,
)
from pirlib.tutorial.studies import claim_bootstraps
from pirlib.tutorial.variance import bootstrap_mean_difference


@pytest.fixture(scope="module")
def default_data(tmp_path_factory):
    return make_synthrs(tmp_path_factory.mktemp("data") / "synthrs")  # 64 images, 16 for testing


def test_galleries_keep_the_training_images_and_draw_fresh_test_images(default_data, tmp_path):
    settings = gallery_settings(default_data, 3)
    assert (settings.images, settings.test_images) == (48 + 48, 48)
    data = gallery_dataset(default_data, tmp_path / "galleries", 3)
    assert training_images(data) == training_images(default_data)
    index, default = load_index(data), load_index(default_data)
    assert len(index.split_ids("test")) == 48
    default_captions = {c for i in default.split_ids("test") for c in default.images[i].captions}
    fresh_captions = {c for i in index.split_ids("test") for c in index.images[i].captions}
    assert len(fresh_captions - default_captions) > len(fresh_captions) // 2  # mostly new images, not the old ones
    stamp = (data / DATASHEET_FILE).stat().st_mtime_ns
    assert gallery_dataset(default_data, data, 3) == data and (data / DATASHEET_FILE).stat().st_mtime_ns == stamp


def test_galleries_whose_training_images_differ_are_refused(default_data, tmp_path):
    data = gallery_dataset(default_data, tmp_path / "galleries", 2)
    index = load_index(data)
    index.image_path(index.split_ids("train")[5]).write_bytes(b"not the same image")
    with pytest.raises(GalleryDataError, match="training images of .* differ"):
        gallery_dataset(default_data, data, 2)


def test_each_gallery_is_scored_as_a_test_split_of_its_own(default_data):
    index = load_index(default_data)
    test_ids = index.split_ids("test")
    dataset = RetrievalDataset(index, test_ids, transform=None)
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(len(dataset.img2txt), 8, generator=generator)  # [16, 8]
    text = torch.randn(len(dataset.captions), 8, generator=generator)  # [80, 8]
    for position, captions in enumerate(dataset.img2txt):  # a signal: own captions nearer
        text[captions] += image[position]
    hits = gallery_hits(image, text, dataset, 2)
    assert len(hits) == 2
    for gallery, first in zip(hits, (0, 8), strict=True):
        own = RetrievalDataset(index, test_ids[first : first + 8], transform=None)
        captions = [c for i in range(first, first + 8) for c in dataset.img2txt[i]]
        expected = retrieval_metrics(image[first : first + 8] @ text[captions].T, own.img2txt, own.txt2img)["mR"]
        assert gallery_mR(gallery) == pytest.approx(expected, abs=1e-9)
    with pytest.raises(ValueError, match="3 equal galleries"):
        gallery_hits(image, text, dataset, 3)


def fake_hits(images: int, seed: int):
    rng = np.random.default_rng(seed)
    counts = np.full(images, 5)
    return rng.integers(0, 2, (images, 3)).astype(float), rng.integers(0, 6, (images, 3)).astype(float), counts


def test_claim_bootstraps_average_the_galleries_each_resampled_on_its_own():
    one = {(v, s): [fake_hits(30, 10 * s + (v == "pir"))] for v in ("pir", "baseline") for s in range(3)}
    claims = claim_bootstraps(one)
    assert list(claims) == ["PIR beats the contrastive baseline"]  # the only claim with both variants
    draws = bootstrap_mean_difference([(one["pir", s][0], one["baseline", s][0]) for s in range(3)], rounds=2000)
    assert claims["PIR beats the contrastive baseline"]["std"] == pytest.approx(draws.std(ddof=1))
    two = {key: [*galleries, fake_hits(30, 99 + i)] for i, (key, galleries) in enumerate(one.items())}
    second = bootstrap_mean_difference([(two["pir", s][1], two["baseline", s][1]) for s in range(3)], 2000, seed=1)
    averaged = (draws + second) / 2
    assert claim_bootstraps(two)["PIR beats the contrastive baseline"]["std"] == pytest.approx(averaged.std(ddof=1))
    assert claim_bootstraps({key: value for key, value in one.items() if key[1] == 0}) == {}  # one seed: no interval


def test_test_galleries_tables_compare_the_split_with_the_galleries():
    from pirlib.tutorial.study_summaries import test_galleries_tables

    split = {"baseline": [10.0, 14.0, 11.0, 15.0], "pir": [13.0, 17.5, 13.5, 18.0]}  # gaps 3, 3.5, 2.5, 3
    fresh = {"baseline": [12.0, 12.5, 12.2, 12.9], "pir": [15.2, 15.4, 15.1, 16.1]}  # gaps 3.2, 2.9, 2.9, 3.2
    runs = {f"{v}_seed{s}": {"variant": v, "seed": s, "test": {"mR": m}} for v, ms in split.items()
            for s, m in enumerate(ms)}  # fmt: skip
    claim = "PIR beats the contrastive baseline"
    record = {
        "runs": runs,
        "design": {"galleries": 2, "gallery_images": 300},
        "gallery_mR": {f"{v}_seed{s}": [m - 0.5, m + 0.5] for v, ms in fresh.items() for s, m in enumerate(ms)},
        "embedding_seconds": {name: 20.0 + ("pir" in name) for name in runs},
        "bootstrap": {claim: {"seeds": [0, 1, 2, 3], "std": 0.2}},
        "split_bootstrap": {claim: {"seeds": [0, 1, 2, 3], "std": 0.5}},
    }
    claims, spreads = test_galleries_tables(record)
    row = claims.loc[claim]
    seed_error = np.std([3.2, 2.9, 2.9, 3.2], ddof=1) / 2
    assert row["difference, 600 fresh images"] == pytest.approx(3.05)
    assert row["difference, 300 test images"] == pytest.approx(3.0)
    assert row["half-width, both sources, 600 fresh images"] == pytest.approx(1.959964 * np.hypot(seed_error, 0.2))
    half_split = 1.959964 * np.hypot(np.std([3.0, 3.5, 2.5, 3.0], ddof=1) / 2, 0.5)
    assert row["half-width, both sources, 300 test images"] == pytest.approx(half_split)
    assert row["95% CI low, fresh"] == pytest.approx(3.05 - row["half-width, both sources, 600 fresh images"])
    assert row["verdict, fresh"] == "supports"
    assert spreads.loc["Baseline (Swin+BERT, CL)", "spread"] == "reduces the spread"  # std 2.4 → 0.39
    assert spreads.loc["Baseline (Swin+BERT, CL)", "embedding s per gallery (median)"] == pytest.approx(10.0)
    assert spreads.loc["PIR (CL+AL)", "embedding s per gallery (median)"] == pytest.approx(10.5)
    assert "embedding s per gallery (median)" not in spreads.columns or np.isnan(
        spreads.loc["PIR (CL+AL) − Baseline (Swin+BERT, CL)", "embedding s per gallery (median)"]
    )
