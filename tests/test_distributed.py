"""Data-parallel `training.fit` (issue 19, item 4): 2 CPU processes on gloo against 1 process, same global batch.

The launcher here (`torch.multiprocessing.spawn` with a file rendezvous) stands in for torchrun;
the code path trained is the library's own `fit`, unchanged.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rheumabook.training import FitConfig, StepContext, fit, save_checkpoint, seeded
from rheumabook.training import distributed

TOLERANCE = 1e-5  # float32 sums in another order (all-reduce of two halves vs one batch): ~1e-7 measured
GLOBAL_BATCH, N, EPOCHS = 16, 96, 4


def _problem():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(N, 6)).astype(np.float32))
    y = x @ torch.from_numpy(rng.normal(size=(6, 2)).astype(np.float32)) + 0.1
    return x, y


def _run(out: Path, rank: int) -> None:
    """Train the same small model with `fit`; process 0 writes its losses and weights."""
    torch.set_num_threads(1)
    x, y = _problem()
    model = seeded(3 + rank * (distributed.world()[1] > 1), lambda: nn.Sequential(nn.Linear(6, 16), nn.Tanh(),
                                                                                   nn.Linear(16, 2)))
    seen = []

    def step(m: nn.Module, idx: np.ndarray, context: StepContext):
        seen.append((context.rank, context.world, len(idx)))
        return nn.functional.mse_loss(m(x[idx]), y[idx]), len(idx)

    def batches(epoch: int):
        order = np.random.default_rng([1, epoch]).permutation(N)
        return np.array_split(order, N // GLOBAL_BATCH)

    result = fit(model, step, batches, FitConfig(epochs=EPOCHS, lr=0.05, grad_clip=0.5, warmup_fraction=0.1),
                 steps_per_epoch=N // GLOBAL_BATCH, progress=False)
    path = save_checkpoint(out / f"model-rank{rank}", result.model, {"rank": rank}, format="test/1")
    if distributed.is_main():
        (out / "run.json").write_text(json.dumps({"loss": result.history["train_loss"].tolist(), "seen": seen}))
    distributed.barrier()
    assert (rank == 0) == path.is_file()  # only process 0 writes checkpoints


def _worker(rank: int, world_size: int, out: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{out}/rendezvous", rank=rank,
                                         world_size=world_size)
    try:
        _run(Path(out), rank)
    finally:
        torch.distributed.destroy_process_group()


def test_two_gloo_processes_train_the_model_one_process_trains(tmp_path):
    single, double = tmp_path / "one", tmp_path / "two"
    single.mkdir(), double.mkdir()
    _run(single, 0)
    torch.multiprocessing.spawn(_worker, args=(2, str(double)), nprocs=2, join=True)
    one, two = (json.loads((d / "run.json").read_text()) for d in (single, double))
    # each process stepped on half of every global batch, and the run saw as many steps as one process
    assert {tuple(s) for s in two["seen"]} == {(0, 2, GLOBAL_BATCH // 2)}
    assert len(two["seen"]) == len(one["seen"]) == EPOCHS * N // GLOBAL_BATCH
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=0, atol=TOLERANCE)
    assert one["loss"][-1] < one["loss"][0] / 2  # it learnt: the comparison is not of two untrained runs
    from safetensors.torch import load_file

    a, b = load_file(str(single / "model-rank0.safetensors")), load_file(str(double / "model-rank0.safetensors"))
    assert not (double / "model-rank1.safetensors").exists()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=TOLERANCE)


def test_shard_keeps_rows_aligned_and_refuses_a_batch_too_small():
    x, y = np.arange(10), torch.arange(10) * 2
    part = distributed.shard((x, y, {"ids": list(range(10))}), 1, 3)
    assert part[0].tolist() == [1, 4, 7] and part[1].tolist() == [2, 8, 14] and part[2]["ids"] == [1, 4, 7]
    assert distributed.shard(x, 0, 1) is x  # one process: untouched
    with pytest.raises(ValueError, match="cannot be shared among 4"):
        distributed.shard(np.arange(3), 0, 4)
    with pytest.raises(TypeError, match="cannot shard"):
        distributed.shard("abc", 0, 2)


def test_a_single_process_is_world_0_of_1_and_changes_nothing():
    assert distributed.world() == (0, 1) and distributed.is_main()
    assert distributed.rank_seed(7) == 7 and distributed.reduce_sum([1.5, 2]) == [1.5, 2.0]
    assert distributed.init_from_env() == (0, 1)  # no torchrun environment: no process group
