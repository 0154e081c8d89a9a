"""Measurement helpers of the benchmarks: synchronised timing, peak memory, the measured GEMM rate.

Every timing synchronises the device before reading the clock, so asynchronous CUDA work is counted. Peak memory is
`torch.cuda.max_memory_allocated` on CUDA; on the CPU it is the highest resident set size (RSS) of the process seen
by a sampling thread during the measurement, which includes everything the process already holds.
"""

from __future__ import annotations

import resource
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

RSS_SAMPLE_SECONDS = 0.005  # how often the CPU memory sampler reads /proc/self/statm


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, warmup: int = 1, repeats: int = 3) -> dict[str, float]:
    """Run `fn` `warmup` times untimed, then `repeats` times; median and best seconds per call."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        runs.append(time.perf_counter() - start)
    return {"seconds": statistics.median(runs), "best_seconds": min(runs), "repeats": repeats}


def _resident_bytes() -> int:
    statm = Path("/proc/self/statm")
    if statm.is_file():
        return int(statm.read_text().split()[1]) * resource.getpagesize()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # lifetime peak (Linux reports KiB)


class PeakMemory:
    """Context manager: `.peak_bytes` is the peak device memory (CUDA) or process RSS (CPU) inside the block."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self.peak_bytes = max(self.peak_bytes, _resident_bytes())

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.peak_bytes = _resident_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()
            self.peak_bytes = max(self.peak_bytes, _resident_bytes())

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / 2**20


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int, repeats: int = 5) -> dict[str, float]:
    """The measured dense matrix-multiply rate: FLOP/s of a [size, size] @ [size, size] product in `dtype`."""
    generator = torch.Generator(device="cpu").manual_seed(0)
    left = torch.randn(size, size, generator=generator).to(device, dtype)  # [size, size]
    right = torch.randn(size, size, generator=generator).to(device, dtype)  # [size, size]
    timing = time_call(lambda: left @ right, device, warmup=2, repeats=repeats)
    return {"size": size, "dtype": str(dtype).replace("torch.", ""), "flop_per_s": 2 * size**3 / timing["best_seconds"]}
