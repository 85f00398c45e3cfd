"""Capture every attention matrix of a timm transformer, relative-position bias and masks included.

timm's attention modules either call ``F.scaled_dot_product_attention`` (``fused_attn=True``:
the bias goes in as ``attn_mask`` and no post-softmax tensor ever exists) or compute
``softmax(q k^T * scale + bias)`` by hand (``fused_attn=False``). Hooking the softmax, as
jacobgil/vit-explain does, therefore sees nothing on the fused path and misses the bias on
models that add it elsewhere. `capture_attention` instead wraps each attention module's
``forward`` for the duration of a ``with`` block: the module's *own* forward still produces
the output (the model computes exactly what it computes without us), and beside it the
wrapper recomputes the attention probabilities from the module's own ``qkv`` projection,
scale, bias and mask:

- TinyViT (`timm.models.tiny_vit.Attention`, Wu et al. 2022): ``LayerNorm -> qkv``, bias
  ``attention_biases[:, attention_bias_idxs]`` read from the parameters on every call. In
  eval mode timm caches that tensor per device (``attention_bias_cache``) and only
  ``train(True)`` / ``.to()`` clear it, so after ``load_state_dict`` in eval mode the model
  would go on using the *old* bias. We never read the cache, and clear it on entry and on
  exit, so both the captured matrices and the model's own forward use the loaded weights.
- Swin (`timm.models.swin_transformer.WindowAttention`): relative-position bias table plus
  the shifted-window mask (-100 between tokens from different regions of the rolled grid).
- ViT (`timm.layers.Attention`): ``q_norm``/``k_norm``, an optional ``attn_mask``.

Beside the attention records the capture logs, in forward order, the *token-mixing*
operations between them that attention rollout has to carry the flow through
(`StencilRecord`): TinyViT's and Swin's patch merging (strided spatial reductions) and
TinyViT's non-residual 3 x 3 depthwise ``local_conv``. Each attention record carries the
`WindowLayout` of its block (grid size, window, shift), read from the block's input.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import torch
from torch import nn

__all__ = ["WindowLayout", "AttentionRecord", "StencilRecord", "AttentionCapture", "capture_attention",
           "attention_probabilities"]


@dataclass(frozen=True)
class WindowLayout:
    """How a windowed block cuts its (height x width) token grid into windows.

    The grid is rolled by ``-shift`` (Swin's shifted windows; (0, 0) for TinyViT), zero-padded
    at the bottom/right to a multiple of ``window`` and cut into windows in row-major order,
    as ``TinyVitBlock.forward`` and ``SwinTransformerBlock._attn`` do.
    """

    height: int
    width: int
    window: tuple[int, int]
    shift: tuple[int, int] = (0, 0)

    @property
    def grid(self) -> tuple[int, int]:
        """Windows along (y, x) of the padded grid."""
        return -(-self.height // self.window[0]), -(-self.width // self.window[1])

    @property
    def n_windows(self) -> int:
        """Windows per image."""
        n_y, n_x = self.grid
        return n_y * n_x

    def token_index(self) -> torch.Tensor:
        """(n_windows, window_area) long: the grid token (row-major ``y * width + x``) at each window slot, -1 for padding."""
        n_y, n_x = self.grid
        (wh, ww), (sh, sw) = self.window, self.shift
        wy, wx, py, px = torch.meshgrid(torch.arange(n_y), torch.arange(n_x), torch.arange(wh), torch.arange(ww),
                                        indexing="ij")
        y, x = wy * wh + py, wx * ww + px  # position in the rolled, padded grid
        inside = (y < self.height) & (x < self.width)
        token = ((y + sh) % self.height) * self.width + (x + sw) % self.width  # rolled back: torch.roll(-shift)
        return torch.where(inside, token, torch.full_like(token, -1)).reshape(n_y * n_x, wh * ww)


@dataclass
class AttentionRecord:
    """One call of an attention module.

    attn: (B * n_windows, heads, N, N) probabilities, rows summing to 1 (bias and mask included).
    layout: the block's `WindowLayout`, or None for global attention over the whole sequence (ViT).
    values / output: (B * n_windows, heads, N, d) values and the module's own (B * n_windows, N, C)
        output, kept only with ``capture_attention(..., keep_values=True)``.
    """

    name: str
    attn: torch.Tensor
    layout: Optional[WindowLayout] = None
    values: Optional[torch.Tensor] = None
    output: Optional[torch.Tensor] = None


@dataclass(frozen=True)
class StencilRecord:
    """A spatial operation that mixes tokens without attention: a (strided) convolution-like footprint.

    kind: "merge" (patch merging between stages) or "local_conv" (TinyViT's depthwise conv).
    Output token (i, j) reads the input tokens ``(i * stride - padding + a, j * stride - padding + b)``
    for ``0 <= a < kernel[0]``, ``0 <= b < kernel[1]`` that lie inside ``in_size``.
    """

    name: str
    kind: str
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass
class AttentionCapture:
    """What one or more forward passes inside `capture_attention` recorded, in forward order."""

    events: list = field(default_factory=list)

    @property
    def attention(self) -> list[AttentionRecord]:
        """The attention records only."""
        return [e for e in self.events if isinstance(e, AttentionRecord)]

    def clear(self) -> None:
        """Forget the records (between batches)."""
        self.events.clear()


def _pair(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _tiny_vit_probs(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T * scale + bias) of `timm.models.tiny_vit.Attention`; the bias from the parameters, never the cache."""
    batch, n, _ = x.shape
    bias = module.attention_biases[:, module.attention_bias_idxs]
    qkv = module.qkv(module.norm(x)).view(batch, n, module.num_heads, -1)
    q, k, v = (t.permute(0, 2, 1, 3) for t in qkv.split([module.key_dim, module.key_dim, module.val_dim], dim=3))
    return ((q * module.scale) @ k.transpose(-2, -1) + bias).softmax(dim=-1), v


def _swin_probs(module: nn.Module, x: torch.Tensor, mask: Optional[torch.Tensor] = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T * scale + relative-position bias + shifted-window mask) of timm's Swin `WindowAttention`."""
    batch_windows, n, _ = x.shape
    q, k, v = module.qkv(x).reshape(batch_windows, n, 3, module.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
    attn = (q * module.scale) @ k.transpose(-2, -1) + module._get_rel_pos_bias()
    if mask is not None:
        n_win = mask.shape[0]
        attn = attn.view(-1, n_win, module.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, module.num_heads, n, n)
    return attn.softmax(dim=-1), v


def _vit_probs(module: nn.Module, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None,
               is_causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T * scale [+ mask]) of `timm.layers.Attention` (q_norm / k_norm applied)."""
    from timm.layers.attention import resolve_self_attn_mask

    batch, n, _ = x.shape
    qkv = module.qkv(x).reshape(batch, n, 3, module.num_heads, module.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q, k = module.q_norm(q), module.k_norm(k)
    attn = (q * module.scale) @ k.transpose(-2, -1)
    bias = resolve_self_attn_mask(n, attn, attn_mask, is_causal)
    return (attn if bias is None else attn + bias).softmax(dim=-1), v


def _probability_functions() -> dict[type, Callable]:
    from timm.layers.attention import Attention as VitAttention
    from timm.models.swin_transformer import WindowAttention
    from timm.models.tiny_vit import Attention as TinyVitAttention

    return {TinyVitAttention: _tiny_vit_probs, WindowAttention: _swin_probs, VitAttention: _vit_probs}


def attention_probabilities(module: nn.Module, x: torch.Tensor, *args: Any, **kwargs: Any
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities (B', heads, N, N), values (B', heads, N, d)) of a supported timm attention module on input x (B', N, C).

    Extra arguments are those of the module's forward (Swin's ``mask``, ViT's ``attn_mask``).
    Raises NotImplementedError for an attention class it does not know.
    """
    function = _probability_functions().get(type(module))
    if function is None:
        raise NotImplementedError(f"no attention recomputation for {type(module).__module__}.{type(module).__name__}; "
                                  f"supported: timm TinyViT Attention, Swin WindowAttention, timm.layers.Attention (ViT)")
    return function(module, x, *args, **kwargs)


def _clear_bias_caches(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(getattr(module, "attention_bias_cache", None), dict):
            module.attention_bias_cache = {}


def _block_layouts(model: nn.Module) -> dict[nn.Module, Callable[[torch.Tensor, nn.Module], WindowLayout]]:
    """{block: layout_of(block_input, block)} for TinyViT and Swin blocks (NHWC inputs)."""
    from timm.models.swin_transformer import SwinTransformerBlock
    from timm.models.tiny_vit import TinyVitBlock

    def tiny(x: torch.Tensor, block: nn.Module) -> WindowLayout:
        return WindowLayout(int(x.shape[1]), int(x.shape[2]), _pair(block.window_size))

    def swin(x: torch.Tensor, block: nn.Module) -> WindowLayout:
        return WindowLayout(int(x.shape[1]), int(x.shape[2]), _pair(block.window_size), _pair(block.shift_size))

    kinds = {TinyVitBlock: tiny, SwinTransformerBlock: swin}
    return {m: kinds[type(m)] for m in model.modules() if type(m) in kinds}


def _stencil_hooks(model: nn.Module, capture: AttentionCapture) -> list:
    """Forward hooks logging TinyViT / Swin patch merging and TinyViT's local_conv as `StencilRecord`s."""
    from timm.models.swin_transformer import PatchMerging as SwinMerging
    from timm.models.tiny_vit import PatchMerging as TinyMerging
    from timm.models.tiny_vit import TinyVitBlock

    def hook(name: str, kind: str, conv: Optional[nn.Conv2d], channels_last: bool) -> Callable:
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            dims = (1, 2) if channels_last else (2, 3)
            in_size = (int(inputs[0].shape[dims[0]]), int(inputs[0].shape[dims[1]]))
            out_size = (int(output.shape[dims[0]]), int(output.shape[dims[1]]))
            if conv is None:  # Swin: 2 x 2 neighbours concatenated, odd sizes padded at the bottom/right
                geometry = ((2, 2), (2, 2), (0, 0))
            else:
                geometry = (_pair(conv.kernel_size), _pair(conv.stride), _pair(conv.padding))
            capture.events.append(StencilRecord(name, kind, in_size, out_size, *geometry))
        return record

    handles = []
    for name, module in model.named_modules():
        if isinstance(module, TinyMerging):
            handles.append(module.register_forward_hook(hook(name, "merge", module.conv2.conv, False)))
        elif isinstance(module, SwinMerging):
            handles.append(module.register_forward_hook(hook(name, "merge", None, True)))
        elif isinstance(module, TinyVitBlock):
            handles.append(module.local_conv.register_forward_hook(
                hook(f"{name}.local_conv", "local_conv", module.local_conv.conv, False)))
    return handles


def _wrap(name: str, module: nn.Module, capture: AttentionCapture, pending: dict, keep_values: bool) -> Callable:
    original = module.forward

    def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        output = original(x, *args, **kwargs)
        probs, values = attention_probabilities(module, x, *args, **kwargs)
        capture.events.append(AttentionRecord(name, probs, pending.pop(module, None),
                                              values if keep_values else None, output if keep_values else None))
        return output

    return forward


@contextlib.contextmanager
def capture_attention(model: nn.Module, keep_values: bool = False) -> Iterator[AttentionCapture]:
    """Record every attention matrix (and the token-mixing steps between them) of forwards run inside the block.

    model: a timm TinyViT, Swin or ViT, or any module containing their attention modules.
    keep_values: also keep each call's values and output (`AttentionRecord.values` / ``.output``).
    The model's outputs are unchanged; its ``forward`` attributes and hooks are restored on exit
    and TinyViT's eval-mode bias cache is cleared on entry and exit (module docstring).
    """
    functions = _probability_functions()
    targets = [(n, m) for n, m in model.named_modules() if type(m) in functions]
    if not targets:
        raise NotImplementedError(f"{type(model).__name__} has no attention module capture_attention knows "
                                  f"(timm TinyViT, Swin or ViT attention)")
    capture, pending = AttentionCapture(), {}
    layouts = _block_layouts(model)

    def pre_hook(block: nn.Module, inputs: tuple) -> None:
        pending[block.attn] = layouts[block](inputs[0], block)

    handles = [b.register_forward_pre_hook(pre_hook) for b in layouts] + _stencil_hooks(model, capture)
    saved = {m: m.__dict__["forward"] for _, m in targets if "forward" in m.__dict__}
    _clear_bias_caches(model)
    try:
        for name, module in targets:
            module.forward = _wrap(name, module, capture, pending, keep_values)
        yield capture
    finally:
        for handle in handles:
            handle.remove()
        for _, module in targets:
            del module.forward
            if module in saved:
                module.forward = saved[module]
        _clear_bias_caches(model)
