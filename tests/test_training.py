"""Tests of rheumabook.training: the fit loop (schedules, parameter groups, determinism, history)
and checkpoints (round trip for any config dataclass, atomic writes, clear errors)."""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from rheumabook.training import (FitConfig, checkpoint_exists, checkpoint_paths, fit, load_checkpoint,
                                 read_checkpoint_header, save_checkpoint, seeded, warmup_cosine)


def regression_problem(seed: int = 0):
    """y = x @ w + 1 for 64 points in 3-D; a linear model can fit it exactly."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 3, generator=gen)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 1


def run(config: FitConfig, seed: int = 0, **kwargs):
    """Fit a seeded linear model on `regression_problem` in batches of 16, shuffled by a seeded generator."""
    x, y = regression_problem()
    model = seeded(seed, lambda: nn.Linear(3, 1))
    order = np.random.default_rng(seed)

    def batches(epoch):
        return (torch.from_numpy(i) for i in np.array_split(order.permutation(len(x)), 4))

    def step(model, idx, context):
        with context.autocast():
            pred = model(x[idx])
        return nn.functional.mse_loss(pred.float(), y[idx]), len(idx)

    def evaluate(model, epoch):
        with torch.no_grad():
            return {"val_loss": nn.functional.mse_loss(model(x), y).item()}

    return fit(model, step, batches, config, steps_per_epoch=4, evaluate=evaluate, progress=False, **kwargs)


def test_fit_learns_is_deterministic_and_records_history():
    cfg = FitConfig(epochs=30, lr=0.1, grad_clip=1.0)
    a, b = run(cfg), run(cfg)
    assert list(a.history.columns) == ["epoch", "train_loss", "lr", "val_loss", "seconds"]
    assert a.history["val_loss"].iloc[-1] < 0.05 * a.history["val_loss"].iloc[0]
    assert a.history.drop(columns="seconds").equals(b.history.drop(columns="seconds"))
    assert not a.model.training


def test_warmup_cosine_schedule_values():
    f = warmup_cosine(100, 0.1, 0.02)
    assert [f(s) for s in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    assert f(9) == pytest.approx(1.0) and f(10) == pytest.approx(1.0)
    assert f(100) == pytest.approx(0.02) and 0.02 < f(55) < 1
    history = run(FitConfig(epochs=5, lr=1.0, warmup_fraction=0.1)).history
    assert history["lr"].iloc[-1] == pytest.approx(0.02)  # 20 steps: decayed to the floor


def test_plateau_scheduler_cuts_the_rate_when_the_metric_stalls():
    h = run(FitConfig(epochs=12, lr=1e-6, scheduler="plateau", plateau_metric="val_loss", plateau_patience=1,
                      plateau_factor=0.5)).history
    assert h["lr"].iloc[0] == pytest.approx(1e-6) and h["lr"].iloc[-1] < 1e-6  # too slow to improve: cut
    assert (np.diff(h["lr"]) <= 0).all()
    with pytest.raises(ValueError, match="scheduler"):
        FitConfig(epochs=1, lr=1.0, scheduler="step")


def test_param_groups_and_frozen_parameters():
    x, y = regression_problem()
    model = seeded(0, lambda: nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1)))
    frozen = model[0].weight.detach().clone()
    model[0].requires_grad_(False)  # stage 1: the "backbone" frozen
    step = lambda m, idx, c: (nn.functional.mse_loss(m(x[idx]), y[idx]), len(idx))  # noqa: E731
    batches = lambda epoch: [torch.arange(64)]  # noqa: E731
    fit(model, step, batches, FitConfig(epochs=3, lr=0.1, scheduler="constant"), progress=False)
    assert torch.equal(model[0].weight, frozen)
    model[0].requires_grad_(True)  # stage 2: everything, the backbone at a tenth of the rate
    groups = [{"params": model[0].parameters(), "lr": 0.01}, {"params": model[1].parameters()}]
    result = fit(model, step, batches, FitConfig(epochs=2, lr=0.1, scheduler="constant"), param_groups=groups,
                 progress=False)
    assert not torch.equal(model[0].weight, frozen)
    assert [g["lr"] for g in result.optimizer.param_groups] == [0.01, 0.1]
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to train"):
        fit(model, step, batches, FitConfig(epochs=1, lr=0.1), steps_per_epoch=1, progress=False)
    with pytest.raises(ValueError, match="no batches"):
        fit(nn.Linear(3, 1), step, lambda epoch: [], FitConfig(epochs=1, lr=0.1, scheduler="constant"),
            progress=False)


@dataclass(frozen=True)
class TinyConfig:
    width: int = 4
    note: str = "x"


def build_tiny(config: TinyConfig) -> nn.Module:
    return nn.Linear(3, config.width)


def test_checkpoint_round_trip_atomic_and_generic_over_the_config(tmp_path):
    model = seeded(0, lambda: build_tiny(TinyConfig(width=5)))
    path = save_checkpoint(tmp_path / "ckpt" / "m", model, TinyConfig(width=5), format="test/1",
                           extra={"loss": np.float32(0.5)}, labels=["a", "b"])
    weights, meta = checkpoint_paths(tmp_path / "ckpt" / "m.json")
    assert path == weights and weights.suffix == ".safetensors" and meta.is_file()
    assert json.loads(meta.read_text())["labels"] == ["a", "b"]
    assert not list((tmp_path / "ckpt").glob(".*"))  # no temporary files left behind
    ckpt = load_checkpoint(tmp_path / "ckpt" / "m", format="test/1", config_type=TinyConfig, build=build_tiny,
                           expect={"labels": ["a", "b"]})
    assert ckpt.config == TinyConfig(width=5) and ckpt.extra == {"loss": 0.5} and not ckpt.model.training
    assert all(torch.equal(a, b) for a, b in zip(ckpt.model.state_dict().values(), model.state_dict().values()))


def test_checkpoint_errors_are_clear(tmp_path):
    save_checkpoint(tmp_path / "m", build_tiny(TinyConfig()), TinyConfig(), format="test/1", labels=["a"])
    load = lambda **kw: load_checkpoint(tmp_path / "m", config_type=TinyConfig, build=build_tiny, **kw)  # noqa: E731
    with pytest.raises(FileNotFoundError, match="pair"):
        read_checkpoint_header(tmp_path / "nothing", format="test/1")
    with pytest.raises(ValueError, match="not a 'other/1' checkpoint"):
        load(format="other/1")
    with pytest.raises(ValueError, match="labels"):
        load(format="test/1", expect={"labels": ["b"]})
    with pytest.raises(ValueError, match="do not fit"):  # weights of another shape's model
        load_checkpoint(tmp_path / "m", format="test/1", config_type=TinyConfig,
                        build=lambda c: nn.Sequential(nn.Linear(3, c.width)))
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load(format="test/1")


def test_an_interrupted_save_leaves_no_complete_looking_checkpoint(tmp_path, monkeypatch):
    """A kernel killed while the weights are written leaves the old JSON gone: the pair reads as missing."""
    import rheumabook.training.checkpoint as checkpoint_module

    stem = tmp_path / "m"
    assert not checkpoint_exists(stem)
    save_checkpoint(stem, build_tiny(TinyConfig()), TinyConfig(), format="test/1")
    assert checkpoint_exists(stem) and checkpoint_exists(tmp_path / "m.safetensors")

    def killed(target, write, suffix=""):
        raise KeyboardInterrupt  # the kernel stops while the new weights are written

    monkeypatch.setattr(checkpoint_module, "atomic_write", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(stem, build_tiny(TinyConfig(width=7)), TinyConfig(width=7), format="test/1")
    weights, meta = checkpoint_paths(stem)
    assert weights.is_file() and not meta.is_file()  # the old weights, without their header
    assert not checkpoint_exists(stem)  # so a loader trains again instead of pairing old weights with a new header



def test_float16_trains_with_a_gradient_scaler_and_skips_overflowing_steps(monkeypatch):
    # fit runs autocast on CUDA only; letting it on the CPU here runs the float16 path (scaler included)
    # through the same code a T4 runs.
    from rheumabook.training import loop

    monkeypatch.setattr(loop, "AUTOCAST_DEVICE_TYPES", ("cuda", "cpu"))
    fp16 = run(FitConfig(epochs=30, lr=0.1, grad_clip=1.0, precision="fp16"))
    assert fp16.history["val_loss"].iloc[-1] < 0.05 * fp16.history["val_loss"].iloc[0]
    seen = []
    original = loop._train_epoch

    def spy(*args):
        seen.append(args[-1])
        return original(*args)

    monkeypatch.setattr(loop, "_train_epoch", spy)
    run(FitConfig(epochs=1, lr=0.1, precision="fp16"))
    run(FitConfig(epochs=1, lr=0.1, precision="bf16"))
    assert seen[0].is_enabled() and not seen[1].is_enabled()  # float16 scales its loss, bfloat16 needs no scaler

    # a step whose gradients overflow is skipped (weights unchanged) and the scale lowered
    x, y = regression_problem()
    model = seeded(0, lambda: nn.Linear(3, 1))
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def step(model, idx, context):
        with context.autocast():
            pred = model(x[idx])
        return pred.float().sum() * float("inf"), len(idx)

    fit(model, step, lambda epoch: [torch.arange(16)], FitConfig(epochs=1, lr=0.1, precision="fp16"),
        steps_per_epoch=1, progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_precision_resolves_per_device():
    from rheumabook.training import PRECISIONS, autocast_dtype

    assert PRECISIONS == ("auto", "bf16", "fp16")
    assert autocast_dtype("auto", "cpu") == torch.bfloat16 and autocast_dtype("fp16", "cpu") == torch.float16
    assert autocast_dtype("bf16", "cuda") == torch.bfloat16
    with pytest.raises(ValueError, match="precision must be one of"):
        FitConfig(epochs=1, lr=0.1, precision="fp8")


def test_the_optimiser_updates_all_parameters_at_once_with_the_same_arithmetic():
    # make_optimizer asks AdamW for its multi-tensor (foreach) update, which torch uses only on GPUs by default;
    # on a CPU it must give the per-parameter loop's weights bit for bit, or every number of the book would move
    from rheumabook.training import make_optimizer

    torch.manual_seed(0)
    build = lambda: nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),  # noqa: E731
                                  nn.Linear(8 * 6 * 6, 3))
    a = build()
    b = copy.deepcopy(a)
    opt_a = make_optimizer(a, FitConfig(epochs=1, lr=1e-2, weight_decay=1e-2))
    opt_b = torch.optim.AdamW(b.parameters(), lr=1e-2, weight_decay=1e-2, foreach=False)
    assert opt_a.defaults["foreach"] is True
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    for _ in range(5):
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
