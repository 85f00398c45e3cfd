"""A training loop shared by the book's models: the localiser (chapter 4), scoring and pretraining next.

`fit` runs epochs of optimiser steps; the caller supplies what is specific to its model:

- the model, already built (build it with `seeded` so its initial weights follow the seed);
- ``batches(epoch)``: the batches of one epoch, drawn from the caller's own seeded generators;
- ``step(model, batch, context)``: the forward pass and the loss of one batch, returning
  ``(loss, n_samples)``; it runs what should use mixed precision under ``context.autocast()``;
- optionally ``evaluate(model, epoch)``: per-epoch metrics (a dict) for the history.

The loop owns the rest, the same for every model: AdamW (optionally on parameter groups, e.g. a
frozen backbone left out or given its own learning rate), the learning-rate schedule
(`SCHEDULERS`: linear warm-up then cosine decay per step, ReduceLROnPlateau per epoch, or
constant), gradient clipping, mixed precision on CUDA (bfloat16 autocast, or float16 autocast with a
gradient scaler where the GPU has no bfloat16, as a Colab T4), a tqdm bar and the history DataFrame.
It draws nothing from any random generator itself: with seeded inputs a run is reproducible
bit for bit on a CPU. A two-stage run (frozen, then unfrozen) is two calls on the same model.
Started by torchrun (`distributed`), the same call trains data-parallel: each process keeps its
shard of every batch, gradients are averaged before the step, only process 0 shows progress.
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence, TypeVar, Union

import pandas as pd
import torch
from torch import nn

from . import distributed

__all__ = ["SCHEDULERS", "PRECISIONS", "FitConfig", "autocast_dtype", "StepContext", "FitResult", "seeded", "warmup_cosine", "make_optimizer",
           "make_scheduler", "fit"]

SCHEDULERS: tuple[str, ...] = ("warmup_cosine", "plateau", "constant")
"""Learning-rate schedules of `fit`: "warmup_cosine" (per step), "plateau" (per epoch), "constant"."""

PRECISIONS: tuple[str, ...] = ("auto", "bf16", "fp16")
"""Mixed precision of `fit` on CUDA: "bf16" (bfloat16 autocast), "fp16" (float16 autocast with a gradient
scaler), "auto" (bfloat16 where the GPU supports it, else float16: a T4 has no bfloat16)."""

#: The device types `fit` runs autocast on (a test adds "cpu" to run the float16 path without a GPU).
AUTOCAST_DEVICE_TYPES: tuple[str, ...] = ("cuda",)

M = TypeVar("M", bound=nn.Module)
Step = Callable[[nn.Module, Any, "StepContext"], tuple[torch.Tensor, int]]


@dataclass(frozen=True)
class FitConfig:
    """The optimisation of one `fit` call.

    epochs: >= 1. lr: the peak learning rate (AdamW); parameter groups may carry their own.
    weight_decay: AdamW's decoupled weight decay. grad_clip: max global gradient norm; 0 or
    None = no clipping. scheduler: one of `SCHEDULERS`.
    "warmup_cosine": linear warm-up over `warmup_fraction` of all steps, then cosine decay to
    `final_lr_fraction` of the peak (`warmup_cosine`). "plateau": ReduceLROnPlateau after each
    epoch on the history column `plateau_metric` ("min" or "max" by `plateau_mode`), multiplying
    the rate by `plateau_factor` after `plateau_patience` epochs without improvement.
    autocast: mixed precision of what a step runs under ``context.autocast()``, on CUDA only;
    precision (`PRECISIONS`) says which: float16 runs with a gradient scaler (the loss scaled up so
    that small gradients survive float16, unscaled before clipping, a step with inf/NaN gradients
    skipped and the scale lowered), bfloat16 needs none.
    """

    epochs: int
    lr: float
    weight_decay: float = 0.0
    grad_clip: Optional[float] = None
    scheduler: str = "warmup_cosine"
    warmup_fraction: float = 0.05
    final_lr_fraction: float = 0.02
    plateau_metric: str = "train_loss"
    plateau_mode: str = "min"
    plateau_factor: float = 0.1
    plateau_patience: int = 2
    autocast: bool = True
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.epochs < 1 or not self.lr > 0:
            raise ValueError(f"epochs must be >= 1 and lr > 0, got {self.epochs} and {self.lr}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if not 0 <= self.warmup_fraction < 1 or not 0 <= self.final_lr_fraction <= 1:
            raise ValueError(f"need 0 <= warmup_fraction < 1 and 0 <= final_lr_fraction <= 1, got "
                             f"{self.warmup_fraction} and {self.final_lr_fraction}")
        if self.plateau_mode not in ("min", "max"):
            raise ValueError(f"plateau_mode must be 'min' or 'max', got {self.plateau_mode!r}")


@dataclass(frozen=True)
class StepContext:
    """What a step function may need to know: the 1-based epoch, the 0-based index of this
    optimiser step in the run, the device, and the autocast context to run its forward pass in;
    rank / world: this process and how many train together (0 / 1 unless torchrun started them);
    dtype: the autocast's (bfloat16 or float16)."""

    epoch: int
    step: int
    device: torch.device
    autocast_enabled: bool
    rank: int = 0
    world: int = 1
    dtype: torch.dtype = torch.bfloat16

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to `dtype` on CUDA when the config asks for it; otherwise a no-op context."""
        if not self.autocast_enabled:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)


@dataclass
class FitResult:
    """What `fit` returns: the model (eval mode), the history (one row per epoch), seconds, the optimiser."""

    model: nn.Module
    history: pd.DataFrame
    seconds: float
    optimizer: torch.optim.Optimizer


def autocast_dtype(precision: str, device: Union[str, torch.device]) -> torch.dtype:
    """The autocast dtype `precision` (`PRECISIONS`) means on `device`: "auto" is bfloat16 unless the device
    is a GPU without it (compute capability < 8, e.g. a T4), where it is float16."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        device = torch.device(device)
        bf16 = device.type != "cuda" or torch.cuda.is_bf16_supported(including_emulation=False)
        return torch.bfloat16 if bf16 else torch.float16
    return torch.bfloat16 if precision == "bf16" else torch.float16


