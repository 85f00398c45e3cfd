"""Benchmark: the end-to-end RheumaVIT pipeline, radiographs per second and where the time goes (issue 12).

    python benchmarks/bench_pipeline.py [--threads 2] [--device cpu|cuda|all] [--crop-sizes 128 224]
        [--radiographs 8] [--image-size 2048] [--localizer quick|full] [--batch-size 1] [--models DIR]
        [--variants as-trained fused bfloat16 bfloat16-tiled]

Phantom radiographs are rendered once and written as PNG files, so that reading counts too; each
setting scores them end to end (`RheumaVIT.score_many`, after one warm-up radiograph) and reports
the seconds per bilateral radiograph, radiographs per second and the split between the stages
(read, seam, localise, crop, score: `RheumaVIT.timings`). The floating-point operations of the two
model stages are counted with `torch.utils.flop_counter.FlopCounterMode` (one radiograph: two hand
images through the localiser, 42 crops through the scorer; a multiply-add counts as 2 FLOPs), so a
time can be read against the machine's peak; the seam, framing and crops are numpy/OpenCV work
and carry no FLOP count.

Models: untrained ones built from the configs (`--localizer` picks the quick or full profile's
localiser, its output fixed at the phantom hands' mean layout (`BoxRegressor.set_prior` with zero
weights; an untrained EfficientNetV2-S otherwise predicts boxes of any size, and cropping those
costs what real boxes never do); the scorer is the paper's TinyViT-5M, timm's
``tiny_vit_5m_224``, at each crop size): speed does not depend on the weights otherwise. ``--models DIR`` loads trained checkpoints instead (their
own crop size; ``--crop-sizes`` is then ignored). Each crop size runs in three variants of the
scorer: "as-trained" (batch norm as a layer, NCHW), "fused" (batch norm folded into the
convolutions, channels-last, TinyViT's attention biases frozen as 4-D masks so PyTorch's fused
attention kernel takes them, crops in cache-sized chunks: what the pipeline runs by default,
`pipeline.inference`) and
"bfloat16" (fused, under bf16 autocast), and "bfloat16-tiled": the same with TinyViT's windows
scaled with the crop (`scoring.backbones.tiling_windows`: at 128 px (4, 4, 8, 4), so no stage attends
over zero padding; at 224 px it is the paper's model). The machine's load average is printed with the table:
other processes on the cores slow every row.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def flops(module: torch.nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass of `module` on `x` (FlopCounterMode: 2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        module(x)
    return int(counter.get_total_flops())


def build_pipeline(crop: int, localizer: str, device: str, models: str | None, precision: str = "float32",
                   fast: bool = True, tiled: bool = False):
    """A `RheumaVIT` of untrained models of the given shapes (or the checkpoints in `models`)."""
    from rheumabook import localize, scoring
    from rheumabook.pipeline import RheumaVIT
    from rheumabook.profiles import FULL, QUICK
    from rheumabook.training import seeded

    if models is not None:
        return RheumaVIT.from_folder(models, device=device, precision=precision, channels_last=fast)
    loc_config = (QUICK if localizer == "quick" else FULL).localizer
    hands = localize.render_phantom_hands(4, 0, tuple(loc_config.input_size), progress=False)
    model = seeded(0, lambda: localize.build_model(loc_config))
    model.set_prior(localize.mean_boxes(hands), weight_scale=0.0)  # the mean layout, whatever the image
    config = FULL.scoring.replace(crop_size=crop)  # tiny_vit_5m_224 as timm builds it, at this crop size
    if tiled:  # windows scaled with the crop so they tile each stage's grid (no padded tokens)
        config = config.replace(backbone_kwargs={"window_sizes": scoring.backbones.tiling_windows(crop)})
    scorer = scoring.Scorer([seeded(0, lambda: scoring.build_scorer(config))], config)
    pipe = RheumaVIT(model, loc_config, scorer, device=device, precision=precision, channels_last=fast)
    if not fast:  # the scorer as trained: batch norm unfolded, NCHW
        pipe.score_models = [m.to(device).eval() for m in scorer.models]
    return pipe


def stage_flops(pipe) -> dict[str, float]:
    """GFLOP per radiograph of the localiser (2 hands) and the scorer (42 crops)."""
    from rheumabook.localize import N_JOINTS

    h, w = pipe.localizer_config.input_size
    loc = flops(pipe.localizer, torch.zeros(2, 1, h, w, device=pipe.device))
    crop = pipe.crop_size
    score = sum(flops(m, torch.zeros(2 * N_JOINTS, 1, crop, crop, device=pipe.device)) for m in pipe.score_models)
    return {"localise_gflop": loc / 1e9, "score_gflop": score / 1e9}


def measure(pipe, paths: list[Path], batch_size: int) -> dict[str, float]:
    """Seconds per radiograph, end to end and per stage, over `paths` (after one warm-up radiograph).

    cpu_s_per_radiograph: the process's CPU seconds (all threads): on a loaded machine, CPU seconds
    / threads estimates what the wall time would be on quiet cores.
    """
    pipe.score_many(paths[:1], batch_size=1)
    if str(pipe.device).startswith("cuda"):
        torch.cuda.synchronize()
    pipe.reset_timings()
    start, cpu = time.perf_counter(), time.process_time()
    pipe.score_many(paths, batch_size=batch_size)
    if str(pipe.device).startswith("cuda"):
        torch.cuda.synchronize()
    total = (time.perf_counter() - start) / len(paths)
    return {"s_per_radiograph": total, "radiographs_per_s": 1 / total,
            "cpu_s_per_radiograph": (time.process_time() - cpu) / len(paths),
            **{f"{k}_s": v / len(paths) for k, v in pipe.timings.items()}}


def write_films(folder: Path, n: int, size: int) -> list[Path]:
    """`n` phantom radiographs of width `size` as PNG files in `folder`."""
    from rheumabook import phantom
    from rheumabook.data import write_png

    paths = []
    for i in range(n):
        paths.append(folder / f"bench{i:03d}.png")
        write_png(paths[-1], phantom.render(9000 + i, size=size).image)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch and OpenCV)")
    parser.add_argument("--device", default="all", help="cpu, cuda, or all (cpu, and cuda when present)")
    parser.add_argument("--crop-sizes", type=int, nargs="+", default=[128, 224])
    parser.add_argument("--radiographs", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=2048, help="phantom width in pixels")
    parser.add_argument("--localizer", choices=["quick", "full"], default="quick")
    parser.add_argument("--batch-size", type=int, default=1, help="radiographs per batch (1: latency)")
    parser.add_argument("--models", default=None, help="a folder of trained checkpoints instead")
    parser.add_argument("--variants", nargs="+", default=["as-trained", "fused", "bfloat16", "bfloat16-tiled"],
                        help="as-trained (batch norm unfolded, NCHW), fused (folded, channels-last: the pipeline's "
                             "default), bfloat16 (fused + bf16 autocast), bfloat16-tiled (and TinyViT windows scaled "
                             "with the crop, `scoring.backbones.tiling_windows`)")
    args = parser.parse_args()
    import cv2

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_films(Path(tmp), args.radiographs, args.image_size)
        for device in devices:
            for crop, variant in [(c, v) for c in ([None] if args.models else args.crop_sizes) for v in args.variants]:
                pipe = build_pipeline(crop, args.localizer, device, args.models,
                                      precision="bfloat16" if variant.startswith("bfloat16") else "float32",
                                      fast=variant != "as-trained", tiled=variant.endswith("-tiled"))
                row = {"device": device, "threads": args.threads if device == "cpu" else "-", "scorer": variant,
                       "localiser": f"{pipe.localizer_config.backbone} {tuple(pipe.localizer_config.input_size)}",
                       "crop": pipe.crop_size, "crops_per_pass": pipe.crop_batch_size,
                       **measure(pipe, paths, args.batch_size), **stage_flops(pipe)}
                row["score_gflop_per_s"] = row["score_gflop"] / row["score_s"]
                rows.append(row)
                print(pd.DataFrame([row]).round(3).to_string(index=False), flush=True)
    print(f"\n{args.radiographs} phantom radiographs of {args.image_size} px width, batch size {args.batch_size}, "
          f"torch {torch.__version__}, load average before {load_before[0]:.2f} / after {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} logical CPUs")
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
