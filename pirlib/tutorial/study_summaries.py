"""Tables and figures of the recorded studies (`pirlib.tutorial.studies`, files in docs/studies/), for notebooks 03
and 04, and `docs/studies/README.md`, written from the records (`write_summary`; `python -m pirlib.tutorial.studies`
rewrites it after every study, `python -m pirlib.tutorial.study_summaries docs/studies` on demand)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pirlib.markdown import markdown_table
from pirlib.metrics import METRIC_KEYS
from pirlib.tutorial.power import mR_by_seed, paired_comparison, paired_evidence
from pirlib.tutorial.runs import VARIANT_LABELS
from pirlib.tutorial.stats import (
    claim_verdict,
    difference_interval,
    format_mean_std,
    mean_std,
    minimal_detectable_difference,
    paired_std_ratio_interval,
    std_interval_factors,
    verdict,
)


def recorded(path: str | os.PathLike) -> dict | None:
    """A recorded study's dict, or None when the file does not exist."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None


def _tests(runs: dict, variant: str) -> list[dict]:
    """The recorded test metrics of every run of `variant` in `runs`."""
    return [run["test"] for run in runs.values() if run["variant"] == variant]


def _test_mR(runs: dict, variant: str) -> list[float]:
    return [test["mR"] for test in _tests(runs, variant)]


def _difference(values: list[float], reference: list[float], reference_name: str) -> dict:
    difference, low, high = difference_interval(values, reference)
    return {"compared with": reference_name, "difference in mR": difference, "95% CI low": low, "95% CI high": high,
            "verdict": verdict(low, high)}  # fmt: skip


