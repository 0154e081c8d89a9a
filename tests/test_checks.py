"""Machine-independent study checks (chance, rising curves, reference band) and the same-machine exact check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pirlib.config import save_config
from pirlib.tutorial.checks import (
    assert_checks,
    chance_mR,
    exact_check,
    machine_fingerprint,
    study_checks,
    write_reference,
)
from pirlib.tutorial.runs import write_manifest


def test_chance_matches_a_simulated_random_ranking():
    rng = np.random.default_rng(0)
    images, per_image, trials = 40, 5, 2000
    owner = np.repeat(np.arange(images), per_image)  # [captions]
    scores = rng.random((trials, images, images * per_image))  # [trials, images, captions]
    caption_order = np.argsort(-scores, axis=2)  # per image query: captions by score
    own_rank = (owner[caption_order] == np.arange(images)[None, :, None]).argmax(axis=2)  # first own caption's rank
    image_rank = (np.argsort(-scores, axis=1) == owner[None, None, :]).argmax(axis=1)  # per caption: own image's rank
    recalls = [(own_rank < k).mean() for k in (1, 5, 10)] + [(image_rank < k).mean() for k in (1, 5, 10)]
    assert chance_mR(images, per_image) == pytest.approx(100 * np.mean(recalls), abs=0.15)
    assert chance_mR(300, 5) == pytest.approx(1.77, abs=0.01)


REFERENCE = {"models": {"baseline": {"mean": 15.0, "std": 1.0}, "pir": {"mean": 14.0, "std": 0.2}}}


def test_checks_pass_for_a_healthy_study_and_fail_for_a_broken_one():
    healthy = study_checks(
        {"baseline": [14.0, 15.5, 16.0], "pir": [13.0, 14.5, 15.0]},
        {"baseline": [[5, 10, 15]] * 3, "pir": [[3, 9, 14]] * 3},
        REFERENCE,
        chance=1.77,
    )
    assert healthy["passed"].all() and len(healthy) == 6
    assert healthy.loc["PIR (CL+AL): mR in the reference band", "requirement"] == "[11.00, 17.00]"  # the floor
    assert_checks(healthy)
    broken = study_checks(  # a learning rate of 0: chance-level retrieval, flat curves
        {"baseline": [1.8, 1.7, 1.9], "pir": [1.6, 1.8, 1.7]},
        {"baseline": [[1.8, 1.8]] * 3, "pir": [[1.7, 1.7]] * 3},
        REFERENCE,
        chance=1.77,
    )
    assert not broken["passed"].any()
    with pytest.raises(AssertionError, match="beats chance"):
        assert_checks(broken)


def _fake_study(root: Path, mR: float) -> Path:
    from pirlib.config import load_config
    from pirlib.tutorial.runs import RunSpec

    specs = []
    for variant in ("baseline", "pir"):
        for seed in (0, 1):
            run = root / f"{variant}_seed{seed}"
            run.mkdir(parents=True)
            config = load_config(None, [f"train.seed={seed}", "train.precision=fp32", "train.device=cpu"])
            save_config(config, run / "config.yaml")
            (run / "inputs.json").write_text(json.dumps({"dataset.json": "abc", "prior": None}))
            test = {key: mR + seed for key in ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "mR")}
            (run / "eval.json").write_text(json.dumps({"test": test}))
            specs.append(RunSpec(variant, seed, config, run))
    write_manifest(specs, root / "manifest.json")
    return root


def test_exact_check_on_the_reference_machine_and_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")  # the reference machine's kernel path, whatever runs the tests
    runs = _fake_study(tmp_path / "runs", 10.0)
    reference = tmp_path / "reference.json"
    assert "no reference" in exact_check(reference, runs)
    written = write_reference(runs, reference)
    assert written["models"]["baseline"] == {"mean": 10.5, "std": pytest.approx(0.7071, abs=1e-4)}
    assert "all 4 runs equal" in exact_check(reference, runs)
    eval_path = runs / "pir_seed1" / "eval.json"
    changed = json.loads(eval_path.read_text())
    changed["test"]["mR"] += 1e-9
    eval_path.write_text(json.dumps(changed))
    with pytest.raises(AssertionError, match="pir_seed1 mR"):
        exact_check(reference, runs)
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")  # another kernel path: another machine for the check
    assert "not applicable on this machine" in exact_check(reference, runs)
    assert machine_fingerprint()["ATEN_CPU_CAPABILITY"] == "avx2"
    other = _fake_study(tmp_path / "other", 10.0)
    (other / "baseline_seed0" / "inputs.json").write_text(json.dumps({"dataset.json": "xyz", "prior": None}))
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    assert "configs, dataset or training code differ" in exact_check(reference, other)
    (runs / "pir_seed0" / "inputs.json").write_text(json.dumps({"dataset.json": "abc", "prior": "another prior"}))
    assert "scene prior or dataset differ" in exact_check(reference, runs)  # same configs, another prior's bits
    del written["inputs"]
    reference.write_text(json.dumps(written))
    assert "does not record the runs' scene prior" in exact_check(reference, runs)
