"""Data-parallel training across processes (`torch.distributed`): what `fit` does when started by torchrun.

The paper trained on two V100s. `training.fit` runs unchanged in every process of a
``torchrun --nproc_per_node=N`` launch (DDP: distributed data parallel):

- every process builds the same model from the same seed (`seeded`) and draws the same batches
  from its seeded generators; `broadcast_parameters` makes the start bit-identical anyway;
- each global batch is **sharded**: process r keeps rows r, r + N, r + 2N, ... (`shard`), so the
  N processes together see the batch one process would;
- after each backward pass the gradients are averaged over the processes (`average_gradients`,
  an all-reduce): with equal shards, the mean of the shards' mean losses is the batch's mean loss,
  so every process takes the optimiser step one process would take on the whole batch;
- augmentations differ per process (`rank_seed`), the loss history is summed over processes
  (`reduce_sum`), and only process 0 shows progress and writes checkpoints (`is_main`).

``torch.nn.parallel.DistributedDataParallel`` overlaps the same all-reduce with the backward pass;
the book's step functions call model methods (``split_logits``, ``freeze_backbone``) that its
wrapper hides, so the averaging is done here, once per step, after ``backward``. Nothing here
does anything in a single process: `world` is (0, 1) and every function returns its input.
`init_from_env` starts the process group from torchrun's environment (NCCL on CUDA, else gloo).
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["RANK_SEED_STRIDE", "world", "is_main", "init_from_env", "shard", "broadcast_parameters",
           "average_gradients", "reduce_sum", "barrier", "rank_seed"]

RANK_SEED_STRIDE = 1_000_003
"""`rank_seed` adds rank x this prime to a seed: each process draws other augmentations, process 0 the seed's own."""


def world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless a `torch.distributed` process group is running."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True in process 0 (and in a single process): the one that prints progress and writes checkpoints."""
    return world()[0] == 0


def init_from_env() -> tuple[int, int]:
    """Start the process group when torchrun started this process (``WORLD_SIZE`` > 1 in the environment).

    NCCL when CUDA is available (each process on ``cuda:LOCAL_RANK``), else gloo. Returns (rank,
    world size); (0, 1) without torchrun. Calling it again in a running group changes nothing.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or world()[1] > 1:
        return world()
    if not torch.distributed.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch has no torch.distributed: install a build that has it")
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group("nccl" if cuda else "gloo")
    return world()


def shard(batch: Any, rank: int, size: int) -> Any:
    """Rows rank, rank + size, ... of a batch: an array, a tensor, a list, or a tuple / list / dict of them.

    Every part of a composite batch is cut the same way, so inputs and targets stay aligned.
    A batch with fewer rows than processes cannot be shared: ValueError.
    """
    if size == 1:
        return batch
    if isinstance(batch, dict):
        return {k: shard(v, rank, size) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return tuple(shard(v, rank, size) for v in batch)
    if isinstance(batch, (np.ndarray, torch.Tensor, list, range)):
        if len(batch) < size:
            raise ValueError(f"a batch of {len(batch)} rows cannot be shared among {size} processes: use a batch "
                             f"size of at least {size} (ideally a multiple of it)")
        return batch[rank::size]
    raise TypeError(f"cannot shard a batch of type {type(batch).__name__}: give arrays, tensors, lists or tuples")


def broadcast_parameters(model: nn.Module) -> None:
    """Copy process 0's parameters and buffers into every process (no-op in a single process)."""
    if world()[1] == 1:
        return
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            torch.distributed.broadcast(tensor.data, src=0)


def average_gradients(params: Iterable[torch.Tensor]) -> None:
    """Replace each parameter's gradient by its mean over the processes (no-op in a single process)."""
    size = world()[1]
    if size == 1:
        return
    for p in params:
        if p.grad is not None:
            torch.distributed.all_reduce(p.grad, op=torch.distributed.ReduceOp.SUM)
            p.grad.div_(size)


def reduce_sum(values: Sequence[float], device: Any = "cpu") -> list[float]:
    """Each value summed over the processes (float64), e.g. an epoch's loss total and sample count."""
    if world()[1] == 1:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
    return t.tolist()


def barrier() -> None:
    """Wait until every process gets here (no-op in a single process), e.g. until process 0 has saved."""
    if world()[1] > 1:
        torch.distributed.barrier()


def rank_seed(seed: int) -> int:
    """`seed` for process 0, `seed` + rank x `RANK_SEED_STRIDE` for the others: per-process augmentation draws."""
    return int(seed) + RANK_SEED_STRIDE * world()[0]
