"""The cost model: how long a profile's chapters take on a T4, an A100 and an H100, before anyone rents one.

``python -m rheumabook.book plan --profile NAME`` prints it. The model is three numbers per
training job, times how many samples the chapters push through it:

- **samples** (`chapter_workloads`): read off the profile: patients x 42 joint crops x epochs for
  the scorer, its learning curve, the Table 3 backbones and chapter 6's label-efficiency runs;
  hands x epochs for the localiser and chapter 4's ablation; radiographs x 42 crops x epochs for
  the pretraining U-Net; films through the pipeline in chapter 7. A frozen-backbone epoch counts as
  forward-only samples (only the small head learns);
- **FLOPs per sample**, forward and backward (`measure.step_flops`, FlopCounterMode);
- **peak memory** of one training step at the profile's batch size (`measure.step_memory`, float32
  on the CPU: an upper bound for mixed precision on a GPU).

A GPU's minutes are the FLOPs over its dense 16-bit tensor peak (`GPUS`) times `UTILISATION`, plus
the phantom radiographs the chapter renders on the CPU (`chapter_renders`, each size timed here).
Not modelled: Dawid-Skene, bootstraps, seam splits, crop extraction and plots, which are seconds
to a few minutes on a CPU whatever the GPU; `--cpu` adds this machine's measured training speed,
which is how the model is checked against a CI run (the README shows both), and ``--timings``
puts a runner's timings.json beside the estimate once a GPU run has happened.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import pandas as pd

from .measure import cpu_seconds, step_flops, step_memory

__all__ = ["GPU", "GPUS", "UTILISATION", "CHAPTER7_EXTRA_FILMS", "ModelSpec", "Workload", "Renders",
           "chapter_workloads", "chapter_renders", "measure_workloads", "render_seconds", "chapter_costs",
           "plan_command"]


@dataclass(frozen=True)
class GPU:
    """A GPU of the estimate: its dense float16/bfloat16 tensor-core peak and the memory a run may use."""

    name: str
    peak_tflops: float
    memory_gib: float


GPUS: tuple[GPU, ...] = (GPU("T4", 65.0, 15.0), GPU("A100", 312.0, 40.0), GPU("H100", 989.0, 80.0))
"""Datasheet peaks (T4: float16 only; A100 40 GB and H100 SXM: bfloat16), memory as a session sees it."""

UTILISATION = 0.15
"""Share of the tensor peak a training run sustains. Mixed-precision ResNet-50 reaches about a fifth of
it in tuned benchmarks; these models are smaller, their batches too, and EfficientNet's depthwise
convolutions use tensor cores poorly, so less is assumed. Check it against a GPU run's timings.json."""

CHAPTER7_EXTRA_FILMS = 48
"""Chapter 7's parameter `n_extra`: phantom films rendered for the totals (scored three ways)."""


@dataclass(frozen=True)
class ModelSpec:
    """One model a chapter trains: a name, how to build it (random weights), one input sample's shape (C, H, W),
    and the batch size it trains at."""

    name: str
    build: Callable[[], Any]
    input_shape: tuple[int, int, int]
    batch_size: int


@dataclass(frozen=True)
class Workload:
    """What a chapter pushes through one model: training samples (forward + backward) and forward-only ones."""

    chapter: str
    job: str
    model: ModelSpec
    train_samples: int
    forward_samples: int


@dataclass(frozen=True)
class Renders:
    """Phantom radiographs a chapter renders on the CPU (later chapters read them from the cache)."""

    chapter: str
    what: str
    count: int
    size: int


def _split(profile: Any) -> tuple[int, int]:
    """(training, held-out) patients of the chapter data set (chapter 4's split)."""
    from ..localize import HELD_OUT_FRACTION, split_patients

    train, test = split_patients([f"P{i}" for i in range(profile.data.n_patients)], HELD_OUT_FRACTION, 0)
    return len(train), len(test)


def _localiser_specs(profile: Any) -> list[ModelSpec]:
    from ..localize import build_model

    config = profile.localizer
    h, w = config.input_size
    out = []
    for backbone in dict.fromkeys((config.backbone, *profile.localization.ablation_backbones)):
        c = config.replace(backbone=backbone)
        out.append(ModelSpec(f"{backbone} {h}x{w}", lambda c=c: build_model(c), (1, h, w), config.batch_size))
    return out


