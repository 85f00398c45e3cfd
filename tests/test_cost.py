"""The cost model (issue 19, item 2): FLOPs and memory against hand-computed values, the sample counts read off
the profiles, the minutes arithmetic, and the colab profile inside the budget the model gives it."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch
from torch import nn

from rheumabook.book import cost
from rheumabook.book.measure import LiveBytes, conv_backward_flops, step_flops, step_memory
from rheumabook.profiles import COLAB, QUICK

MB = 1e6


def test_flops_of_linear_layers_match_the_hand_count():
    # forward 2 * (1000 * 1000 + 1000 * 10) per sample; backward: the first layer only its weight gradient
    # (the input needs none), the second its weight and input gradients
    fwd, bwd = step_flops(lambda: nn.Sequential(nn.Linear(1000, 1000), nn.ReLU(), nn.Linear(1000, 10)), (1000,))
    assert fwd == 2 * (1000 * 1000 + 1000 * 10)
    assert bwd == 2 * 1000 * 1000 + 2 * 2 * 1000 * 10


def test_a_grouped_convolutions_gradients_cost_one_forward_each():
    # depthwise 64-channel 3x3 on 32x32: forward 2 * 64*32*32 outputs * 9 weights per output = 1,179,648.
    # torch's own formula counts its backward ~groups times too high; ours: one forward per gradient.
    conv = lambda: nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False)  # noqa: E731
    forward = 2 * 64 * 32 * 32 * 9
    fwd, bwd = step_flops(lambda: nn.Sequential(conv(), conv()), (64, 32, 32))
    assert fwd == 2 * forward
    assert bwd == forward + 2 * forward  # first conv: weight gradient only; second: weight and input
    # a transposed convolution: its forward is 2 * input elements * (C_out / groups) * k * k
    assert conv_backward_flops([1, 8, 16, 16], [1, 4, 8, 8], [4, 8, 2, 2], None, 2, 0, 1, True, 0, 1,
                               [True, True]) == 2 * (2 * 4 * 8 * 8 * 8 * 2 * 2)


def test_live_bytes_counts_what_is_alive_at_once_and_views_once():
    with LiveBytes() as counter:
        a = torch.empty(250_000)  # 1 MB
        view = a[10:]
        del a, view
        b = torch.empty(250_000)
        c = b + 1
    assert counter.peak == 2_000_000 and counter.current == 2_000_000
    del b, c
    assert counter.current == 0


def test_step_memory_holds_weights_gradients_adam_and_activations():
    # Weights 1,011,010 floats, held through the step with AdamW's two moments: 3 copies (last step's
    # gradients are released before the backward pass, the new ones fill in during it). Per sample, at the peak
    # in the backward pass: the batch (1000), the ReLU's output saved for the second layer (1000), and the
    # gradients flowing back through the ReLU and the first layer's output (2 x 1000): 4000 floats.
    build = lambda: nn.Sequential(nn.Linear(1000, 1000), nn.ReLU(), nn.Linear(1000, 10))  # noqa: E731
    params = 4 * (1000 * 1000 + 1000 + 1000 * 10 + 10)
    small, large = step_memory(build, (1000,), 2000), step_memory(build, (1000,), 4000)
    assert large - small == 2000 * 4000 * 4
    floor = 3 * params + 4000 * 4000 * 4
    assert floor <= large <= floor + params + MB  # plus new gradients, the last layer's outputs, temporaries
    # the fake-tensor count is the count of the same step run for real
    from rheumabook.book import measure

    torch.manual_seed(0)
    model = build()
    optimizer = torch.optim.AdamW(model.parameters())
    x = torch.randn(4000, 1000)
    measure._train_step(model, optimizer, x)
    with LiveBytes() as real:
        for t in [x, *model.parameters(), *(p.grad for p in model.parameters()),
                  *(v for state in optimizer.state.values() for v in state.values())]:
            real.track(t)
        measure._train_step(model, optimizer, x)
    assert real.peak == large


def test_quick_sample_counts_are_read_off_the_profile():
    jobs = {w.job: w for w in cost.chapter_workloads(QUICK)}
    assert jobs["localiser"].train_samples == 700 * 10
    assert jobs["scorer"].train_samples == 192 * 42 * 11  # the scorer's patients x 42 crops x unfrozen epochs
    assert jobs["scorer"].forward_samples == 192 * 42 * 1 + 12 * 42  # frozen epoch + the held-out crops
    assert jobs["learning curve"].train_samples == (24 + 36 + 48 + 96) * 42 * 11
    assert jobs["label efficiency (2 arms)"].train_samples == (10 + 20 + 40 + 48) * 3 * 2 * 42 * 5
    assert jobs["Table 3: VGG"].train_samples == 48 * 42 * 2
    renders = {r.chapter: r.count for r in cost.chapter_renders(QUICK)}
    assert renders == {"1": 60, "4": 302, "5": 144 + 48, "6": 40, "7": 48}


def test_minutes_are_flops_over_the_sustained_peak_plus_rendering():
    jobs = pd.DataFrame([dict(chapter="5", job="x", model="m", batch=4, train_samples=1000, forward_samples=500,
                              fwd_gflop=1.0, bwd_gflop=2.0, peak_gib=1.5)])
    table = cost.chapter_costs(jobs, [cost.Renders("5", "films", 10, 700)], {700: 0.5})
    flops = 1000 * 3e9 + 500 * 1e9
    t4 = next(g for g in cost.GPUS if g.name == "T4")
    assert table.loc["5", "T4_min"] == pytest.approx(flops / (t4.peak_tflops * 1e12 * cost.UTILISATION) / 60 + 5 / 60)
    assert table.loc["5", "pflop"] == pytest.approx(flops / 1e15)
    assert table.loc["total", "train_samples"] == 1000 and table.loc["total", "peak_gib"] == 1.5


def test_colab_fits_a_t4_with_margin_and_its_chapters_the_budget():
    renders = cost.chapter_renders(COLAB)
    seconds = {size: cost.render_seconds(size, repeats=1) for size in {r.size for r in renders}}
    jobs = cost.measure_workloads(cost.chapter_workloads(COLAB), progress=False)
    assert jobs["peak_gib"].max() <= 10.0  # of the T4's 15 GiB, float32 (float16 autocast needs less)
    table = cost.chapter_costs(jobs, renders, seconds)
    assert (table.drop(index="total")["T4_min"] <= 20).all() and table.loc["total", "T4_min"] <= 120
    # the paper's models: EfficientNetV2-S at 512 x 384 and TinyViT-5M at 224 px
    assert {"tf_efficientnetv2_s 512x384", "scorer 224px"} <= set(jobs["model"])


def test_plan_command_prints_both_tables_and_the_measured_times(tmp_path, capsys):
    timings = tmp_path / "timings.json"
    timings.write_text(json.dumps({"wall_seconds": {"05_scoring": 412.0, "total": 900.0}}))
    assert cost.plan_command("quick", cpu=False, timings=str(timings), progress=False) == 0
    out = capsys.readouterr().out
    assert "Table 2 ablation (second backbone)" in out and "T4_min" in out and "measured_min" in out
    row = next(line for line in out.splitlines() if line.startswith("5 "))
    assert "6.87" in row  # 412 s measured, in minutes, beside chapter 5's estimate
    assert cost.plan_command("huge", progress=False) == 2
    assert "unknown profile 'huge'" in capsys.readouterr().err
