"""Shared helpers of the benchmarks: medians of repeats and a description of the machine."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def median_time(fn, repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def load() -> str:
    """The load average (1, 5, 15 minutes), to be recorded next to every time."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu() -> str:
    """The CPU's model name, and whether it has AVX-512 (numpy's ``exp`` is about 4 times faster with it)."""
    try:
        info = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        info = []
    names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    flags = next((set(line.split(":", 1)[1].split()) for line in info if line.startswith("flags")), None)
    name = names[0] if names else platform.processor() or "unknown CPU"
    if flags is None:
        return name
    return f"{name}, {'AVX-512' if 'avx512f' in flags else 'AVX2' if 'avx2' in flags else 'no AVX2'}"


def machine() -> str:
    return (
        f"{cpu()}; {os.cpu_count()} cores; Python {platform.python_version()}; numpy {np.__version__}; "
        f"{platform.system()} {platform.release()}; load average at the start {load()}"
    )
