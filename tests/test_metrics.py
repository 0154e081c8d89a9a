"""retrieval_metrics (both protocols, both tie rules) against a slow, obviously-correct loop written after the
official `itm_eval`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pirlib.data import RetrievalDataset, load_index
from pirlib.data.synthrs import SynthSettings, generate_synthrs
from pirlib.metrics import METRIC_KEYS, protocol_report, retrieval_metrics, tie_range


def reference_metrics(
    similarity: np.ndarray,
    img2txt: list[list[int]],
    txt2img: list[int],
    tie_rule: str = "pessimistic",
    protocol: str = "official",
    captions: list[str] | None = None,
) -> dict[str, float]:
    """The official loop: sort each row, rank = best rank among the positives. Ties: negatives first (pessimistic) or
    positives first (optimistic). Dedup: one candidate / query per distinct string, scored by its first column."""

    def rank(scores: list[float], positives: set[int]) -> int:
        negatives_first = tie_rule == "pessimistic"
        order = sorted(range(len(scores)), key=lambda k: (-scores[k], (k in positives) == negatives_first))
        return min(order.index(p) for p in positives)

    n_images, n_captions = similarity.shape
    if protocol == "official":
        image_ranks = [rank(list(similarity[i]), set(img2txt[i])) for i in range(n_images)]
        caption_ranks = [rank(list(similarity[:, j]), {txt2img[j]}) for j in range(n_captions)]
    else:
        strings = list(dict.fromkeys(captions))
        column = [captions.index(s) for s in strings]
        image_ranks = [
            rank([similarity[i, c] for c in column], {strings.index(captions[j]) for j in img2txt[i]})
            for i in range(n_images)
        ]
        caption_ranks = [
            rank(list(similarity[:, c]), {txt2img[j] for j in range(n_captions) if captions[j] == s})
            for s, c in zip(strings, column, strict=True)
        ]
    image_ranks, caption_ranks = np.array(image_ranks), np.array(caption_ranks)
    values = [100.0 * np.mean(image_ranks < k) for k in (1, 5, 10)]
    values += [100.0 * np.mean(caption_ranks < k) for k in (1, 5, 10)]
    return dict(zip(METRIC_KEYS, [*values, sum(values) / 6], strict=True))


def five_captions(n_images: int, shuffle: np.random.Generator | None = None) -> tuple[list[list[int]], list[int]]:
    txt2img = [i for i in range(n_images) for _ in range(5)]
    if shuffle is not None:
        shuffle.shuffle(txt2img)
    img2txt = [[j for j, i in enumerate(txt2img) if i == image] for image in range(n_images)]
    return img2txt, txt2img


@pytest.mark.parametrize("seed", range(4))
def test_matches_reference_on_random_matrices(seed):
    rng = np.random.default_rng(seed)
    img2txt, txt2img = five_captions(23, rng if seed % 2 else None)
    similarity = rng.standard_normal((23, 115))
    for i, captions in enumerate(img2txt):  # make the task non-trivial: positives get a boost of varying size
        similarity[i, captions] += rng.uniform(0, 2)
    assert retrieval_metrics(similarity, img2txt, txt2img) == pytest.approx(
        reference_metrics(similarity, img2txt, txt2img)
    )


@pytest.mark.parametrize("seed", range(3))
def test_ties_follow_the_reference_rule(seed):
    rng = np.random.default_rng(100 + seed)
    img2txt, txt2img = five_captions(12, rng)
    similarity = rng.integers(0, 3, size=(12, 60)).astype(np.float32)  # many exact ties
    assert retrieval_metrics(torch.from_numpy(similarity), img2txt, txt2img) == pytest.approx(
        reference_metrics(similarity, img2txt, txt2img)
    )


def test_perfect_and_collapsed_models():
    img2txt, txt2img = five_captions(20)
    perfect = np.zeros((20, 100))
    for i, captions in enumerate(img2txt):
        perfect[i, captions] = 1.0
    assert all(value == 100.0 for value in retrieval_metrics(perfect, img2txt, txt2img).values())
    collapsed = retrieval_metrics(np.ones((20, 100)), img2txt, txt2img)
    assert all(value == 0.0 for value in collapsed.values())


def test_bad_inputs_are_named():
    img2txt, txt2img = five_captions(4)
    with pytest.raises(ValueError, match="img2txt has 4 entries"):
        retrieval_metrics(np.zeros((5, 20)), img2txt, txt2img)
    with pytest.raises(ValueError, match="txt2img has 20 entries"):
        retrieval_metrics(np.zeros((4, 19)), img2txt, txt2img)
    broken = np.zeros((4, 20))
    broken[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        retrieval_metrics(broken, img2txt, txt2img)
    with pytest.raises(ValueError, match="2-D"):
        retrieval_metrics(np.zeros(20), img2txt, txt2img)


def repeated_captions(txt2img: list[int], rng: np.random.Generator) -> list[str]:
    """Captions drawn from a vocabulary of 12 sentences: many repeat within and across images."""
    return [f"sentence {rng.integers(0, 12)}" for _ in txt2img]


@pytest.mark.parametrize("tie_rule", ["pessimistic", "optimistic"])
@pytest.mark.parametrize("protocol", ["official", "dedup"])
@pytest.mark.parametrize("seed", range(3))
def test_protocols_and_tie_rules_match_the_reference(seed, protocol, tie_rule):
    rng = np.random.default_rng(200 + seed)
    img2txt, txt2img = five_captions(14, rng)
    captions = repeated_captions(txt2img, rng)
    similarity = rng.integers(0, 4, size=(14, 70)).astype(np.float64)  # many exact ties
    fast = retrieval_metrics(similarity, img2txt, txt2img, protocol=protocol, tie_rule=tie_rule, captions=captions)
    assert fast == pytest.approx(reference_metrics(similarity, img2txt, txt2img, tie_rule, protocol, captions))


def test_tie_rules_agree_without_ties_and_bound_the_result_with_them():
    rng = np.random.default_rng(7)
    img2txt, txt2img = five_captions(30, rng)
    continuous = rng.standard_normal((30, 150))
    bounds = tie_range(continuous, img2txt, txt2img)
    assert bounds["tied_queries"] == {"i2t": 0, "t2i": 0}
    assert bounds["pessimistic"] == bounds["optimistic"]
    rounded = np.round(continuous, 1)
    bounds = tie_range(rounded, img2txt, txt2img)
    assert bounds["tied_queries"]["i2t"] + bounds["tied_queries"]["t2i"] > 0
    assert all(bounds["pessimistic"][key] <= bounds["optimistic"][key] for key in METRIC_KEYS)
    assert bounds["pessimistic"]["mR"] < bounds["optimistic"]["mR"]


def crafted_duplicates() -> tuple[np.ndarray, list[list[int]], list[int], list[str]]:
    """Image 0 says "farmland" twice, image 1 "farmland" and "river", image 2 "bridge" and "road"; the perfect
    model scores 1 wherever the image holds the caption's sentence."""
    captions = ["farmland", "farmland", "farmland", "river", "bridge", "road"]
    txt2img = [0, 0, 1, 1, 2, 2]
    img2txt = [[0, 1], [2, 3], [4, 5]]
    similarity = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]], dtype=np.float64)
    return similarity, img2txt, txt2img, captions