def seeded(seed: Optional[int], build: Callable[[], M]) -> M:
    """``torch.manual_seed(seed)`` (unless None), then ``build()``: the initial weights follow the seed."""
    if seed is not None:
        torch.manual_seed(seed)
    return build()


def warmup_cosine(total_steps: int, warmup_fraction: float, final_fraction: float = 0.02) -> Callable[[int], float]:
    """The learning-rate factor of step `step` (0-based): linear warm-up, then cosine decay to `final_fraction`.

    The warm-up lasts round(total_steps * warmup_fraction) steps, at least 1.
    """
    warmup = max(1, int(round(total_steps * warmup_fraction)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def make_optimizer(model: nn.Module, config: FitConfig,
                   param_groups: Optional[Iterable[dict]] = None) -> torch.optim.AdamW:
    """AdamW over `param_groups` (torch's dicts: "params" plus per-group options such as "lr"), or
    over all of the model's parameters that require a gradient (a frozen backbone is left out)."""
    params = list(param_groups) if param_groups is not None else [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: no parameter requires a gradient and no parameter groups were given")
    # foreach: one multi-tensor update instead of a Python loop over the parameters (the default only on GPUs);
    # the same arithmetic, bit for bit on a CPU (tests/test_training.py), in a fraction of the time
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)


def make_scheduler(optimizer: torch.optim.Optimizer, config: FitConfig, steps_per_epoch: Optional[int]) -> Any:
    """The scheduler `config.scheduler` names for `optimizer`; None for "constant"."""
    if config.scheduler == "warmup_cosine":
        if not steps_per_epoch or steps_per_epoch < 1:
            raise ValueError(f"the warmup_cosine schedule needs steps_per_epoch >= 1, got {steps_per_epoch}")
        factor = warmup_cosine(config.epochs * steps_per_epoch, config.warmup_fraction, config.final_lr_fraction)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    if config.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=config.plateau_mode,
                                                          factor=config.plateau_factor,
                                                          patience=config.plateau_patience)
    return None


def _train_epoch(model: nn.Module, step: Step, batches: Iterable, optimizer: torch.optim.Optimizer,
                 per_step: Any, config: FitConfig, context: StepContext,
                 scaler: torch.amp.GradScaler) -> tuple[float, int]:
    """One epoch of optimiser steps; returns (sample-weighted mean loss, steps taken so far).

    Under torchrun each process steps on its shard of every batch (`distributed.shard`) and the
    gradients are averaged over the processes before clipping; the loss is summed over them. With
    float16 the scaler scales the loss, unscales the gradients before clipping (so the clip sees true
    norms) and skips a step whose gradients overflowed (an averaged inf is inf in every process).
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    total, seen, n_steps = 0.0, 0, context.step
    for batch in batches:
        batch = distributed.shard(batch, context.rank, context.world)
        loss, n = step(model, batch, StepContext(context.epoch, n_steps, context.device, context.autocast_enabled,
                                                 context.rank, context.world, context.dtype))
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        distributed.average_gradients(params)
        scaler.unscale_(optimizer)
        if config.grad_clip:
            nn.utils.clip_grad_norm_(params, config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        if per_step is not None:
            with warnings.catch_warnings():  # a skipped float16 step still advances the schedule, on purpose
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                per_step.step()
        total += loss.item() * n
        seen += n
        n_steps += 1
    total, seen = distributed.reduce_sum([total, seen], context.device)
    if not seen:
        raise ValueError(f"epoch {context.epoch} had no batches (or only empty ones); check the batches function")
    return total / seen, n_steps


def fit(model: nn.Module, step: Step, batches: Callable[[int], Iterable], config: FitConfig, *,
        steps_per_epoch: Optional[int] = None, param_groups: Optional[Iterable[dict]] = None,
        evaluate: Optional[Callable[[nn.Module, int], dict]] = None,
        epoch_columns: Optional[Callable[[int], dict]] = None, device: Union[str, torch.device] = "cpu",
        progress: bool = True, desc: str = "training", postfix: Sequence[str] = ("train_loss",)) -> FitResult:
    """Train `model` for `config.epochs` epochs; see the module docstring for the roles of the callables.

    steps_per_epoch: batches per epoch (needed by "warmup_cosine"). param_groups: AdamW's groups
    (default: every parameter that requires a gradient). evaluate(model, epoch): metrics after
    each epoch, added to its history row. epoch_columns(epoch): more columns of the row, written
    first (e.g. which loss the epoch uses). postfix: history columns shown on the tqdm bar.
    Returns a `FitResult`; history columns: epoch, epoch_columns' keys, train_loss, lr (of the
    first group, at the end of the epoch), evaluate's keys, seconds (since `fit` started).
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    device = torch.device(device)
    model.to(device).train()
    rank, size = distributed.world()
    distributed.broadcast_parameters(model)  # torchrun: every process starts from process 0's weights
    optimizer = make_optimizer(model, config, param_groups)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch)
    per_step = scheduler if config.scheduler == "warmup_cosine" else None
    autocast = bool(config.autocast and device.type in AUTOCAST_DEVICE_TYPES)
    dtype = autocast_dtype(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast and dtype == torch.float16)
    history, n_steps = [], 0
    bar = tqdm(range(1, config.epochs + 1), desc=desc, disable=not progress or rank != 0)
    for epoch in bar:
        row = {"epoch": epoch, **(epoch_columns(epoch) if epoch_columns else {})}
        model.train()
        context = StepContext(epoch, n_steps, device, autocast, rank, size, dtype)
        row["train_loss"], n_steps = _train_epoch(model, step, batches(epoch), optimizer, per_step, config, context,
                                                  scaler)
        row["lr"] = optimizer.param_groups[0]["lr"]
        if evaluate is not None:
            row.update(evaluate(model, epoch))
        row["seconds"] = time.perf_counter() - start
        if config.scheduler == "plateau":
            scheduler.step(row[config.plateau_metric])
        history.append(row)
        bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k in postfix})
    model.eval()
    return FitResult(model, pd.DataFrame(history), time.perf_counter() - start, optimizer)
