"""Benchmark: phantom radiographs rendered per second on ONE core (rheumabook.phantom.render).

Usage::

    python benchmarks/bench_phantom.py                 # 20 radiographs at 2048 and at 1400 px
    python benchmarks/bench_phantom.py --n 50 --sizes 2048

OpenCV is pinned to one thread (cv2.setNumThreads(1)) and the BLAS/OpenMP pools to one, so
the figure is per core; a data set writer can run one renderer per core. Prints the mean
rate over N seeds, the best wall time of one radiograph and the mean CPU time per radiograph
(on a shared, busy machine the wall-clock figures are pessimistic; best-of-N and CPU time are
the better estimates). The goal is >= 5 radiographs/s at the default size.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402

from rheumabook import phantom  # noqa: E402


def bench(size: int, n: int) -> dict:
    """Render seeds 0..n-1 at `size`; per-image wall times in seconds."""
    phantom.render(10_000, size=size)  # warm-up: imports, caches, first allocations
    times, cpu = [], []
    for seed in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        phantom.render(seed, size=size)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"size": size, "n": n, "mean_s": statistics.fmean(times), "best_s": min(times),
            "median_s": statistics.median(times), "rate": n / sum(times), "cpu_s": statistics.fmean(cpu)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="radiographs per size (default 20)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[phantom.DEFAULT_SIZE, 1400],
                        help="image widths in pixels (default 2048 1400)")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")
    cv2.setNumThreads(1)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"phantom benchmark, one core (cv2.setNumThreads(1)); {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {load[0]:.1f}" if load else "")
    for size in args.sizes:
        r = bench(size, args.n)
        h = round(size * phantom.ASPECT)
        print(f"size {size:5d} ({size}x{h}, {phantom.FIELD_WIDTH_MM / size:.3f} mm/px): "
              f"{r['rate']:5.1f} radiographs/s (mean {1000 * r['mean_s']:6.1f} ms, median {1000 * r['median_s']:6.1f} ms, "
              f"best of {r['n']} {1000 * r['best_s']:6.1f} ms = {1 / r['best_s']:5.1f}/s; "
              f"CPU time {1000 * r['cpu_s']:6.1f} ms/radiograph = {1 / r['cpu_s']:5.1f}/s per core)")


if __name__ == "__main__":
    main()