def test_duplicates_cap_the_official_protocol_and_not_the_dedup_one():
    similarity, img2txt, txt2img, captions = crafted_duplicates()
    official = retrieval_metrics(similarity, img2txt, txt2img)
    # i2t: image 0 ties with caption 2 (rank 1), image 1 with captions 0 and 1 (rank 2), image 2 is alone (rank 0);
    # t2i: the three "farmland" captions tie between images 0 and 1 (rank 1), the other three are alone (rank 0)
    assert official["i2t_r1"] == pytest.approx(100 / 3) and official["i2t_r5"] == 100.0
    assert official["t2i_r1"] == pytest.approx(50.0) and official["t2i_r5"] == 100.0
    assert official["mR"] == pytest.approx((100 / 3 + 50 + 400) / 6)
    assert all(
        value == 100.0 for value in retrieval_metrics(similarity, img2txt, txt2img, tie_rule="optimistic").values()
    )
    dedup = retrieval_metrics(similarity, img2txt, txt2img, protocol="dedup", captions=captions)
    assert all(value == 100.0 for value in dedup.values())


def test_dedup_counts_a_repeated_wrong_caption_once():
    captions = ["a", "b", "b", "b", "b", "b", "c", "d"]
    txt2img = [0, 1, 1, 1, 1, 1, 2, 2]
    img2txt = [[0], [1, 2, 3, 4, 5], [6, 7]]
    similarity = np.array(
        [[0.5, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1], [0, 1, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1]]
    )
    official = retrieval_metrics(similarity, img2txt, txt2img)
    dedup = retrieval_metrics(similarity, img2txt, txt2img, protocol="dedup", captions=captions)
    # image 0 sees "b" above its own caption: five candidates officially (rank 5), one string under dedup (rank 1)
    assert official["i2t_r1"] == dedup["i2t_r1"] == pytest.approx(200 / 3)
    assert official["i2t_r5"] == pytest.approx(200 / 3) and dedup["i2t_r5"] == 100.0
    assert official["t2i_r1"] == dedup["t2i_r1"] == 100.0


