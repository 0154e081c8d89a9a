"""Power before training: the smallest difference a study of n seeds per model can detect, from the seed spread of a
reference study, set beside the effects the paper reports.

Runs of two variants at the same seed share every random source of the modules they have in common (the split, the
data order, the initial weights of the shared encoders: common random numbers), so a difference is estimated seed by
seed and its spread is the standard deviation of the per-seed differences, usually far below either model's own
seed spread. `power_table` gives both designs: paired over shared seeds, and Welch over independent seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from pirlib.tutorial.runs import VARIANT_LABELS
from pirlib.tutorial.stats import (
    claim_verdict,
    mean_std,
    minimal_detectable_difference,
    paired_difference_interval,
)

# PIR's mR gain over the contrastive baselines of the paper's Table 1 (quoted: Pan et al. 2023, Table 1):
# PIR (CL+AL) 24.46 / 38.24 against VSE₂ (CL) 23.40 / 36.53 and VSE₂+TEL (CL) 23.53 / 36.74 (RSICD / RSITMD).
PAPER_GAINS = {
    "RSICD, PIR − VSE₂ (CL)": 24.46 - 23.40,
    "RSICD, PIR − VSE₂+TEL (CL)": 24.46 - 23.53,
    "RSITMD, PIR − VSE₂ (CL)": 38.24 - 36.53,
    "RSITMD, PIR − VSE₂+TEL (CL)": 38.24 - 36.74,
}

ONE_SEED = "one seed: no claim"  # the verdict of a comparison without an interval
NO_SEED = "no shared seed: no claim"  # the verdict where the two sides have no seed in common

MAIN_JOB_COMPARISONS = (("pir", "baseline"), ("pir", "pir_no_affiliation"))


def mR_by_seed(runs: dict, variant: str) -> dict[int, float]:
    """{seed: test mR} of the recorded runs of `variant` ({name: {"variant", "seed", "test": {...}}})."""
    return {run["seed"]: run["test"]["mR"] for run in runs.values() if run["variant"] == variant}


def runs_of_reference(reference: dict) -> dict:
    """The runs of a committed reference (`checks.write_reference`: {"runs": {"<variant>_seed<seed>": metrics}}) as
    recorded runs ({name: {"variant", "seed", "test"}})."""
    runs = {}
    for name, metrics in reference["runs"].items():
        variant, _, seed = name.rpartition("_seed")
        runs[name] = {"variant": variant, "seed": int(seed), "test": metrics}
    return runs


def reference_spread(runs: dict, first: str, second: str) -> dict[str, float]:
    """From recorded runs: the std of the per-seed differences first − second over the seeds both have, each
    model's seed std, and the number of shared seeds."""
    a, b = mR_by_seed(runs, first), mR_by_seed(runs, second)
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        raise ValueError(f"reference_spread: {first} and {second} share {len(seeds)} seeds; at least 2 are needed")
    differences = [a[seed] - b[seed] for seed in seeds]
    return {
        "difference std": mean_std(differences)[1],
        "model std": math.sqrt((mean_std([a[s] for s in seeds])[1] ** 2 + mean_std([b[s] for s in seeds])[1] ** 2) / 2),
        "seeds": len(seeds),
    }


def seeds_needed(std: float, effect: float, paired: bool = True, most: int = 200) -> int | None:
    """The fewest seeds per model whose design detects `effect` (80 % power, 95 % two-sided); None above `most`."""
    for seeds in range(2, most + 1):
        if minimal_detectable_difference(std, seeds, paired=paired) <= effect:
            return seeds
    return None