def _scorer_spec(profile: Any, backbone: str, kwargs: dict, label: str) -> ModelSpec:
    from ..scoring import build_scorer

    config = profile.scoring.replace(backbone=backbone, backbone_kwargs=kwargs)
    s = config.crop_size
    return ModelSpec(f"{label} {s}px", lambda: build_scorer(config), (1, s, s), config.batch_size)


def _localisation(profile: Any, n_own: int, n_test: int) -> list[Workload]:
    plan, config = profile.localization, profile.localizer
    main, *rest = _localiser_specs(profile)
    second = rest[0] if rest else main
    ablation = plan.ablation_seeds * plan.ablation_hands * plan.ablation_epochs
    return [Workload("4", "localiser", main, plan.train_hands * config.epochs, 2 * n_test * config.epochs),
            Workload("4", "Table 2 ablation (3 variants)", main, 3 * ablation, 3 * 2 * n_test * plan.ablation_seeds),
            Workload("4", "Table 2 ablation (second backbone)", second, ablation, 2 * n_test * plan.ablation_seeds)]


def _scoring(profile: Any, n_own: int, n_test: int) -> list[Workload]:
    from ..joints import SITES
    from ..scoring.curve import curve_sizes

    sites, config, plan = 2 * len(SITES), profile.scoring, profile.scoring_comparison
    patients = max(plan.train_patients, n_own)
    scorer = _scorer_spec(profile, config.backbone, config.backbone_kwargs, "scorer")
    curve = sum(curve_sizes(plan.curve_patients, patients)[:-1])
    out = [Workload("5", "scorer", scorer, patients * sites * config.unfrozen_epochs,
                    patients * sites * config.frozen_epochs + n_test * sites)]
    if curve:
        out.append(Workload("5", "learning curve", scorer, curve * sites * config.unfrozen_epochs,
                            curve * sites * config.frozen_epochs + n_test * sites))
    runs = {label: 1 for label, _, _ in plan.backbones}
    if "TinyViT" in runs:  # its per-kind pair (two models) and its run without augmentation
        runs["TinyViT"] += 3
    for label, name, kwargs in plan.backbones:
        n = runs[label] * n_own * sites
        out.append(Workload("5", f"Table 3: {label}" + (" (+ independent, no augmentation)" if runs[label] > 1 else ""),
                            _scorer_spec(profile, name, kwargs, label), n * plan.unfrozen_epochs,
                            n * plan.frozen_epochs + runs[label] * n_test * sites))
    return out


def _pretraining(profile: Any, n_own: int, n_test: int) -> list[Workload]:
    from ..joints import SITES
    from ..pretrain import build_unet
    from ..pretrain.train import VAL_FRACTION

    sites, config, scoring, plan = 2 * len(SITES), profile.pretrain, profile.scoring, profile.label_efficiency
    s = scoring.crop_size
    unet = ModelSpec(f"U-Net({scoring.backbone}) {s}px", lambda: build_unet(scoring, config.decoder_channels),
                     (1, s, s), config.batch_size)
    crops = config.n_radiographs * sites * config.crops_per_joint
    held_out = max(1, int(round(VAL_FRACTION * config.n_radiographs))) * sites * config.crops_per_joint
    patients = sum(n_own if n == 0 else min(n, n_own) for n in plan.sizes) * len(plan.seeds) * 2
    scorer = _scorer_spec(profile, scoring.backbone, scoring.backbone_kwargs, "scorer")
    return [Workload("6", "pretraining", unet, (crops - held_out) * config.epochs, held_out * config.epochs),
            Workload("6", "label efficiency (2 arms)", scorer, patients * sites * plan.unfrozen_epochs,
                     patients * sites * plan.frozen_epochs + len(plan.seeds) * 2 * len(plan.sizes) * n_test * sites)]


