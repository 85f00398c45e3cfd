"""Seconds per `seam.split_hands` call at 1024 and 2048 pixels, on one core (paper §3.2).

Run:  .venv/bin/python benchmarks/bench_seam.py [--repeats 7]

Radiographs come from `rheumabook.phantom.render` (square size x size, so the 2048 case
is the 2048x2048 of the target: <= 0.2 s per split). Prints best-of-N and the median:
on a shared machine the best is the fairer figure, the median shows the noise.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy: one core for BLAS too
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from rheumabook import seam  # noqa: E402


def radiograph(size: int, seed: int = 0, dtype: type = np.uint8) -> tuple[np.ndarray, str]:
    """A size x size phantom radiograph (falls back to two synthetic blobs if the phantom is missing)."""
    try:
        from rheumabook import phantom
    except ImportError:
        rng = np.random.default_rng(seed)
        img = np.full((size, size), 0.1, np.float32)
        for cx in (0.27, 0.73):
            cv2.ellipse(img, (int(cx * size), size // 2), (size // 7, int(size * 0.4)), 0, 0, 360, 0.7, -1)
        img += rng.normal(0, 0.03, img.shape).astype(np.float32)
        top = np.iinfo(dtype).max
        return (np.clip(img, 0, 1) * top).astype(dtype), "synthetic two-blob image (phantom not found)"
    rad = phantom.render(seed, size=size, dtype=dtype)
    image = rad.image
    if image.shape[0] != size:  # the phantom is landscape: pad the height to a square size x size
        pad = size - image.shape[0]
        if pad > 0:
            image = np.pad(image, ((pad // 2, pad - pad // 2), (0, 0)), mode="edge")
        else:
            image = image[:size]
    return np.ascontiguousarray(image), "phantom.render"


def time_split(image: np.ndarray, repeats: int) -> list[float]:
    """Wall-clock seconds of `repeats` splits (after one warm-up call)."""
    seam.split_hands(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        seam.split_hands(image)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--dtypes", nargs="+", default=["uint8", "uint16"], choices=["uint8", "uint16"])
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print(f"split_hands, one core (cv2.setNumThreads(1)), best and median of {args.repeats}")
    for dtype in args.dtypes:
        for size in args.sizes:
            image, source = radiograph(size, dtype=np.dtype(dtype).type)
            times = time_split(image, args.repeats)
            print(f"{image.shape[0]}x{image.shape[1]} {image.dtype} ({source}): "
                  f"best {min(times):.3f} s, median {statistics.median(times):.3f} s per split")


if __name__ == "__main__":
    main()
