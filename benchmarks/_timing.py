"""Shared by the benchmarks (run them as scripts: `python benchmarks/NAME.py`)."""

import time


def best_of(fn, repeat: int) -> float:
    """Fastest wall time of `repeat` calls, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