def _pipeline(profile: Any, n_own: int, n_test: int) -> list[Workload]:
    from ..joints import SITES

    films = 3 * (n_test + CHAPTER7_EXTRA_FILMS) + profile.scoring_comparison.calibration_patients
    localiser = _localiser_specs(profile)[0]
    scorer = _scorer_spec(profile, profile.scoring.backbone, profile.scoring.backbone_kwargs, "scorer")
    return [Workload("7", "pipeline: boxes", localiser, 0, 2 * films),
            Workload("7", "pipeline: grades", scorer, 0, 2 * len(SITES) * films)]


def chapter_workloads(profile: Any) -> list[Workload]:
    """Every training job of `profile`'s chapters (chapters 1-3 train nothing), in chapter order."""
    n_own, n_test = _split(profile)
    return [w for part in (_localisation, _scoring, _pretraining, _pipeline) for w in part(profile, n_own, n_test)]


def chapter_renders(profile: Any) -> list[Renders]:
    """The phantom radiographs each chapter renders (the chapter data set in chapter 1, each stream where it starts)."""
    n_own, _ = _split(profile)
    d, loc, plan = profile.data, profile.localization, profile.scoring_comparison
    return [Renders("1", "chapter data set", d.n_patients, d.image_size),
            Renders("4", "localiser's extra hands", max(0, math.ceil((loc.train_hands - 2 * n_own) / 2)), loc.render_size),
            Renders("5", "scorer's stream + calibration patients",
                    max(0, plan.train_patients - n_own) + plan.calibration_patients, d.image_size),
            Renders("6", "pretraining radiographs", profile.pretrain.n_radiographs, profile.pretrain.render_size),
            Renders("7", "extra films for the totals", CHAPTER7_EXTRA_FILMS, d.image_size)]


def render_seconds(size: int, *, repeats: int = 2) -> float:
    """Wall seconds to render one phantom radiograph at `size` px on this CPU (the best of `repeats`)."""
    from .. import phantom

    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        phantom.render(90_000 + seed, size=size)
        times.append(time.perf_counter() - start)
    return min(times)


def measure_workloads(workloads: Sequence[Workload], *, cpu: bool = False, progress: bool = True) -> pd.DataFrame:
    """One row per workload: its samples and its model's measured FLOPs, peak memory (and CPU speed if `cpu`).

    Each distinct model is measured once. Columns: chapter, job, model, batch, train_samples,
    forward_samples, fwd_gflop, bwd_gflop (per sample), peak_gib (one training step at the batch size,
    float32; NaN for a job that only runs inference), and with `cpu`: cpu_train_ms, cpu_forward_ms (per sample, this machine).
    """
    from tqdm.auto import tqdm

    measured: dict[tuple, dict] = {}
    rows = []
    for w in tqdm(workloads, desc="measuring models", disable=not progress):
        m = w.model
        key = (m.name, m.input_shape, m.batch_size)
        if key not in measured:
            fwd, bwd = step_flops(m.build, m.input_shape)
            measured[key] = dict(fwd_gflop=fwd / 1e9, bwd_gflop=bwd / 1e9,
                                 peak_gib=step_memory(m.build, m.input_shape, m.batch_size) / 2**30)
            if cpu:
                train, forward = cpu_seconds(m.build, m.input_shape, m.batch_size)
                measured[key].update(cpu_train_ms=1e3 * train, cpu_forward_ms=1e3 * forward)
        row = dict(chapter=w.chapter, job=w.job, model=m.name, batch=m.batch_size, train_samples=w.train_samples,
                   forward_samples=w.forward_samples, **measured[key])
        if not w.train_samples:  # inference only: no training step's memory to report
            row["peak_gib"] = math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _minutes(flops: Any, gpu: GPU) -> Any:
    """Minutes `gpu` takes for `flops` at `UTILISATION` of its peak."""
    return flops / (gpu.peak_tflops * 1e12 * UTILISATION) / 60


