"""What one training step of a model costs, measured on the CPU: FLOPs per sample and peak memory.

The cost model (`book.cost`, ``python -m rheumabook.book plan``) multiplies these by how many samples
a profile's chapters push through each model.

- `step_flops`: forward and backward FLOPs per sample, counted with torch's ``FlopCounterMode`` on
  fake tensors (shapes only, nothing is computed, so EfficientNetV2-S at 512 x 384 takes seconds).
  torch's own formula for ``convolution_backward`` counts a grouped convolution's gradients as if it
  were ungrouped, `groups` times too many (a depthwise 64-channel 3 x 3 convolution: 65x its forward
  instead of 2x; `tests/test_cost.py` shows it), which would make EfficientNet's backward look 13x
  its forward. `conv_backward_flops` counts each gradient asked for as one forward convolution.
- `step_memory`: peak bytes of one training step at a batch size, in the order `training.fit` runs
  it (forward, old gradients released, backward, AdamW step), counted by `LiveBytes` on fake CPU
  tensors: every storage alive at once, weights, gradients, AdamW's two moments, the batch,
  activations and temporaries. float32 throughout: mixed precision keeps most activations in 16
  bits, so this is an upper bound for a GPU under autocast.
- `cpu_seconds`: wall seconds per sample of real training (and forward-only) steps on this CPU.

A model is given as a `build` function and the shape of one input sample ``(C, H, W)``.
"""
from __future__ import annotations

import math
import time
import weakref
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

__all__ = ["conv_backward_flops", "step_flops", "LiveBytes", "step_memory", "cpu_seconds"]

Build = Callable[[], nn.Module]


def conv_backward_flops(grad_out_shape: Sequence[int], x_shape: Sequence[int], w_shape: Sequence[int], _bias: Any,
                        _stride: Any, _padding: Any, _dilation: Any, transposed: bool, _output_padding: Any,
                        _groups: int, output_mask: Sequence[bool], out_shape: Any = None) -> int:
    """FLOPs of ``aten.convolution_backward``: one forward convolution per gradient in `output_mask`.

    A convolution's forward is 2 x (output elements) x (weight elements per output channel): the
    weight (C_out, C_in / groups, k_h, k_w) already holds the grouping. The input gradient is a
    transposed convolution of the same size, the weight gradient a correlation of the same size;
    the bias gradient (a sum) is not counted. For a transposed convolution the roles of input and
    output swap: its forward is 2 x (input elements) x (C_out / groups x k_h x k_w).
    """
    outputs = x_shape if transposed else grad_out_shape
    forward = 2 * math.prod(outputs) * math.prod(w_shape[1:])
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def _flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    return FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: conv_backward_flops})


def _loss(out: Any) -> torch.Tensor:
    """A scalar of every output (boxes, logits, a reconstruction): what the step's loss costs is negligible."""
    return sum(t.float().square().mean() for t in tree_leaves(out) if isinstance(t, torch.Tensor))


class _FakeModel:
    """`build()` with its weights and buffers swapped for fake tensors of the same shapes.

    The model is built for real (some initialisers read values, e.g. timm's drop-path rates) and
    called through `torch.func.functional_call` on the fake copies, so that everything after the
    build -- forward, backward, AdamW -- allocates nothing and computes nothing.
    """

    def __init__(self, build: Build, mode: Any) -> None:
        self.model = build().train()
        self.params = {k: mode.from_tensor(v.detach()).requires_grad_(v.requires_grad)
                       for k, v in self.model.named_parameters()}
        self.buffers = {k: mode.from_tensor(v) for k, v in self.model.named_buffers()}

    def __call__(self, x: torch.Tensor) -> Any:
        return torch.func.functional_call(self.model, {**self.params, **self.buffers}, (x,))

    def trainable(self) -> list[torch.Tensor]:
        return [p for p in self.params.values() if p.requires_grad]


def step_flops(build: Build, input_shape: Sequence[int], *, batch: int = 2) -> tuple[float, float]:
    """(forward, backward) FLOPs per sample of `build()` on inputs of `input_shape` (C, H, W), in train mode.

    Counted on fake tensors for a batch of `batch` (>= 2: batch norm needs two samples in train
    mode) and divided by it; the input needs no gradient, as in training.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode = FakeTensorMode()
    model = _FakeModel(build, mode)
    with mode:
        x = torch.zeros(batch, *input_shape)
        with _flop_counter() as forward:
            loss = _loss(model(x))
        with _flop_counter() as backward:
            loss.backward()
    return forward.get_total_flops() / batch, backward.get_total_flops() / batch


class LiveBytes(TorchDispatchMode):
    """Counts the bytes of tensor storages alive at once; `peak` is the most seen.

    Storages enter through `track` (what existed before: weights, gradients, optimiser state, the
    batch) or as the output of an operation run under this mode; each leaves when Python frees it
    (a weak reference's callback). Views share their base's storage and count once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, int] = {}
        self.current = 0
        self.peak = 0

    def _release(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def track(self, tensor: Any) -> None:
        """Count `tensor`'s storage (once) until it is freed."""
        if not isinstance(tensor, torch.Tensor):
            return
        storage = tensor.untyped_storage()
        key = id(storage)
        if key in self.live:
            return
        self.live[key] = storage.nbytes()
        self.current += self.live[key]
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._release, key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            self.track(leaf)
        return out


def _train_step(model: Callable[[torch.Tensor], Any], optimizer: torch.optim.Optimizer, x: torch.Tensor) -> None:
    """One step in `training.fit`'s order: forward, the previous gradients released, backward, step."""
    loss = _loss(model(x))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def step_memory(build: Build, input_shape: Sequence[int], batch_size: int) -> int:
    """Peak bytes of the second training step of `build()` at `batch_size` (float32, AdamW, fake CPU tensors).

    The first step creates AdamW's moments and the gradients; the second is the steady state every
    later step repeats, and is the one measured.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode = FakeTensorMode()
    model = _FakeModel(build, mode)
    with mode:
        optimizer = torch.optim.AdamW(model.trainable())
        x = torch.zeros(batch_size, *input_shape)
        _train_step(model, optimizer, x)
        counter = LiveBytes()
        for t in [x, *model.params.values(), *model.buffers.values(), *(p.grad for p in model.params.values())]:
            counter.track(t)
        for state in optimizer.state.values():
            for t in state.values():
                counter.track(t)
        with counter:
            _train_step(model, optimizer, x)
    return counter.peak


def cpu_seconds(build: Build, input_shape: Sequence[int], batch_size: int, *, steps: int = 2) -> tuple[float, float]:
    """(training, forward-only) wall seconds per sample on this CPU at `batch_size`, after one warm-up step each.

    Real tensors, float32, the threads torch uses here; the input is random (speed does not depend on it).
    """
    torch.manual_seed(0)
    model = build().train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    x = torch.randn(batch_size, *input_shape)
    _train_step(model, optimizer, x)
    start = time.perf_counter()
    for _ in range(steps):
        _train_step(model, optimizer, x)
    train = (time.perf_counter() - start) / (steps * batch_size)
    model.eval()
    with torch.inference_mode():
        model(x)
        start = time.perf_counter()
        for _ in range(steps):
            model(x)
    return train, (time.perf_counter() - start) / (steps * batch_size)