def plateau_table(record: dict) -> pd.DataFrame:
    """Per model: test mR at the default budget and at the doubled one (mean ± std over seeds), the change with its
    95 % Welch t-interval, and whether |change| is below the default budget's seed standard deviation."""
    rows = {}
    variants = dict.fromkeys(run["variant"] for run in record["runs"].values())
    for variant in variants:
        default, doubled = _test_mR(record["default_runs"], variant), _test_mR(record["runs"], variant)
        std_1 = mean_std(default)[1]
        change, low, high = difference_interval(doubled, default)
        rows[VARIANT_LABELS.get(variant, variant)] = {
            "default budget mR": format_mean_std(default),
            f"{record.get('budget_factor', 2)}× budget mR": format_mean_std(doubled),
            "change in mR": change,
            "95% CI low": low,
            "95% CI high": high,
            "seed std (default)": std_1,
            "|change| < seed std": abs(change) < std_1,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def prior_quality_table(record: dict) -> tuple[pd.DataFrame, plt.Figure]:
    """PIR's test mR with each prior against the prior's accuracy; each prior's PIR against the baseline, and the
    corpus prior's PIR against the in-set prior's ("difference in mR" = the row's mR − "compared with", its 95 %
    Welch t-interval over seeds and the verdict); and a figure of every seed's mR against its prior's accuracy."""
    baseline = _test_mR(record["default_runs"], "baseline")
    with_prior = {"corpus": _test_mR(record["default_runs"], "pir"), "in-set": _test_mR(record["runs"], "pir")}
    rows = {}
    for name, values in with_prior.items():
        prior = record["priors"][name]
        rows[f"{name} prior"] = {
            "prior accuracy (%)": prior["accuracy"],
            "prior training images": f"{prior['train_images']:,}",
            "PIR mR": format_mean_std(values),
            **_difference(values, baseline, "baseline"),
        }
    rows["corpus − in-set prior"] = _difference(with_prior["corpus"], with_prior["in-set"], "PIR, in-set prior")
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("PIR with")

    figure, axis = plt.subplots(figsize=(6.0, 4.2))
    base_mean, base_std = mean_std(baseline)
    axis.axhspan(base_mean - base_std, base_mean + base_std, color="grey", alpha=0.2, linewidth=0,
                 label=f"baseline: mean ± std over its {len(baseline)} seeds")  # fmt: skip
    axis.axhline(base_mean, color="grey", linewidth=1)
    for number, (name, values) in enumerate(with_prior.items()):
        accuracy = record["priors"][name]["accuracy"]
        axis.scatter([accuracy] * len(values), values, label=f"PIR, {name} prior: each seed", zorder=3)
        mean, std = mean_std(values)
        axis.errorbar(accuracy, mean, yerr=std, color="black", marker="_", markersize=14, capsize=4, zorder=4,
                      label="PIR: mean ± std over seeds" if number == 0 else None)  # fmt: skip
    axis.set_xlabel("scene-prior test accuracy (%)")
    axis.set_ylabel("test mR (SynthRS)")
    axis.set_title("PIR against the quality of its scene prior (recorded study)\n"
                   "error bars: ± 1 standard deviation over seeds", fontsize=10)  # fmt: skip
    axis.legend(frameon=False, fontsize=8)
    axis.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return table, figure


ABLATION_SIDES = {  # what each difference of the ablation table compares: mR and each retrieval direction
    "mR": ["mR"],
    "image → text (mean R@1,5,10)": ["i2t_r1", "i2t_r5", "i2t_r10"],
    "text → image (mean R@1,5,10)": ["t2i_r1", "t2i_r5", "t2i_r10"],
}


def ablation_tables(record: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From the recorded ablation study: every model's test metrics (mean ± std over seeds; the baseline and PIR are
    the default runs recorded beside the ablations), and PIR − each ablation in mR and in each retrieval direction,
    with its 95 % Welch t-interval over seeds and the verdict (positive: the module helps)."""
    variants = ["baseline", "pir", *dict.fromkeys(run["variant"] for run in record["runs"].values())]
    runs = {**record["default_runs"], **record["runs"]}
    tests = {variant: _tests(runs, variant) for variant in variants}
    metrics = pd.DataFrame.from_dict(
        {
            VARIANT_LABELS.get(variant, variant): {
                **{key: format_mean_std([test[key] for test in runs]) for key in METRIC_KEYS},
                "seeds": len(runs),
            }
            for variant, runs in tests.items()
        },
        orient="index",
    ).rename_axis("recorded study: SynthRS test")
    rows = {}
    for variant in variants[2:]:
        for side, keys in ABLATION_SIDES.items():
            pir = [np.mean([test[key] for key in keys]) for test in tests["pir"]]
            ablated = [np.mean([test[key] for key in keys]) for test in tests[variant]]
            difference, low, high = difference_interval(pir, ablated)
            rows[(f"PIR − {VARIANT_LABELS.get(variant, variant)}", side)] = {
                "difference": difference, "95% CI low": low, "95% CI high": high, "verdict": verdict(low, high)
            }  # fmt: skip
    differences = pd.DataFrame.from_dict(rows, orient="index")
    differences.index.names = ["comparison", "measure"]
    return metrics, differences


def variance_table(record: dict) -> pd.DataFrame:
    """Seed standard deviation of test mR per random source (that source's seed varied alone, the default seed-0
    run included), for every source at once (the decisive study's seeds where the record holds them, else the
    default runs'), and of the finite test set (bootstrap); for PIR − baseline too, paired by seed (the two runs of
    a pair share every random source but the varied one). A source with unfinished runs (a partial record) shows
    NaN."""
    design, runs, default = record["design"], record["runs"], record["default_runs"]

    def source_values(variant: str, source: str) -> list[float]:
        """The test mR of every seed of `source` (seed 0: the default run); NaNs while any is unfinished."""
        varied = {name: run for name, run in runs.items() if name.startswith(f"{variant}_{source}")}
        by_seed = {0: mR_by_seed(default, variant)[0], **mR_by_seed(varied, variant)}
        return [by_seed.get(seed, float("nan")) for seed in design["seeds"]]

    rows = {}
    for label, values_of in (
        *((VARIANT_LABELS.get(v, v), lambda source, v=v: source_values(v, source)) for v in design["variants"]),
        ("PIR − baseline (paired)", lambda source: list(
            np.subtract(source_values("pir", source), source_values("baseline", source)))),
    ):  # fmt: skip
        rows[label] = {source: float(np.std(values_of(source), ddof=1)) for source in design["sources"]}
    everything = record.get("all_sources") or default  # every source varied at once: the decisive runs, if any
    pir, baseline = mR_by_seed(everything, "pir"), mR_by_seed(everything, "baseline")
    column = f"all sources ({len(pir)} seeds)"
    for variant in design["variants"]:
        label = VARIANT_LABELS.get(variant, variant)
        rows[label][column] = mean_std(list(mR_by_seed(everything, variant).values()))[1]
        spread = [
            value for name, value in record["test_set_bootstrap_std"].items() if default[name]["variant"] == variant
        ]
        rows[label]["test set (bootstrap)"] = float(np.mean(spread))
    gaps = [pir[seed] - baseline[seed] for seed in pir.keys() & baseline]
    rows["PIR − baseline (paired)"][column] = mean_std(gaps)[1]
    rows["PIR − baseline (paired)"]["test set (bootstrap)"] = float("nan")
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("std of test mR (mR points)")


def variance_precision(record: dict) -> str:
    """What one source's seed std in `variance_table` can tell: the 95 % interval of a std from the design's seeds,
    as factors of the value shown (`stats.std_interval_factors`)."""
    seeds = len(record["design"]["seeds"])
    low, high = std_interval_factors(seeds)
    return (f"Each source's std comes from {seeds} seeds: its 95 % interval (chi-square, normal seeds) runs from "
            f"{low:.2f}× to {high:.2f}× the value shown.")  # fmt: skip


NO_EFFECT_MARGIN = 2.0  # mR: "no effect larger than 2 mR", about the size of the paper's gains (Table 1: 0.93-1.71)

# (claim, A, B): each claim of the paper as "A beats B" on test mR
DECISIVE_CLAIMS = (
    ("PIR beats the contrastive baseline", "pir", "baseline"),
    ("VIR helps (PIR against PIR w/o VIR)", "pir", "pir_no_vir"),
    ("VIR adds more than scene knowledge (PIR against the fusion control)", "pir", "baseline_prior_fusion"),
    ("LCA helps (PIR against PIR w/o LCA)", "pir", "pir_no_lca"),
    ("The affiliation loss helps (PIR against PIR w/o AL)", "pir", "pir_no_affiliation"),
    ("Scene knowledge alone helps (fusion control against the baseline)", "baseline_prior_fusion", "baseline"),
)


def decisive_tables(record: dict, margin: float = NO_EFFECT_MARGIN) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From the decisive study: every variant's test mR (mean ± std over its seeds), and each claim of
    DECISIVE_CLAIMS with two or more shared seeds as A − B in mR paired by seed (a seed sets every shared random
    source; `power.paired_comparison`: paired 95 % t-interval, std of the per-seed differences, the smallest
    difference the design detects, the verdict with `margin`), with the interval's half-width beside the half-width
    a Welch interval over the same runs would have."""
    runs = record["runs"]
    mR = {variant: mR_by_seed(runs, variant) for variant in dict.fromkeys(run["variant"] for run in runs.values())}
    metrics = pd.DataFrame.from_dict(
        {
            VARIANT_LABELS.get(variant, variant): {
                "test mR": format_mean_std(list(values.values())),
                "seeds": len(values),
            }
            for variant, values in mR.items()
        },
        orient="index",
    ).rename_axis("decisive study: SynthRS test")
    claims = [(claim, a, b) for claim, a, b in DECISIVE_CLAIMS if len(set(mR.get(a, {})) & set(mR.get(b, {}))) >= 2]
    comparisons = paired_comparison(mR, [(a, b) for _, a, b in claims], margin)
    comparisons.insert(0, "A − B", comparisons.index)
    comparisons.index = pd.Index([claim for claim, _, _ in claims], name="claim (A beats B)")
    comparisons["half-width"] = (comparisons["95% CI high"] - comparisons["95% CI low"]) / 2
    welch = [difference_interval(*(list(mR[v][s] for s in sorted(set(mR[a]) & set(mR[b]))) for v in (a, b)))
             for _, a, b in claims]  # fmt: skip
    comparisons["Welch half-width"] = [(high - low) / 2 for _, low, high in welch]
    return metrics, comparisons


def test_set_table(record: dict, margin: float = NO_EFFECT_MARGIN) -> pd.DataFrame:
    """The finite test set against the seeds, for each claim of the test-set study: the mean over seeds of A − B
    (test mR), its standard error over seeds with the test images fixed (paired), its standard deviation over
    resampled test images with the seeds fixed, the test set's share of their summed variance, a 95 % interval with
    both sources (normal approximation, the two added in quadrature: conservative, since the seed spread already
    holds part of the test-set noise) and its verdict, and the number of test images at which the test set's part
    would equal the seeds' (its standard deviation falls as one over the square root of the number of test images;
    scored in galleries of the recorded split's size, mR averaged over them, since recall falls as a gallery grows)."""
    from scipy import stats

    z = stats.norm.ppf(0.975)
    test_images = record["design"]["test_images"]
    rows = {}
    for claim, boot in record["bootstrap"].items():
        a, b = next((a, b) for name, a, b in DECISIVE_CLAIMS if name == claim)
        first, second = mR_by_seed(record["runs"], a), mR_by_seed(record["runs"], b)
        differences = [first[seed] - second[seed] for seed in boot["seeds"]]
        mean, spread = mean_std(differences)
        seed_error = spread / np.sqrt(len(differences))
        both = float(np.hypot(seed_error, boot["std"]))
        rows[claim] = {
            "seeds": len(differences),
            "difference": mean,
            "seed s.e. (test fixed)": seed_error,
            "test-set s.d. (seeds fixed)": boot["std"],
            "test set's share of the variance": boot["std"] ** 2 / both**2,
            "95% CI low, both sources": mean - z * both,
            "95% CI high, both sources": mean + z * both,
            "verdict, both sources": claim_verdict(mean - z * both, mean + z * both, margin),
            "test images for equal parts": int(np.ceil(test_images * (boot["std"] / seed_error) ** 2)),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(f"claim (A − B; {test_images} test images)")


def std_ratio_row(changed: list[float], plain: list[float]) -> dict:
    """The seed std of `changed` over that of `plain` (the same seeds), its Pitman–Morgan 95 % interval and what it
    says: "reduces the spread" when the interval lies below 1, "widens the spread" above 1, else "cannot decide"."""
    ratio, low, high = paired_std_ratio_interval(changed, plain)
    spread = "reduces the spread" if high < 1 else "widens the spread" if low > 1 else "cannot decide"
    return {"std ratio": ratio, "ratio CI low": low, "ratio CI high": high, "spread": spread}


def test_galleries_tables(record: dict, margin: float = NO_EFFECT_MARGIN) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The lever "a larger test split" (`studies.test_galleries`). First, per claim of the study's bootstrap, on the
    default split and on the fresh galleries (mR averaged over them): the mean over seeds of A − B, its seed standard
    error (test images fixed, paired), its test-set standard deviation (seeds fixed) and the 95 % half-width with both
    sources (normal, the two in quadrature, as `test_set_table`); then the interval and verdict on the galleries with
    both sources. Second, per variant and for PIR − baseline: the seed std of test mR on the default split and on the
    galleries, their ratio with its Pitman–Morgan 95 % interval (the same runs measured twice), and each variant's
    median embedding seconds per gallery (the lever's CPU cost, model loading included)."""
    from scipy import stats

    z = stats.norm.ppf(0.975)
    design, runs = record["design"], record["runs"]
    fresh_images = design["galleries"] * design["gallery_images"]
    fresh_runs = {
        name: {**run, "test": {"mR": float(np.mean(record["gallery_mR"][name]))}} for name, run in runs.items()
    }
    variants = dict.fromkeys(run["variant"] for run in runs.values())
    split, fresh = ({v: mR_by_seed(scored, v) for v in variants} for scored in (runs, fresh_runs))
    sources = {  # label: ({variant: {seed: test mR}}, bootstrap per claim)
        f"{design['gallery_images']} test images": (split, record["split_bootstrap"]),
        f"{fresh_images} fresh images": (fresh, record["bootstrap"]),
    }
    rows = {}
    for claim, boot in record["bootstrap"].items():
        a, b = next((a, b) for name, a, b in DECISIVE_CLAIMS if name == claim)
        row, intervals = {"seeds": len(boot["seeds"])}, {}
        for label, (mR, bootstrap) in sources.items():
            mean, spread = mean_std([mR[a][seed] - mR[b][seed] for seed in boot["seeds"]])
            seed_error, test_std = spread / np.sqrt(len(boot["seeds"])), bootstrap[claim]["std"]
            half = z * float(np.hypot(seed_error, test_std))
            intervals[label] = (mean - half, mean + half)
            row |= {f"difference, {label}": mean, f"seed s.e., {label}": seed_error,
                    f"test-set s.d., {label}": test_std, f"half-width, both sources, {label}": half}  # fmt: skip
        low, high = intervals[f"{fresh_images} fresh images"]
        row |= {
            "95% CI low, fresh": low,
            "95% CI high, fresh": high,
            "verdict, fresh": claim_verdict(low, high, margin),
        }
        rows[claim] = row
    claims = pd.DataFrame.from_dict(rows, orient="index").rename_axis("claim (A − B), both sources")

    sides = {VARIANT_LABELS.get(v, v): (v, split[v], fresh[v]) for v in split}
    gaps = [
        {s: mR["pir"][s] - mR["baseline"][s] for s in set(mR["pir"]) & set(mR["baseline"])} for mR in (split, fresh)
    ]
    sides[f"{VARIANT_LABELS['pir']} − {VARIANT_LABELS['baseline']}"] = (None, *gaps)
    spreads = {}
    for label, (variant, on_split, on_fresh) in sides.items():
        seeds = sorted(set(on_split) & set(on_fresh))
        default, galleries = [on_split[s] for s in seeds], [on_fresh[s] for s in seeds]
        row = {"seeds": len(seeds), "split": format_mean_std(default), "galleries": format_mean_std(galleries)}
        if len(seeds) >= 3:
            row |= std_ratio_row(galleries, default)
        seconds = [record["embedding_seconds"][name] for name, run in runs.items() if run["variant"] == variant]
        if seconds and None not in seconds:
            row["embedding s per gallery (median)"] = float(np.median(seconds)) / design["galleries"]
        spreads[label] = row
    title = f"test mR: {design['gallery_images']} test images (split) against {fresh_images} fresh ones (galleries)"
    return claims, pd.DataFrame.from_dict(spreads, orient="index").rename_axis(title)


def lever_table(record: dict, margin: float = NO_EFFECT_MARGIN) -> pd.DataFrame:
    """A variance-reduction lever's study (`studies.LEVERS`), over the seeds both sides have: for the baseline, PIR
    and their per-seed difference, the test mR without and with the lever (mean ± std), the ratio of the seed stds
    with its 95 % Pitman–Morgan interval (the same seeds on both sides, so the two stds are correlated) and what it
    says ("reduces the spread" when the interval lies below 1), with − without paired by seed, and each variant's
    median training seconds with and without (the lever's CPU cost; where the records hold them)."""
    baseline, pir = record["design"]["variants"]
    with_lever, without = record["runs"], record["without"]
    sides = {  # label: ({seed: mR} with the lever, {seed: mR} without)
        VARIANT_LABELS[v]: (mR_by_seed(with_lever, v), mR_by_seed(without, v)) for v in (baseline, pir)
    }

    def gap(side: int) -> dict[int, float]:
        a, b = sides[VARIANT_LABELS[pir]][side], sides[VARIANT_LABELS[baseline]][side]
        return {seed: a[seed] - b[seed] for seed in set(a) & set(b)}

    sides[f"{VARIANT_LABELS[pir]} − {VARIANT_LABELS[baseline]}"] = (gap(0), gap(1))
    times = {  # label: median training seconds (with, without): robust to a run slowed by other work on the machine
        VARIANT_LABELS[v]: tuple(
            float(np.median([run["train_seconds"] for run in runs.values() if run["variant"] == v]))
            for runs in (with_lever, without)
        )
        for v in (baseline, pir)
        if all("train_seconds" in run for run in [*with_lever.values(), *without.values()])
    }
    rows = {}
    for label, (changed, plain) in sides.items():
        seeds = sorted(set(changed) & set(plain))
        a, b = [changed[s] for s in seeds], [plain[s] for s in seeds]
        row = {"seeds": len(seeds), "without": format_mean_std(b), "with": format_mean_std(a)}
        if label in times:
            row |= {"train s without (median)": times[label][1], "train s with (median)": times[label][0]}
        if len(seeds) >= 3:
            row |= std_ratio_row(a, b)
        evidence = paired_evidence(changed, plain, margin)
        row |= {"with − without": evidence["difference"], "95% CI low": evidence["95% CI low"],
                "95% CI high": evidence["95% CI high"], "verdict": evidence["verdict"]}  # fmt: skip
        rows[label] = row
    lever = ", ".join(record["design"]["overrides"])
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(f"test mR with {lever}")


NOISE_GAPS = (("pir", "baseline"), ("pir", "baseline_prior_fusion"))


def noise_sweep_table(record: dict, margin: float = NO_EFFECT_MARGIN) -> pd.DataFrame:
    """Per semantic-noise level with finished runs: the scene prior's accuracy, each variant's test mR (mean ± std
    over seeds), and PIR − baseline and PIR − the fusion control paired by seed (`power.paired_comparison`:
    difference, 95 % interval, verdict)."""
    rows = []
    for noise in record["design"]["noise"]:
        runs = {name: run for name, run in record["runs"].items() if run["noise"] == noise}
        if not runs:  # a partial record: this level has no finished run yet
            continue
        mR = {variant: mR_by_seed(runs, variant) for variant in record["design"]["variants"]}
        prior = record["priors"].get(f"{noise:g}", {"accuracy": np.nan})  # a partial level may not have its prior yet
        row = {"noise": noise, "prior accuracy (%)": prior["accuracy"]}
        row |= {VARIANT_LABELS[v]: format_mean_std(list(seeds.values())) if seeds else "–" for v, seeds in mR.items()}
        gaps = paired_comparison(mR, NOISE_GAPS, margin)
        for gap, (_, second) in zip(gaps.to_dict(orient="records"), NOISE_GAPS, strict=True):
            name = f"PIR − {VARIANT_LABELS[second]}"
            row |= {name: gap["difference"], f"{name} low": gap["95% CI low"], f"{name} high": gap["95% CI high"],
                    f"{name} verdict": gap["verdict"]}  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows).set_index("noise")


def noise_trend(record: dict, margin: float = NO_EFFECT_MARGIN) -> pd.DataFrame:
    """Does PIR's gap grow with the semantic noise, as the paper's premise predicts? For PIR − baseline and PIR − the
    fusion control: the per-seed gap (paired by seed within a level) at the heaviest and at the lightest level with
    two or more seeds, and the change between them with its 95 % Welch interval (the two levels train on different
    data, so seeds do not pair across them), the smallest change that design detects (80 % power, from the two
    levels' pooled gap std and the fewer seeds) and the verdict on "the gap grows" (`claim_verdict`)."""
    rows = {}
    for first, second in NOISE_GAPS:
        gaps = {}
        for noise in record["design"]["noise"]:
            runs = {name: run for name, run in record["runs"].items() if run["noise"] == noise}
            a, b = mR_by_seed(runs, first), mR_by_seed(runs, second)
            per_seed = [a[seed] - b[seed] for seed in sorted(set(a) & set(b))]
            if len(per_seed) >= 2:
                gaps[noise] = per_seed
        if len(gaps) < 2:
            continue
        light, heavy = min(gaps), max(gaps)
        change, low, high = difference_interval(gaps[heavy], gaps[light])
        pooled_std = np.sqrt((mean_std(gaps[light])[1] ** 2 + mean_std(gaps[heavy])[1] ** 2) / 2)
        seeds = min(len(gaps[light]), len(gaps[heavy]))
        rows[f"PIR − {VARIANT_LABELS[second]}"] = {
            "lightest noise": light,
            "gap at lightest": mean_std(gaps[light])[0],
            "heaviest noise": heavy,
            "gap at heaviest": mean_std(gaps[heavy])[0],
            "change": change,
            "95% CI low": low,
            "95% CI high": high,
            "seeds": f"{len(gaps[light])}, {len(gaps[heavy])}",
            "detectable": minimal_detectable_difference(float(pooled_std), seeds, paired=False),
            "the gap grows with noise": claim_verdict(low, high, margin),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("gap (paired by seed within a level)")


PREDICTION_VERDICTS = {
    "supports": "the study supports it",
    "contradicts": "the study contradicts it: the gap shrinks",
    "cannot decide": "the study cannot decide",
}


def noise_sweep_finding(trend: pd.DataFrame, complete: bool = True) -> str:
    """What the noise sweep found about the premise's prediction, one Markdown line per gap of `noise_trend`."""
    if trend.empty:
        return "The noise sweep has fewer than two levels with two or more seeds: no trend to judge yet."
    lines = []
    for gap, row in trend.iterrows():
        found = PREDICTION_VERDICTS.get(row["the gap grows with noise"], f"{row['the gap grows with noise']} mR")
        lines.append(
            f"- **{gap}**: {row['gap at lightest']:+.2f} mR at noise {row['lightest noise']:g}, "
            f"{row['gap at heaviest']:+.2f} mR at noise {row['heaviest noise']:g}; change "
            f"{row['change']:+.2f} mR, 95 % Welch interval [{row['95% CI low']:+.2f}, {row['95% CI high']:+.2f}] "
            f"(seeds {row['seeds']}). The premise predicts that it grows: {found}."
        )
    caveat = "" if complete else "\n\n*Partial record: not every run of the sweep has finished.*"
    return "\n".join(lines) + caveat


def noise_sweep_figure(table: pd.DataFrame) -> plt.Figure:
    """PIR − baseline and PIR − the fusion control against the semantic-noise level, each with its paired 95 %
    interval over seeds as error bars."""
    figure, axis = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    styles = (("tab:blue", -0.02), ("tab:orange", 0.02))  # side by side at each level
    for (colour, offset), (_, second) in zip(styles, NOISE_GAPS, strict=True):
        name = f"PIR − {VARIANT_LABELS[second]}"
        x = table.index.to_numpy(dtype=float) + offset
        below, above = table[name] - table[f"{name} low"], table[f"{name} high"] - table[name]
        axis.errorbar(x, table[name], yerr=[below, above], marker="o", capsize=4, color=colour, label=name)
    axis.axhline(0.0, color="grey", linewidth=1, linestyle=":", label="no difference")
    axis.set_xlabel("SynthRS semantic-noise level")
    axis.set_ylabel("difference in test mR (paired 95 % interval)")
    axis.set_title("PIR's gap against the semantic noise (recorded study)")
    axis.legend(frameon=False, fontsize=8)
    figure.tight_layout()
    return figure


STUDY_FILES = {
    "plateau": "plateau.json",
    "prior-quality": "prior_quality.json",
    "ablations": "ablations.json",
    "variance": "variance.json",
    "decisive": "decisive.json",
    "test-set": "test_set.json",
    "test-galleries": "test_galleries.json",
    "noise-sweep": "noise_sweep.json",
    "weight-average": "weight_average.json",
    "learning-rate": "learning_rate.json",
}


def _provenance(record: dict) -> str:
    machine = record["machine"]
    return (f"`{record['command']}` on {machine['cpu']} (torch {machine['torch']}), {record['date']}; "
            f"{len(record['runs'])} runs, beside the {len(record['default_runs'])} default runs.")  # fmt: skip


def _partial(record: dict) -> str:
    """The warning a partial record (`--finished-only`) opens with, or nothing."""
    return "" if record.get("complete", True) else "**Partial: the study has not finished all its runs.**\n\n"


def write_summary(studies_dir: str | os.PathLike) -> Path:
    """Write `studies_dir/README.md`: every recorded study's tables, with its command, machine and date, generated
    from the records in `studies_dir` (so the page never disagrees with them)."""
    studies_dir = Path(studies_dir)
    parts = [
        "# Recorded studies\n\n"
        "Written by `pirlib.tutorial.study_summaries.write_summary` from the records in this folder (do not edit by "
        "hand). Each study varies the default runs of notebook 03 and is trained by the same code. Differences carry "
        "95 % t-intervals: paired by seed in the decisive study, the lever studies and within each level of the "
        "noise sweep, whose variants share every random source at one seed (common random numbers); Welch over seeds "
        "for the noise sweep's change between two levels (each level trains on its own data) and in the 3-seed "
        "studies (plateau, prior quality, ablations). A difference is claimed only when its interval excludes zero.\n"
    ]
    for name, file in STUDY_FILES.items():
        record = recorded(studies_dir / file)
        if record is None:
            parts.append(f"## {name}\n\nNot recorded yet (`python -m pirlib.tutorial.studies {name}`).\n")
            continue
        parts.append(f"## {name} (`{file}`)\n\n{_provenance(record)}\n")
        if name == "plateau":
            parts.append(markdown_table(plateau_table(record)))
        elif name == "prior-quality":
            table, figure = prior_quality_table(record)
            plt.close(figure)
            parts.append(markdown_table(table))
        elif name == "variance":
            table = markdown_table(variance_table(record))
            parts.append(f"{_partial(record)}{table}\n{variance_precision(record)}\n")
        elif name == "noise-sweep":
            trend = noise_trend(record)
            parts.append(_partial(record) + markdown_table(noise_sweep_table(record))
                         + ("\n" + markdown_table(trend) if len(trend) else ""))  # fmt: skip
        elif "lever" in record.get("design", {}):  # a lever study of `studies.LEVERS`
            parts.append(markdown_table(lever_table(record)))
        elif name == "test-set":
            parts.append(markdown_table(test_set_table(record)))
        elif name == "test-galleries":
            claims, spreads = test_galleries_tables(record)
            parts.append(markdown_table(claims) + "\n" + markdown_table(spreads))
        elif name == "decisive":
            metrics, comparisons = decisive_tables(record)
            parts.append(_partial(record) + markdown_table(metrics) + "\n"
                         + markdown_table(comparisons))  # fmt: skip
        else:
            metrics, differences = ablation_tables(record)
            parts.append(markdown_table(metrics) + "\n" + markdown_table(differences))
    out = studies_dir / "README.md"
    out.write_text("\n".join(parts))
    return out


if __name__ == "__main__":
    import sys

    print(f"wrote {write_summary(sys.argv[1] if len(sys.argv) > 1 else 'docs/studies')}")
