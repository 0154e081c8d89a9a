"""The benchmark report: Markdown tables for the terminal and docs/benchmarks.md, from the results dict."""

from __future__ import annotations

import pandas as pd

from pirlib.markdown import markdown_table

TRAINING_COLUMNS = {
    "config": "config",
    "batch_size": "batch",
    "precision": "precision",
    "pairs_per_s": "pairs/s (end to end)",
    "model_pairs_per_s": "pairs/s (model only)",
    "data_pairs_per_s": "pairs/s (data only)",
    "step_ms": "ms/step",
    "cpu_ms_per_pair": "CPU ms/pair",
    "pairs_per_cpu_s": "pairs/CPU-s",
    "peak_memory_mib": "peak MiB",
    "gflop_per_pair": "GFLOP/pair",
    "mfu_percent": "MFU %",
    "target_pairs_per_s": "target pairs/s",
    "meets_target": "meets target",
}


def _table(rows: list[dict], columns: dict[str, str], float_format: str = ".1f") -> str:
    frame = pd.DataFrame([{title: row.get(key) for key, title in columns.items()} for row in rows])
    return markdown_table(frame, float_format, index=False)


def format_report(results: dict) -> str:
    """All sections present in `results` as Markdown."""
    machine = results["machine"]
    lines = [
        f"device: {machine['device_name']} ({machine['device']}), torch {machine['torch']}, "
        f"{machine['threads']} CPU threads, load average {machine['load_average_start']} → "
        f"{machine['load_average_end']}",
    ]
    for rate in results.get("matmul", []):
        lines.append(f"measured {rate['dtype']} matmul rate ({rate['size']}²): {rate['flop_per_s'] / 1e12:.3f} TFLOP/s")
    if results.get("training"):
        lines += ["", "Training throughput", "", _table(results["training"], TRAINING_COLUMNS)]
    if results.get("components"):
        frame = pd.DataFrame(results["components"])
        total = frame.groupby(["config", "batch_size"])["cpu_ms"].transform("sum")
        frame["CPU share %"] = 100 * frame["cpu_ms"] / total
        frame = frame.rename(columns={"batch_size": "batch", "wall_ms": "wall ms", "cpu_ms": "CPU ms"})
        title = "Where a step's time goes (each part alone, forward + backward)"
        lines += [title, "", markdown_table(frame, ".1f", False)]
    if results.get("embedding"):
        columns = {"config": "config", "batch_size": "batch", "images_per_s": "images/s", "texts_per_s": "texts/s"}
        lines += ["Embedding throughput (eval mode)", "", _table(results["embedding"], columns)]
    if results.get("hotspots"):
        columns = {
            "hot_spot": "hot spot",
            "shape": "shape",
            "fast_ms": "pirlib ms",
            "naive_ms": "naive ms",
            "speedup": "speed-up ×",
            "max_abs_difference": "max |difference|",
        }
        frame = pd.DataFrame([{title: row[key] for key, title in columns.items()} for row in results["hotspots"]])
        frame["max |difference|"] = frame["max |difference|"].map(lambda value: f"{value:.1e}")
        lines += ["Hot spots: pirlib against a naive reference, same run", "", markdown_table(frame, ".2f", False)]
    return "\n".join(lines)