def power_table(runs: dict, seeds: int, source: str, comparisons=MAIN_JOB_COMPARISONS) -> pd.DataFrame:
    """For each (A, B) of `comparisons`: the reference spread (from `runs`, recorded by `source`), the smallest
    difference of A − B that `seeds` seeds per model detect (80 % power, 95 % two-sided), paired over shared seeds
    and Welch over independent ones, and the seeds a paired design needs for the paper's smallest gain."""
    smallest_gain = min(PAPER_GAINS.values())
    rows = {}
    for first, second in comparisons:
        spread = reference_spread(runs, first, second)
        rows[f"{VARIANT_LABELS[first]} − {VARIANT_LABELS[second]}"] = {
            "reference": f"{source} ({spread['seeds']} seeds)",
            "model seed std": spread["model std"],
            "std of paired differences": spread["difference std"],
            "seeds (this design)": seeds,
            "detectable, paired": minimal_detectable_difference(spread["difference std"], seeds, paired=True),
            "detectable, Welch": minimal_detectable_difference(spread["model std"], seeds, paired=False),
            "paper's smallest gain": smallest_gain,
            "seeds for it, paired": seeds_needed(spread["difference std"], smallest_gain),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("difference in test mR")


def level_change_power(runs: dict, seeds: int, source: str, comparisons) -> pd.DataFrame:
    """Power of a sweep that measures each gap A − B of `comparisons` at several levels of a factor, `seeds` seeds
    per level, paired by seed within a level, each level trained on its own data: from the std of the per-seed gap
    in a reference study at one level (`runs`, recorded by `source`), the smallest gap one level detects (paired)
    and the smallest change of the gap between two levels (Welch: two levels share no random numbers), both at
    80 % power and 95 % two-sided."""
    rows = {}
    for first, second in comparisons:
        spread = reference_spread(runs, first, second)
        rows[f"{VARIANT_LABELS[first]} − {VARIANT_LABELS[second]}"] = {
            "reference": f"{source} ({spread['seeds']} seeds)",
            "std of the per-seed gap": spread["difference std"],
            "seeds per level": seeds,
            "detectable gap at one level, paired": minimal_detectable_difference(
                spread["difference std"], seeds, paired=True
            ),
            "detectable change between two levels, Welch": minimal_detectable_difference(
                spread["difference std"], seeds, paired=False
            ),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("gap in test mR")


def paired_evidence(
    values: Mapping[int, float],
    reference: Mapping[int, float] | float,
    margin: float | None = None,
    lower_is_better: bool = False,
) -> dict:
    """The evidence that `values` beat `reference` ({seed: value} each, or a fixed number), in the columns of
    `paired_comparison`: the mean difference over the seeds both have (reference − values when lower is
    better), its paired 95 % t-interval, the std of the per-seed differences, the smallest difference the design
    detects (80 % power), the verdict, and the design in words. With fewer than 2 seeds: no interval, no claim."""
    if isinstance(reference, Mapping):
        seeds = sorted(set(values) & set(reference))
        pairs = [(values[s], reference[s]) for s in seeds]
        design = "paired"
    else:
        seeds = sorted(values)
        pairs = [(values[s], float(reference)) for s in seeds]
        design = "one-sample"
    if lower_is_better:
        pairs = [(b, a) for a, b in pairs]
    evidence = {"seeds": len(pairs), "design": f"{design}, {len(pairs)} seed{'s' if len(pairs) != 1 else ''}"}
    if len(pairs) < 2:
        difference = float(np.mean([a - b for a, b in pairs])) if pairs else math.nan
        undecided = dict.fromkeys(("95% CI low", "95% CI high", "std of differences", "detectable"), math.nan)
        return evidence | {"difference": difference, **undecided, "verdict": ONE_SEED if pairs else NO_SEED}
    first, second = (list(side) for side in zip(*pairs, strict=True))
    difference, low, high = paired_difference_interval(first, second)
    spread = mean_std(np.subtract(first, second).tolist())[1]
    return evidence | {
        "difference": difference,
        "95% CI low": low,
        "95% CI high": high,
        "std of differences": spread,
        "detectable": minimal_detectable_difference(spread, len(pairs), paired=True),
        "verdict": claim_verdict(low, high, margin),
    }


def paired_comparison(mR: dict[str, dict[int, float]], comparisons, margin: float) -> pd.DataFrame:
    """This run's comparisons, paired by seed: for each (A, B) of `comparisons`, the mean test mR of A and B over the
    seeds both have, then `paired_evidence` of A − B with `margin` (its paired 95 % t-interval, the spread of the
    per-seed differences, the smallest difference this design detects, the verdict; one shared seed gives the point
    difference and "one seed: no claim")."""
    rows = {}
    for first, second in comparisons:
        seeds = sorted(set(mR[first]) & set(mR[second]))
        evidence = paired_evidence(mR[first], mR[second], margin)
        del evidence["design"]
        rows[f"{VARIANT_LABELS[first]} − {VARIANT_LABELS[second]}"] = {
            "seeds": evidence.pop("seeds"),
            "A mR": mean_std([mR[first][s] for s in seeds])[0],
            "B mR": mean_std([mR[second][s] for s in seeds])[0],
            **evidence,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("A − B, paired by seed")
