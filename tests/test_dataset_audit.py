"""The benchmark audit (duplicate counts, perfect-model ceilings, overlap) on crafted sets with hand-computed
answers, on a tiny SynthRS (no duplicates: every ceiling is 100), and on the real caption files in ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pirlib.data import load_index
from pirlib.data.dataset_audit import (
    Benchmark,
    audit_markdown,
    audit_tables,
    caption_overlap,
    duplicate_counts,
    one_ranking_text_to_image,
    perfect_similarity,
    protocol_ceilings,
    shared_images,
)
from pirlib.data.synthrs import SynthSettings, generate_synthrs
from pirlib.metrics import METRIC_KEYS, retrieval_metrics

# image a holds "farmland" three times, b once, c is alone; the farmland captions of a and b cannot all be first
CRAFTED = [
    ("a.jpg", ("farmland", "farmland", "farmland", "river", "trees")),
    ("b.jpg", ("farmland", "road", "road", "houses", "cars")),
    ("c.jpg", ("bridge", "water", "boats", "ships", "piers")),
]


def test_duplicate_counts_of_the_crafted_set():
    assert duplicate_counts(CRAFTED) == {
        "captions": 15,
        "distinct captions": 11,
        "images with a repeated sentence": 2,
        "images whose captions are all identical": 0,
        "sentences shared by >= 2 images": 1,
        "captions with a shared sentence": 4,
        "most images sharing one sentence": 2,
    }
    assert duplicate_counts([("x", ("same",) * 5)])["images whose captions are all identical"] == 1


def test_perfect_model_ranks_the_holders_first():
    similarity, img2txt, txt2img, captions = perfect_similarity(CRAFTED)
    assert similarity.shape == (3, 15) and txt2img[:5] == [0] * 5 and img2txt[2] == [10, 11, 12, 13, 14]
    farmland = [j for j, caption in enumerate(captions) if caption == "farmland"]
    # a holds 3 copies (one elsewhere), b holds 1 (three elsewhere): a first, then b, then c (not a holder)
    assert similarity[0, farmland[0]] > similarity[1, farmland[0]] > similarity[2, farmland[0]] == 0
    # b's own unshared sentences score above its shared "farmland"
    assert similarity[1, 6] > similarity[1, farmland[3]] == similarity[1, 5]


def test_ceilings_of_the_crafted_set():
    ceilings = protocol_ceilings(CRAFTED)
    # t2i: b's "farmland" has a above it whatever the tie rule: 14 of 15 captions at rank 0
    for rule in ("pessimistic", "optimistic"):
        assert ceilings["official", rule]["t2i_r1"] == pytest.approx(100 * 14 / 15)
        assert ceilings["official", rule]["i2t_r1"] == 100.0  # every image has a sentence nobody else holds
    assert all(value == 100.0 for value in ceilings["dedup", "pessimistic"].values())
    assert one_ranking_text_to_image(CRAFTED) == pytest.approx({"t2i_r1": 100 * 14 / 15, "t2i_r5": 100, "t2i_r10": 100})


def test_ties_of_equally_shared_sentences_are_bounded():
    images = [("a", ("field", "x1")), ("b", ("field", "x2")), ("c", ("field", "x3"))]
    ceilings = protocol_ceilings(images)
    # "field" ties across three holders: pessimistic rank 2 for all three copies, optimistic rank 0
    assert ceilings["official", "pessimistic"]["t2i_r1"] == pytest.approx(50.0)
    assert ceilings["official", "optimistic"]["t2i_r1"] == 100.0
    # one order puts one of the three first: 3 unique captions + 1 field copy at rank 0, 6 captions
    assert one_ranking_text_to_image(images)["t2i_r1"] == pytest.approx(100 * 4 / 6)
    assert ceilings["dedup", "pessimistic"]["t2i_r1"] == 100.0


def test_one_order_equals_the_perfect_model_with_its_ties_broken_by_image():
    similarity, img2txt, txt2img, _ = perfect_similarity(CRAFTED + [("d.jpg", ("farmland", "x", "y", "z", "w"))])
    untied = similarity + (similarity > 0) * 1e-6 * np.arange(similarity.shape[0], 0, -1)[:, None]
    untied_metrics = retrieval_metrics(untied, img2txt, txt2img)
    expected = one_ranking_text_to_image(CRAFTED + [("d.jpg", ("farmland", "x", "y", "z", "w"))])
    assert {key: untied_metrics[key] for key in expected} == pytest.approx(expected)


def test_caption_overlap_and_shared_images():
    first = Benchmark("ONE", {"train": [("p_1.tif", ("s1", "s2", "s3"))], "test": [("q_2.tif", ("s1", "s9"))]})
    second = Benchmark(
        "TWO", {"train": [("q_2.jpg", ("t1", "t2")), ("r.jpg", ("s1", "s2", "s3", "t3"))], "test": [("u.jpg", ("s9",))]}
    )
    overlap = caption_overlap([first, second])
    assert overlap.loc[("ONE", "ONE"), "test sentences seen in training"] == 1  # s1
    assert overlap.loc[("ONE", "ONE"), "of test captions (%)"] == 50.0
    assert overlap.loc[("TWO", "ONE"), "test captions covered"] == 0
    shared = shared_images(first, second)
    assert shared.loc[("same file name", "test", "train"), "image pairs"] == 1  # q_2, but no common sentence
    assert shared.loc[("same file name", "test", "train"), "pairs sharing any sentence"] == 0
    assert shared.loc[(">= 3 shared sentences", "train", "train"), "image pairs"] == 1  # p_1 and r
    assert shared["image pairs"].sum() == 2


def test_synthrs_has_no_duplicates_and_no_ceiling(tmp_path):
    generate_synthrs(tmp_path, SynthSettings(images=60, test_images=30, size=32, seed=0), workers=1)
    index = load_index(tmp_path)
    images = [(index.images[i].file, tuple(index.images[i].captions)) for i in index.split_ids("test")]
    counts = duplicate_counts(images)
    assert counts["distinct captions"] == counts["captions"] == 150
    assert counts["sentences shared by >= 2 images"] == 0
    for metrics in protocol_ceilings(images).values():
        assert all(metrics[key] == 100.0 for key in METRIC_KEYS)


@pytest.fixture(scope="module")
def real_tables(shared_dir):
    datasets = shared_dir / "datasets"
    if not (datasets / "rsitmd").is_dir() or not (datasets / "rsicd").is_dir():
        pytest.skip(f"no RSITMD / RSICD caption files in {datasets}")
    return audit_tables(datasets)


def test_real_counts_match_the_published_files(real_tables):
    counts = real_tables["counts"]
    assert counts.loc["RSITMD test", "images"] == 452 and counts.loc["RSITMD test", "captions"] == 2260
    assert counts.loc["RSICD test", "images"] == 1093 and counts.loc["RSICD test", "captions"] == 5465
    assert counts.loc["RSICD test", "distinct captions"] < 0.65 * 5465  # RSICD repeats itself heavily
    assert counts.loc["RSICD test", "most images sharing one sentence"] == 17  # one farmland sentence


def test_real_ceilings_are_ordered(real_tables):
    ceilings, counts = real_tables["ceilings"], real_tables["counts"]
    for name in ("RSITMD", "RSICD"):
        low, high = ceilings.loc[(name, "official", "pessimistic")], ceilings.loc[(name, "official", "optimistic")]
        assert (low <= high).all()
        one_order = counts.loc[f"{name} test", "official t2i R@1, one order (%)"]
        assert low["t2i_r1"] <= one_order <= high["t2i_r1"]
        assert all((ceilings.loc[(name, "dedup", rule)] == 100.0).all() for rule in ("pessimistic", "optimistic"))
    assert ceilings.loc[("RSICD", "official", "pessimistic"), "t2i_r1"] < 95.0  # duplicates cap the official R@1


def test_real_overlap_and_shared_images(real_tables):
    overlap = real_tables["overlap"]
    assert (overlap["test sentences seen in training"] > 0).all()
    shared = real_tables["shared images"]
    assert shared.xs("same file name")["pairs sharing any sentence"].sum() == 0  # names do not identify images
    assert shared.xs(">= 3 shared sentences")["image pairs"].sum() > 0


def test_data_readme_holds_the_generated_tables(real_tables, shared_dir):
    tables = audit_markdown(shared_dir / "datasets").split("\n\n")
    assert len(tables) == 4 and all(table.startswith("|") for table in tables)
    readme = (Path(__file__).resolve().parents[1] / "data" / "README.md").read_text()
    for table in tables:
        assert table.strip() in readme, "data/README.md is stale: paste audit_markdown's output again"
