"""Notebook 03's summary, written from its tables."""

from __future__ import annotations

import pandas as pd

from pirlib.tutorial.power import paired_comparison
from pirlib.tutorial.training_summary import training_summary


def test_summary_states_each_comparison_with_its_interval_and_the_recorded_study():
    by_seed = {"baseline": {0: 10.0, 1: 14.0, 2: 11.0}, "pir": {0: 12.0, 1: 16.5, 2: 13.0}}
    comparison = paired_comparison(by_seed, [("pir", "baseline")], margin=2.0)
    record = {"machine": {"cpu": "AMD EPYC"}, "date": "2026-12-06"}
    claims = comparison.rename(index={comparison.index[0]: "PIR beats the contrastive baseline"})
    text = training_summary(
        {"accuracy": 80.0, "group accuracy": 95.5, "epochs": 6, "source": "16,000 corpus images"},
        {variant: list(values.values()) for variant, values in by_seed.items()},
        comparison,
        {"baseline": [[5.0, 9.0]], "pir": [[6.0, 12.0]]},
        chance=1.5,
        budget="846 steps of 32 pairs",
        decisive=(record, claims),
    )
    row = comparison.iloc[0]
    assert f"[{row['95% CI low']:.2f}, {row['95% CI high']:.2f}]: supports" in text
    assert "80.0% test accuracy" in text and "95.5% at the level of the scene groups" in text
    assert "Baseline (Swin+BERT, CL) 11.67 ± 2.08" in text
    assert "recorded: AMD EPYC, 2026-12-06" in text and "PIR beats the contrastive baseline (3 seeds)" in text
    assert "Baseline (Swin+BERT, CL) 5.0 → 9.0" in text


def test_summary_states_the_noise_sweep_finding_as_recorded():
    by_seed = {"baseline": {0: 10.0, 1: 14.0}, "pir": {0: 12.0, 1: 16.5}}
    comparison = paired_comparison(by_seed, [("pir", "baseline")], margin=2.0)
    record = {"machine": {"cpu": "Intel Xeon"}, "date": "2026-12-07", "complete": False}
    row = {"lightest noise": 0.0, "gap at lightest": 1.0, "heaviest noise": 2.0, "gap at heaviest": 3.5, "change": 2.5,
           "95% CI low": 0.5, "95% CI high": 4.5, "seeds": "5, 5", "the gap grows with noise": "supports"}  # fmt: skip
    trend = pd.DataFrame.from_dict({"PIR − Baseline (Swin+BERT, CL)": row}, orient="index")
    text = training_summary(None, {v: list(s.values()) for v, s in by_seed.items()}, comparison,
                            {"baseline": [[5.0, 9.0]], "pir": [[6.0, 12.0]]}, chance=1.5, budget="2 steps",
                            noise=(record, trend))  # fmt: skip
    assert "- **The noise sweep** (recorded: Intel Xeon, 2026-12-07; Welch" in text
    assert "  - **PIR − Baseline (Swin+BERT, CL)**: +1.00 mR at noise 0, +3.50 mR at noise 2; change +2.50 mR" in text
    assert "the study supports it" in text and "  - *Partial record" in text