@pytest.fixture(scope="module")
def synthrs_test_set(tmp_path_factory) -> RetrievalDataset:
    out = tmp_path_factory.mktemp("synthrs")
    generate_synthrs(out, SynthSettings(images=60, test_images=30, size=32, seed=0), workers=1)
    index = load_index(out)
    return RetrievalDataset(index, index.split_ids("test"), transform=None)


def test_dedup_equals_official_on_synthrs(synthrs_test_set):
    dataset = synthrs_test_set
    assert len(set(dataset.captions)) == len(dataset.captions)  # SynthRS has no repeated caption
    rng = np.random.default_rng(3)
    similarity = rng.standard_normal((len(dataset), len(dataset.captions))).astype(np.float32)
    for tie_rule in ("pessimistic", "optimistic"):
        official = retrieval_metrics(similarity, dataset.img2txt, dataset.txt2img, tie_rule=tie_rule)
        dedup = retrieval_metrics(
            similarity, dataset.img2txt, dataset.txt2img, "dedup", tie_rule, captions=dataset.captions
        )
        assert dedup == official


def test_protocol_report_keeps_the_official_keys_and_adds_ranges_only_with_ties():
    similarity, img2txt, txt2img, captions = crafted_duplicates()
    report = protocol_report(similarity, img2txt, txt2img, captions, protocols=("official", "dedup"))
    assert {key: report[key] for key in METRIC_KEYS} == retrieval_metrics(similarity, img2txt, txt2img)
    assert report["protocol"] == "official" and report["tie_rule"] == "pessimistic"
    assert report["tied_queries"] == {"i2t": 2, "t2i": 3}
    assert report["tie_range"]["optimistic"]["mR"] == 100.0
    assert report["dedup"]["mR"] == 100.0 and report["dedup"]["text_queries"] == 4
    assert "tie_range" not in report["dedup"]  # any holder of a sentence is right: the ties do not matter
    rng = np.random.default_rng(0)
    img2txt, txt2img = five_captions(10, rng)
    assert "tie_range" not in protocol_report(rng.standard_normal((10, 50)), img2txt, txt2img)


def test_unknown_protocol_or_tie_rule_and_missing_captions_are_named():
    similarity, img2txt, txt2img, _ = crafted_duplicates()
    with pytest.raises(ValueError, match="unknown protocol 'deduplicated'"):
        retrieval_metrics(similarity, img2txt, txt2img, protocol="deduplicated")
    with pytest.raises(ValueError, match="unknown tie rule 'random'"):
        retrieval_metrics(similarity, img2txt, txt2img, tie_rule="random")
    with pytest.raises(ValueError, match="needs the caption strings"):
        retrieval_metrics(similarity, img2txt, txt2img, protocol="dedup")
