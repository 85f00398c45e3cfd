"""Joint crops scored per second by `rheumabook.scoring.ScoringModel` (paper §3.3), CPU and CUDA.

Run:  .venv/bin/python benchmarks/bench_scoring.py [--profile quick] [--train]
      .venv/bin/python benchmarks/bench_scoring.py --backbone tiny_vit_5m_224 --size 64 96 224

For each (backbone, crop size) it prints crops per second of inference (eval mode,
``torch.inference_mode``) on the CPU with 2 threads -- the book's laptop -- and on CUDA
when present (float32 and bf16 autocast), with timm's fused attention
(``F.scaled_dot_product_attention``) and without it (every module's ``fused_attn`` set to
False: the explicit softmax(QK^T)V that attention rollout, chapter 7, needs to read the
attention). ``--train`` adds training steps (forward + backward + AdamW, focal loss) with
the backbone frozen (stage 1 of paper §3.4) and unfrozen (stage 2). It also times
`crop_joints` itself: 42 joints cut from a full-size radiograph.

The defaults come from the profile's `ScoringConfig` (backbone, crop size, batch size).
Figures are best-of-N (on a shared machine the best is the fairer figure) and the median.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")  # before torch: the book's 2-core laptop
import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rheumabook.profiles import get_profile  # noqa: E402
from rheumabook.scoring import ScoringModel, crop_joints, focal_loss  # noqa: E402


def set_fused_attention(model: torch.nn.Module, fused: bool) -> int:
    """Switch timm's fused attention on or off in every module that has it; returns how many it touched."""
    touched = 0
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = fused
            touched += 1
    return touched


def rates(step: Callable[[], None], batch: int, repeats: int, min_seconds: float, sync: Callable[[], None]
          ) -> tuple[float, float]:
    """(best, median) crops per second of `step`, each of `repeats` rounds lasting >= `min_seconds`."""
    step()
    sync()  # warm-up: allocations, cuDNN/oneDNN plans
    results = []
    for _ in range(repeats):
        count, start = 0, time.perf_counter()
        while True:
            step()
            count += 1
            sync()
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        results.append(batch * count / elapsed)
    return max(results), statistics.median(results)


def inference_step(model: ScoringModel, crops: torch.Tensor, autocast: bool) -> Callable[[], None]:
    def step() -> None:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            model(crops)
    return step


def train_step(model: ScoringModel, crops: torch.Tensor, autocast: bool) -> Callable[[], None]:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=1e-2)
    generator = torch.Generator().manual_seed(0)
    erosion = torch.randint(0, 6, (len(crops),), generator=generator).to(crops.device)
    jsn = torch.randint(0, 5, (len(crops),), generator=generator).to(crops.device)

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            parts = model.split_logits(model(crops))
        loss = focal_loss(parts["erosion"], erosion, 6) + focal_loss(parts["jsn"], jsn, 5)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return step


def bench_model(backbone: str, size: int, batch: int, device: str, args: argparse.Namespace,
                backbone_kwargs: dict) -> None:
    torch.manual_seed(0)
    model = ScoringModel(backbone, img_size=size, backbone_kwargs=backbone_kwargs).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    crops = torch.randn(batch, 1, size, size, device=device)
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    precisions = (False, True) if device == "cuda" else (False,)
    for fused in (True, False):
        touched = set_fused_attention(model, fused)
        if touched == 0 and not fused:
            break  # no attention modules (a CNN): nothing to switch off
        label = f"{'fused' if fused else 'unfused'} attention ({touched} modules)" if touched else "no attention"
        for autocast in precisions:
            where = f"{device}{' bf16' if autocast else ''}"
            best, median = rates(inference_step(model.eval(), crops, autocast), batch, args.repeats, args.seconds, sync)
            line = f"{backbone:>22} @ {size:3d} px  {n_params:5.2f} M  {where:9s} {label:32s} " \
                   f"eval {best:8.1f} crops/s (median {median:8.1f})"
            if args.train:
                for frozen in (True, False):
                    model.freeze_backbone(frozen)
                    best, _ = rates(train_step(model.train(), crops, autocast), batch, args.repeats, args.seconds,
                                    sync)
                    line += f"  train[{'frozen' if frozen else 'all'}] {best:7.1f}"
                model.freeze_backbone(False)
            print(line, flush=True)


def bench_crops(size: int, repeats: int) -> None:
    """Crops cut per second: 42 joints (two hands) of a 2400 x 1900 uint16 radiograph."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 4096, size=(1900, 2400), dtype=np.uint16)
    centres = rng.uniform(200, 1700, size=(42, 2))
    sides = rng.uniform(60, 140, size=(42, 1))
    boxes = np.hstack([centres - sides / 2, centres + sides / 2])
    hands = ["left"] * 21 + ["right"] * 21
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        crop_joints(image, boxes, factor=(1.0, 4.0), size=size, hands=hands, rng=1)
        times.append(time.perf_counter() - start)
    print(f"crop_joints: 42 crops of {size} px from a 2400 x 1900 radiograph: {42 / min(times):8.0f} crops/s "
          f"(best of {repeats})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="auto", help="profile whose ScoringConfig gives the defaults")
    parser.add_argument("--backbone", nargs="+", help="timm names (default: the profile's)")
    parser.add_argument("--kwargs", type=json.loads, help="timm keywords as JSON (default: the profile's "
                        "backbone_kwargs for the profile's backbone)")
    parser.add_argument("--size", type=int, nargs="+", help="crop sizes in pixels (default: the profile's)")
    parser.add_argument("--batch", type=int, help="crops per batch (default: the profile's batch size)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.5, help="minimum length of one timed round")
    parser.add_argument("--train", action="store_true", help="also time training steps (frozen / unfrozen)")
    parser.add_argument("--cpu-only", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.set_num_threads(args.threads)
    config = get_profile(args.profile).scoring
    backbones = args.backbone or [config.backbone]
    sizes = args.size or [config.crop_size]
    batch = args.batch or config.batch_size
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.cpu_only else [])
    print(f"torch {torch.__version__}, {args.threads} CPU threads, devices {devices}, batch {batch}")
    for size in sizes:
        bench_crops(size, args.repeats)
    for device in devices:
        for backbone in backbones:
            for size in sizes:
                kwargs = args.kwargs if args.kwargs is not None else (
                    config.backbone_kwargs if backbone == config.backbone else {})
                bench_model(backbone, size, batch, device, args, kwargs)


if __name__ == "__main__":
    main()
