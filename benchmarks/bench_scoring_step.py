"""What a quick-profile scoring step spends outside the model: CropAndPad and the AdamW update, old and new way.

Run:  .venv/bin/python benchmarks/bench_scoring_step.py [--batch 32] [--repeats 50]

Chapter 5 spends most of its CPU minutes in `scoring.train_scorer`'s steps. Besides the model's forward and
backward passes, each step augments its batch and updates the weights. This prints milliseconds per step
(best and median of `--repeats`) on the CPU with 2 threads, for:

- CropAndPad by torchvision's ``v2.RandomCrop``, called once per crop (as before) and by
  `scoring.augment.CropAndPad.batch` (the batch padded once; the same draws, the same pixels);
- AdamW over the quick scorer's parameters, with a Python loop over them (torch's CPU default) and
  ``foreach=True`` (what `training.make_optimizer` asks for; the same arithmetic).

Both new ways give the old results bit for bit (tests/test_scoring_train.py, tests/test_training.py).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")  # before torch: the book's 2-core laptop
import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Callable  # noqa: E402

import torch  # noqa: E402

from rheumabook.profiles import QUICK  # noqa: E402
from rheumabook.scoring import build_scorer  # noqa: E402
from rheumabook.scoring.augment import CropAndPad, augment_crops  # noqa: E402


def timed(step: Callable[[], None], repeats: int) -> tuple[float, float]:
    """(best, median) milliseconds of `step` over `repeats` calls, after one warm-up call."""
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(1e3 * (time.perf_counter() - start))
    return min(times), statistics.median(times)


def main() -> None:
    from torchvision.transforms import v2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=QUICK.scoring.batch_size)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    size = QUICK.scoring.crop_size
    pad = max(1, int(round(0.1 * size)))
    x = torch.rand(args.batch, 1, size, size)
    generator = torch.Generator().manual_seed(0)
    rows = {"CropAndPad, v2.RandomCrop per crop": lambda: augment_crops(x, generator, v2.Compose([
                v2.RandomCrop(size, padding=pad, fill=0.0)])),
            "CropAndPad, batched (CropAndPad.batch)": lambda: augment_crops(x, generator, CropAndPad(size, pad))}
    model = build_scorer(QUICK.scoring)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    for foreach in (False, True):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2, foreach=foreach)
        rows[f"AdamW step, foreach={foreach}"] = optimizer.step
    n = sum(p.numel() for p in model.parameters())
    print(f"quick scorer ({n / 1e6:.2f} M parameters), batch {args.batch} of {size}-px crops, "
          f"{torch.get_num_threads()} threads; ms per step, best / median of {args.repeats}:")
    for name, step in rows.items():
        best, median = timed(step, args.repeats)
        print(f"  {name:42s} {best:7.2f} / {median:7.2f}")


if __name__ == "__main__":
    main()