def chapter_costs(jobs: pd.DataFrame, renders: Sequence[Renders], seconds_per_render: dict[int, float]) -> pd.DataFrame:
    """Per chapter and in total: samples, PFLOP, peak memory, rendering minutes and minutes on each of `GPUS`.

    jobs: `measure_workloads`' table. A GPU's minutes = the chapter's FLOPs / (peak x `UTILISATION`)
    + its rendering on the CPU; "cpu_min" (when jobs has the CPU columns) = samples x measured
    seconds per sample + rendering.
    """
    flops = 1e9 * (jobs["train_samples"] * (jobs["fwd_gflop"] + jobs["bwd_gflop"])
                   + jobs["forward_samples"] * jobs["fwd_gflop"])
    jobs = jobs.assign(pflop=flops / 1e15)
    for gpu in GPUS:
        jobs[f"{gpu.name}_train_min"] = _minutes(flops, gpu)
    cpu = "cpu_train_ms" in jobs
    if cpu:
        jobs["cpu_train_min"] = (jobs["train_samples"] * jobs["cpu_train_ms"]
                                 + jobs["forward_samples"] * jobs["cpu_forward_ms"]) / 6e4
    render_min = pd.Series(0.0, index=[str(c) for c in range(1, 8)])
    for r in renders:
        render_min[r.chapter] += r.count * seconds_per_render[r.size] / 60
    grouped = jobs.groupby("chapter")
    table = pd.DataFrame(index=render_min.index)
    table["train_samples"] = grouped["train_samples"].sum().reindex(table.index).fillna(0).astype(int)
    table["pflop"] = grouped["pflop"].sum().reindex(table.index).fillna(0.0)
    table["peak_gib"] = grouped["peak_gib"].max().reindex(table.index).fillna(0.0)
    table["render_min"] = render_min
    for name in [g.name for g in GPUS] + (["cpu"] if cpu else []):
        table[f"{name}_min"] = grouped[f"{name}_train_min"].sum().reindex(table.index).fillna(0.0) + render_min
    total = table.sum().to_frame("total").T
    total["peak_gib"] = table["peak_gib"].max()
    return pd.concat([table, total]).rename_axis("chapter")


def _measured_minutes(path: Path) -> dict[str, float]:
    """{chapter number: measured minutes} from a runner's timings.json (chapter keys like "05_scoring")."""
    seconds = json.loads(Path(path).read_text())["wall_seconds"]
    return {str(int(k[:2])): v / 60 for k, v in seconds.items() if k[:2].isdigit()} | (
        {"total": seconds["total"] / 60} if "total" in seconds else {})


def plan_command(profile: str = "auto", *, cpu: Optional[bool] = None, timings: Optional[str] = None,
                 progress: bool = True) -> int:
    """`python -m rheumabook.book plan`: print the per-job and per-chapter cost tables of a profile.

    cpu: add this machine's measured training speed (default: only for "quick", whose models are small
    enough to time here). timings: a runner's timings.json, shown beside the estimate. Exit status 0, or 2
    for an unknown profile or an unreadable timings file.
    """
    import sys

    from ..profiles import get_profile

    try:
        cfg = get_profile(profile)
        measured = _measured_minutes(Path(timings)) if timings else {}
    except (ValueError, OSError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    cpu = cfg.name == "quick" if cpu is None else cpu
    renders = chapter_renders(cfg)
    seconds = {size: render_seconds(size) for size in sorted({r.size for r in renders if r.count})}
    jobs = measure_workloads(chapter_workloads(cfg), cpu=cpu, progress=progress)
    table = chapter_costs(jobs, renders, seconds)
    if measured:
        table["measured_min"] = [measured.get(str(c)) for c in table.index]
    print(f"The {cfg.name!r} profile's training jobs (per sample: GFLOP forward / backward; peak memory of one "
          f"training step at the batch size, float32, measured on the CPU):")
    with pd.option_context("display.width", 220, "display.max_columns", 30, "display.float_format", "{:.3g}".format):
        print(jobs.to_string(index=False))
        print(f"\nPer chapter: minutes on each GPU at {UTILISATION:.0%} of its 16-bit tensor peak "
              f"({', '.join(f'{g.name} {g.peak_tflops:g} TFLOP/s' for g in GPUS)}), plus rendering the phantom "
              f"on the CPU ({', '.join(f'{s} px {v:.2f} s' for s, v in seconds.items())} per radiograph here):")
        print(table.to_string())
    return 0
