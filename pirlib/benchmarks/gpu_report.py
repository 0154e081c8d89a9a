"""The GPU check's report (`pirlib.benchmarks.gpu_check`): the figures each part left in its folder, `report.json`
and `summary.md`. Reading a part's files never fails the report: a part that wrote nothing has no figures."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

EVAL_KEYS = ("steps", "total_steps", "device", "precision", "pairs_per_s", "train_seconds", "wall_seconds_last_session")
BENCH_KEYS = ("config", "batch_size", "pairs_per_s", "model_pairs_per_s", "data_pairs_per_s", "mfu_percent")
BENCH_KEYS += ("peak_memory_mib", "warmup_seconds", "target_pairs_per_s", "meets_target")


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _test_results(junit: Path) -> dict:
    """Counts and per-test outcome (passed, failed, error or skipped, with the first line of the message)."""
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return {}
    tests = {}
    for case in root.iter("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            found = case.find(kind)
            if found is not None:
                outcome, message = ("failed" if kind == "failure" else kind), (found.get("message") or "")
        tests[case.get("name")] = {
            "outcome": outcome,
            "seconds": round(float(case.get("time", 0)), 1),
            "message": message.splitlines()[0][:300] if message else "",
        }
    outcomes = [test["outcome"] for test in tests.values()]
    return {"counts": {name: outcomes.count(name) for name in ("passed", "failed", "error", "skipped")}, "tests": tests}


def _eval_figures(results: dict) -> dict:
    return {
        **{key: results.get(key) for key in EVAL_KEYS},
        "test_mR": (results.get("test") or {}).get("mR"),
        "selection": results.get("selection"),
    }


def _bench_figures(results: dict) -> dict:
    return {
        "device_name": results.get("machine", {}).get("device_name"),
        "training": [{key: row.get(key) for key in BENCH_KEYS} for row in results.get("training", [])],
        "components": results.get("components", []),
        "embedding": results.get("embedding", []),
        "hotspots": results.get("hotspots", []),
        "errors": results.get("errors", []),
    }


def collect_figures(part: str, out: Path, outputs: dict[str, str]) -> dict:
    """The figures of `part` from the files it wrote (empty where it wrote none)."""
    if part == "environment":
        return _read_json(out / "environment" / "environment.json") or {}
    if "junit" in outputs:
        return _test_results(out / outputs["junit"])
    loaded = {name: _read_json(out / path) for name, path in outputs.items()}
    if loaded.get("eval"):
        return _eval_figures(loaded["eval"])
    if loaded.get("overhead"):
        return loaded["overhead"]
    if loaded.get("bench"):
        return _bench_figures(loaded["bench"])
    return {}


def _number(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def summary_markdown(report: dict) -> str:
    """The short Markdown summary of a report."""
    parts = {part["name"]: part for part in report["parts"]}
    lines = [
        "# GPU check",
        "",
        f"{report['passed']} of {len(report['parts'])} parts passed in {report['total_seconds']:.0f} s "
        f"(budget {report['budget_seconds']:.0f} s), {report['finished']}.",
        "",
        "| part | status | seconds (limit) | what |",
        "| --- | --- | ---: | --- |",
    ]
    for part in report["parts"]:
        seconds = f"{part.get('seconds', 0):.0f} ({part['limit_seconds']})"
        status = part["status"] + (f": {part['reason']}" if part.get("reason") else "")
        lines.append(f"| {part['name']} | {status} | {seconds} | {part['what']} |")
    environment = parts.get("environment", {}).get("figures") or {}
    if environment:
        devices = ", ".join(environment.get("devices") or []) or "none"
        lines += [
            "",
            f"GPU: {devices}; CUDA {environment.get('cuda_version')}; torch {environment['packages']['torch']}.",
        ]
    tests = (parts.get("gpu-tests", {}).get("figures") or {}).get("tests", {})
    failing = {name: test for name, test in tests.items() if test["outcome"] in ("failed", "error")}
    if tests:
        counts = parts["gpu-tests"]["figures"]["counts"]
        lines += ["", "## GPU tests", "", ", ".join(f"{count} {name}" for name, count in counts.items() if count)]
        lines += [f"- {name}: {test['message']}" for name, test in failing.items()]
    training = [(name, parts.get(name, {}).get("figures") or {}) for name in ("train", "resume")]
    if any(figures for _, figures in training):
        lines += ["", "## Paper profile on SynthRS 224 px (random initial weights)", ""]
        lines += ["| run | steps | pairs/s | test mR | precision |", "| --- | ---: | ---: | ---: | --- |"]
        for name, figures in training:
            if figures:
                lines.append(
                    f"| {name} | {figures['steps']} of {figures['total_steps']} | {_number(figures['pairs_per_s'])} | "
                    f"{_number(figures['test_mR'], 2)} | {figures['precision']} |"
                )
    overhead = parts.get("overhead", {}).get("figures") or {}
    if overhead:
        timings = overhead["timings"]
        lines += [
            "",
            "## Evaluation and checkpoint overhead",
            "",
            f"One evaluation ({timings['evaluation_images']} images, {timings['evaluation_captions']} captions): "
            f"{timings['evaluation_seconds']:.2f} s; last/ save {timings['save_last_seconds']:.1f} s, best/ save "
            f"{timings['save_best_seconds']:.1f} s. Share of RSITMD training (50 epochs, evaluations scaled to its "
            "validation + test images, a best/ save at each):",
            "",
        ]
        for label, key in (
            ("paper profile's periods at 4,000 pairs/s", "paper_profile_at_target"),
            ("paper profile's periods at the measured rate", "paper_profile_at_measured_rate"),
            ("every epoch at 4,000 pairs/s", "every_epoch_at_target"),
        ):
            projected = overhead[key]
            lines.append(
                f"- {label}: {projected['overhead_percent']:.1f} % ({projected['overhead_seconds']:.0f} s beside "
                f"{projected['train_seconds']:.0f} s of training)"
            )
    rows = [
        (name, row)
        for name, part in parts.items()
        if name.startswith("bench-")
        for row in (part.get("figures") or {}).get("training", [])
    ]
    if rows:
        lines += ["", "## pirlib bench", "", "| entry | batch | pairs/s | model only | MFU % | peak MiB |"]
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for _, row in rows:
            lines.append(
                f"| {row['config']} | {row['batch_size']} | {_number(row['pairs_per_s'])} | "
                f"{_number(row['model_pairs_per_s'])} | {_number(row['mfu_percent'])} | "
                f"{_number(row['peak_memory_mib'], 0)} |"
            )
    return "\n".join(lines) + "\n"


def write_report(out: Path, parts: list[dict], budget: float) -> dict:
    """report.json and summary.md in `out`; returns the report."""
    report = {
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "budget_seconds": budget,
        "total_seconds": sum(part.get("seconds", 0) for part in parts),
        "passed": sum(part["status"] == "passed" for part in parts),
        "parts": parts,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "summary.md").write_text(summary_markdown(report))
    return report
