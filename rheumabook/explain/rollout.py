"""Attention rollout (Abnar & Zuidema 2020) for plain and windowed, hierarchical timm transformers.

Rollout models the flow of information from the input tokens to an output token as a
product of row-stochastic matrices, one per layer: with A the layer's attention (heads fused)
the residual connection makes the layer's flow ``Â = norm(A + I)`` (rows renormalised to 1),
and the rolled-out matrix after layer l is ``R_l = Â_l ... Â_1``; the map of output token t is
row t of the last R. Rows of every R sum to 1 (each factor is row-stochastic).

A plain ViT gives the standard rollout: one global matrix per block over the whole sequence
(prefix tokens included), the map is the CLS row restricted to the patch columns, as in
Abnar & Zuidema and jacobgil/vit-explain. Windowed, hierarchical models (TinyViT, Wu et al.
2022; timm's Swin) need four more things, all taken from the forward pass itself
(`rheumabook.explain.capture`):

1. **Windows into the full grid.** A block attends inside windows of its token grid (after
   Swin's cyclic shift, on a grid zero-padded to a multiple of the window). Each window's
   matrix is written into an L x L matrix of the block's whole grid (`layer_attention`):
   columns of padding tokens are removed and each head's rows renormalised (the padding
   tokens are real keys in timm, zeros after the padding, but carry no image content); the
   shift is undone token by token. Tokens in different windows get 0.
2. **Patch merging** between stages (a `StencilRecord` of kind "merge") is a stride-2 spatial
   reduction. Each new token gets a share of the old tokens inside the merging's footprint,
   read from the module itself (`stencil_matrix`): TinyViT merges with a 3 x 3 depthwise
   convolution, stride 2, padding 1, so new token (i, j) reads old tokens (2i-1..2i+1,
   2j-1..2j+1) inside the grid; Swin concatenates the 2 x 2 parents (2i..2i+1, 2j..2j+1).
   Equal shares would over-count TinyViT's odd rows and columns, which two neighbouring
   footprints share, and print a lattice at the 2-token period on every map (random weights
   included); so a strided footprint gets tent weights ``1 - |offset| / stride`` per axis
   (1/4, 1/2, 1/4 for TinyViT; equal for Swin's 2 x 2), under which every old token is read
   with the same total weight. This merge matrix M (n_new x n_old, rows summing to 1) composes as
   ``R <- M R``: the flow is carried on to the input grid, never pooled, so the columns of
   every R stay the tokens of the first grid and the map keeps its resolution.
3. **TinyViT's local_conv** (3 x 3 depthwise, *no* residual, between the attention residual
   and the MLP) mixes every token with its 3 x 3 neighbours and only with them: there is no
   skip path that would let a token pass unmixed. ``local_conv="average"`` (default) mixes
   it in as the same footprint matrix (each token an equal share of its in-grid 3 x 3
   neighbourhood, ``R <- C Â R``); ``"identity"`` ignores it (the plain-rollout convention
   that only attention mixes tokens), for comparison.
4. **Stage 0 and the stem** of TinyViT (two stride-2 convolutions, then MBConv blocks with
   residuals and no attention) are taken as the identity mapping "token (i, j) of the stem's
   grid = the 4 x 4-pixel cell it sits on"; the flow starts there, so the first merge is
   carried like the others and maps come at 1/4 of the input resolution. Swin's stem is a
   non-overlapping 4 x 4 patch embedding, so both start at the same stride.

The output token is the one the model pools: ScoringModel's idx pooling takes the top-left
token of the final grid (token 0; the CLS token of a ViT), timm's TinyViT and Swin heads the
mean of all final tokens, a timm ViT its CLS token ("token" pooling) or the mean of its
patch tokens ("avg"). MLPs, norms and the head act token by token and do not move the flow.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from .capture import AttentionRecord, StencilRecord, WindowLayout, capture_attention

__all__ = ["HEAD_FUSIONS", "LOCAL_CONV_FLOWS", "Rollout", "attention_rollout", "fuse_heads", "layer_attention",
           "stencil_matrix", "normalise_maps", "explained_backbone"]

HEAD_FUSIONS: tuple[str, ...] = ("mean", "max", "min")
"""How the heads of a layer are fused into one matrix (Abnar & Zuidema use the mean)."""
LOCAL_CONV_FLOWS: tuple[str, ...] = ("average", "identity")
"""How TinyViT's non-residual local_conv moves the flow (module docstring, point 3)."""

Token = Union[int, str, None]


@dataclass(frozen=True)
class Rollout:
    """Attention-rollout maps of a batch of N images.

    grid: (N, h, w) the map at the final token resolution, before any resizing: the flow into
        each final-stage token's cell (`tokens` summed over the first-grid tokens under it; a
        ViT's final grid is its patch grid, so there ``grid == tokens``).
    tokens: (N, h0, w0) flow from the pooled output token to each token of the first token grid
        (the patch grid of a ViT, the stem's H/4 x W/4 grid of TinyViT and Swin): the finest map
        the flow gives, before any resizing; a ViT's omits the prefix (CLS) columns, so its maps
        sum to less than 1.
    heat: (N, H, W) `tokens` bilinearly upsampled to the input size, each map scaled to **sum 1**
        (a distribution over pixels: `region.mass_in_region` reads it directly).
    token: which output row was read ("cls", "top-left", "mean" or "token <i>").
    matrices: with ``return_matrices=True``, the rolled-out matrix after every attention layer (and,
        last, after the final stencil when one follows it, e.g. TinyViT's last local_conv), each
        (N, L_l, L_0): rows are that layer's tokens, columns the first grid's (prefix included).
    """

    grid: torch.Tensor
    tokens: torch.Tensor
    heat: torch.Tensor
    token: str
    matrices: Optional[tuple[torch.Tensor, ...]] = None


def fuse_heads(attn: torch.Tensor, head_fusion: str = "mean") -> torch.Tensor:
    """(..., heads, N, N) -> (..., N, N): mean, max or min over the heads."""
    if head_fusion == "mean":
        return attn.mean(dim=-3)
    if head_fusion == "max":
        return attn.amax(dim=-3)
    if head_fusion == "min":
        return attn.amin(dim=-3)
    raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")


def _discard_lowest(attn: torch.Tensor, valid: torch.Tensor, ratio: float) -> torch.Tensor:
    """Zero the lowest ``floor(ratio * n_valid)`` entries of each row among its window's valid columns.

    attn: (W, N, N) fused window matrices, valid: (W, N) bool. Ties break by position (stable sort).
    """
    if ratio == 0:
        return attn
    keep_count = torch.floor(ratio * valid.sum(dim=-1).to(attn.dtype)).to(torch.long)  # (W,)
    scores = attn.masked_fill(~valid[:, None, :], float("inf"))
    rank = scores.argsort(dim=-1, stable=True).argsort(dim=-1, stable=True)
    return attn.masked_fill(rank < keep_count[:, None, None], 0.0)


def layer_attention(record: AttentionRecord, head_fusion: str = "mean", discard_ratio: float = 0.0) -> torch.Tensor:
    """(B, L, L) attention of one layer over the block's whole token grid (point 1 of the module docstring).

    Padding columns are removed and each head's rows renormalised, the heads fused, the lowest
    `discard_ratio` of each row's in-window entries zeroed, and each window's matrix placed at
    its tokens' rows and columns (row-major grid order ``y * width + x``). A global record
    (ViT, ``layout=None``) is the (B, N, N) fused matrix itself. Rows of padding-free mean-fused
    matrices sum to 1; with max/min fusion or discarding they need not (`attention_rollout`
    renormalises after adding the identity).
    """
    attn = record.attn.detach()
    layout = record.layout or WindowLayout(1, attn.shape[-1], (1, attn.shape[-1]))
    index = layout.token_index().to(attn.device)  # (nW, N)
    n_windows, area = index.shape
    if attn.shape[0] % n_windows or attn.shape[-1] != area:
        raise RuntimeError(f"attention of shape {tuple(attn.shape)} does not fit {n_windows} windows of {area} "
                           f"tokens ({layout})")
    batch = attn.shape[0] // n_windows
    valid = (index >= 0).repeat(batch, 1)  # (B * nW, N)
    attn = attn * valid[:, None, None, :]
    attn = attn / attn.sum(dim=-1, keepdim=True)
    fused = _discard_lowest(fuse_heads(attn, head_fusion), valid, float(discard_ratio))
    if record.layout is None:
        return fused
    n_tokens = layout.height * layout.width
    pair = (index[:, :, None] >= 0) & (index[:, None, :] >= 0)  # (nW, N, N)
    flat = (index[:, :, None] * n_tokens + index[:, None, :])[pair]
    full = fused.new_zeros(batch, n_tokens * n_tokens)
    full[:, flat] = fused.view(batch, n_windows, area, area)[:, pair]
    return full.view(batch, n_tokens, n_tokens)


def stencil_matrix(in_size: Sequence[int], out_size: Sequence[int], kernel: Sequence[int] = (3, 3),
                   stride: Sequence[int] = (2, 2), padding: Sequence[int] = (1, 1)) -> torch.Tensor:
    """(n_out, n_in) flow of a footprint operation: each output token a share of its in-grid footprint.

    Output token (i, j) reads input tokens ``(i * stride - padding + a, j * stride - padding + b)``,
    ``0 <= a < kernel``, those outside ``in_size`` dropped (zero padding carries no flow); tokens
    are numbered row-major. TinyViT's merge: kernel 3, stride 2, padding 1; Swin's: 2, 2, 0;
    TinyViT's local_conv: 3, 1, 1. Shares: equal at stride 1; at a larger stride, a tent
    ``max(0, 1 - |a - (kernel - 1) / 2| / stride)`` per axis, so that overlapping footprints read
    every input token with the same total weight (module docstring, point 2). Rows sum to 1.
    """
    key = tuple(tuple(int(v) for v in arg) for arg in (in_size, out_size, kernel, stride, padding))
    return _stencil(*key).clone()


@functools.lru_cache(maxsize=64)
def _stencil(in_size: tuple, out_size: tuple, kernel: tuple, stride: tuple, padding: tuple) -> torch.Tensor:
    (hi, wi), (ho, wo) = in_size, out_size
    taps = [_tap_weights(k, st) for k, st in zip(kernel, stride)]
    matrix = torch.zeros(ho * wo, hi * wi)
    for i in range(ho):
        for j in range(wo):
            ys = [(y, w) for a, w in enumerate(taps[0]) if 0 <= (y := i * stride[0] - padding[0] + a) < hi]
            xs = [(x, w) for b, w in enumerate(taps[1]) if 0 <= (x := j * stride[1] - padding[1] + b) < wi]
            if not ys or not xs:
                raise ValueError(f"output token ({i}, {j}) of {out_size} reads no input token of {in_size} "
                                 f"(kernel {kernel}, stride {stride}, padding {padding})")
            for y, wy in ys:
                for x, wx in xs:
                    matrix[i * wo + j, y * wi + x] = wy * wx
    return matrix / matrix.sum(dim=1, keepdim=True)


def _tap_weights(kernel: int, stride: int) -> list[float]:
    """Per-axis share of each tap: equal at stride 1, a tent of half-width `stride` about the centre else."""
    if stride <= 1:
        return [1.0] * kernel
    centre = (kernel - 1) / 2
    return [max(0.0, 1.0 - abs(a - centre) / stride) for a in range(kernel)]


def normalise_maps(maps: torch.Tensor) -> torch.Tensor:
    """(N, H, W) non-negative maps, each scaled to sum 1 (an all-zero map stays 0)."""
    maps = maps.clamp_min(0)
    total = maps.sum(dim=(-2, -1), keepdim=True)
    return torch.where(total > 0, maps / total.clamp_min(torch.finfo(maps.dtype).tiny), maps)


def explained_backbone(model: nn.Module) -> tuple[nn.Module, str]:
    """(timm backbone, family) of a timm model or a `rheumabook.scoring.ScoringModel` (its ``.backbone``).

    family: "tiny_vit", "swin" or "vit". Raises NotImplementedError for other models.
    """
    from timm.models.swin_transformer import SwinTransformer
    from timm.models.tiny_vit import TinyVit
    from timm.models.vision_transformer import Block, VisionTransformer
    from timm.layers.attention import Attention

    from ..scoring.model import ScoringModel

    backbone = model.backbone if isinstance(model, ScoringModel) else model
    if isinstance(backbone, TinyVit):
        return backbone, "tiny_vit"
    if isinstance(backbone, SwinTransformer):
        return backbone, "swin"
    if isinstance(backbone, VisionTransformer):
        odd = [type(b).__name__ for b in backbone.blocks if type(b) is not Block or type(b.attn) is not Attention]
        if odd:
            raise NotImplementedError(f"ViT blocks {sorted(set(odd))} are not the plain Block + Attention that rollout "
                                      f"models (one residual attention per block)")
        return backbone, "vit"
    raise NotImplementedError(f"attention rollout supports timm TinyViT, Swin and VisionTransformer (or a "
                              f"ScoringModel around one), not {type(backbone).__name__}")


def _default_token(model: nn.Module, backbone: nn.Module, family: str) -> Union[int, str]:
    """The output token the model pools: idx pooling -> 0; timm heads -> CLS or "mean" (module docstring)."""
    from ..scoring.model import ScoringModel

    if isinstance(model, ScoringModel):
        return 0
    if family != "vit":
        return "mean"
    pool = getattr(backbone, "global_pool", "token")
    has_cls = getattr(backbone, "cls_token", None) is not None
    if pool == "token" or (pool == "" and has_cls):
        return 0
    if pool in ("avg", ""):
        return "mean"
    raise ValueError(f"a ViT with global_pool={pool!r} pools no single token; pass token=<index> or token='mean'")


def _token_label(token: Union[int, str], family: str, has_cls: bool) -> str:
    if token == "mean":
        return "mean"
    if token == 0:
        return "cls" if family == "vit" and has_cls else "top-left"
    return f"token {token}"


def _check_arguments(images: torch.Tensor, head_fusion: str, discard_ratio: float, local_conv: str) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a (N, C, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")
    if not 0.0 <= float(discard_ratio) < 1.0:
        raise ValueError(f"discard_ratio must be in [0, 1), got {discard_ratio}")
    if local_conv not in LOCAL_CONV_FLOWS:
        raise ValueError(f"local_conv must be one of {LOCAL_CONV_FLOWS}, got {local_conv!r}")


class _Flow:
    """The layer-by-layer flow operators of one captured forward pass."""

    def __init__(self, events: list, head_fusion: str, discard_ratio: float, local_conv: str) -> None:
        self.events = [e for e in events if not (isinstance(e, StencilRecord) and e.kind == "local_conv"
                                                 and local_conv == "identity")]
        self.head_fusion, self.discard_ratio = head_fusion, discard_ratio
        if not any(isinstance(e, AttentionRecord) for e in self.events):
            raise RuntimeError("the forward pass ran no attention module: nothing to roll out")

    def operator(self, event) -> torch.Tensor:
        """(B, L, L) norm(A + I) for attention, (L_out, L_in) footprint matrix for a stencil."""
        if isinstance(event, StencilRecord):
            return _stencil(event.in_size, event.out_size, event.kernel, event.stride, event.padding)
        attn = layer_attention(event, self.head_fusion, self.discard_ratio).float().cpu()
        attn = attn + torch.eye(attn.shape[-1])
        return attn / attn.sum(dim=-1, keepdim=True)

    def input_tokens(self) -> int:
        first = self.events[0]
        if isinstance(first, StencilRecord):
            return first.in_size[0] * first.in_size[1]
        return int(first.attn.shape[-1]) if first.layout is None else first.layout.height * first.layout.width

    def pull_back(self, rows: torch.Tensor) -> torch.Tensor:
        """(B, L_final) weights over the final tokens -> (B, L_0) weights over the first grid: rows @ R_last."""
        for event in reversed(self.events):
            op = self.operator(event)
            rows = torch.bmm(rows[:, None, :], op)[:, 0] if op.ndim == 3 else rows @ op
        return rows

    def matrices(self, batch: int) -> list[torch.Tensor]:
        """The rolled-out (B, L_l, L_0) matrix after each attention layer (stencils folded in)."""
        rolled = torch.eye(self.input_tokens()).expand(batch, -1, -1)
        out = []
        for event in self.events:
            rolled = self.operator(event) @ rolled
            if isinstance(event, AttentionRecord):
                out.append(rolled)
        return out + ([rolled] if isinstance(self.events[-1], StencilRecord) else [])


def _read_rows(final_tokens: int, token: Union[int, str], prefix: int, batch: int) -> torch.Tensor:
    """(B, L_final) weights selecting the output token (or the mean of the non-prefix ones)."""
    rows = torch.zeros(batch, final_tokens)
    if token == "mean":
        rows[:, prefix:] = 1.0 / (final_tokens - prefix)
    elif isinstance(token, int) and not isinstance(token, bool) and 0 <= token < final_tokens:
        rows[:, token] = 1.0
    else:
        raise ValueError(f"token must be 'mean' or an index in [0, {final_tokens}), got {token!r}")
    return rows


def _final_tokens(flow: _Flow) -> int:
    last = flow.events[-1]
    if isinstance(last, StencilRecord):
        return last.out_size[0] * last.out_size[1]
    return int(last.attn.shape[-1]) if last.layout is None else last.layout.height * last.layout.width


def _final_shape(flow: _Flow, first: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of the final token grid: the last stencil's output or the last attention layer's grid."""
    last = flow.events[-1]
    if isinstance(last, StencilRecord):
        return tuple(last.out_size)
    return first if last.layout is None else (last.layout.height, last.layout.width)


def pool_to_grid(tokens: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """(N, h0, w0) first-grid flow -> (N, h, w): the flow summed over each final token's cell.

    With h0, w0 multiples of h, w (TinyViT, Swin: stride-2 merges) the cells tile the first grid
    exactly and the total is kept; otherwise adaptive pooling's cells overlap slightly.
    """
    if tuple(tokens.shape[-2:]) == tuple(shape):
        return tokens
    cell = (tokens.shape[-2] * tokens.shape[-1]) / (shape[0] * shape[1])
    return F.adaptive_avg_pool2d(tokens[:, None], shape)[:, 0] * cell


def _grid_shape(backbone: nn.Module, family: str, flow: _Flow, image_size: tuple[int, int]) -> tuple[int, int]:
    if family == "vit":
        return tuple(int(s) for s in backbone.patch_embed.dynamic_feat_size(image_size))
    first = flow.events[0]
    return tuple(first.in_size) if isinstance(first, StencilRecord) else (first.layout.height, first.layout.width)


def _rollout_batch(backbone: nn.Module, family: str, images: torch.Tensor, token: Union[int, str],
                   options: tuple, return_matrices: bool) -> tuple[torch.Tensor, torch.Tensor, Optional[list]]:
    """(tokens (B, h0, w0), grid (B, h, w), matrices or None) of one batch (model in eval mode, no grad)."""
    with capture_attention(backbone) as capture:
        backbone.forward_features(images)
    flow = _Flow(capture.events, *options)
    prefix = int(getattr(backbone, "num_prefix_tokens", 0)) if family == "vit" else 0
    rows = _read_rows(_final_tokens(flow), token, prefix, len(images))
    matrices = None
    if return_matrices:
        matrices = flow.matrices(len(images))
        flat = torch.bmm(rows[:, None, :], matrices[-1])[:, 0]
    else:
        flat = flow.pull_back(rows)
    height, width = _grid_shape(backbone, family, flow, tuple(images.shape[-2:]))
    if flat.shape[1] - prefix != height * width:
        raise RuntimeError(f"rollout has {flat.shape[1] - prefix} input tokens, the grid {height} x {width}")
    tokens = flat[:, prefix:].reshape(len(images), height, width)
    return tokens, pool_to_grid(tokens, _final_shape(flow, (height, width))), matrices


def attention_rollout(model: nn.Module, images: torch.Tensor, head_fusion: str = "mean", discard_ratio: float = 0.0,
                      *, token: Token = None, local_conv: str = "average", return_matrices: bool = False,
                      batch_size: int = 32) -> Rollout:
    """Attention rollout maps (Abnar & Zuidema 2020) of timm TinyViT, Swin or ViT models (module docstring).

    model: a timm model or a `rheumabook.scoring.ScoringModel` (its ``.backbone`` is explained).
    images: (N, C, H, W) float input as the model takes it.
    head_fusion: "mean" (Abnar & Zuidema), "max" or "min" over each layer's heads.
    discard_ratio: in [0, 1): per row, the lowest fraction of in-window attention entries is zeroed
        before the identity is added (vit-explain's noise filter, applied row by row).
    token: the output token whose row is read; None = the token the model pools (module docstring),
        an int = that token of the final grid / sequence, "mean" = the mean over them.
    local_conv: "average" or "identity": TinyViT's local_conv as a 3 x 3 mixing matrix or ignored.
    return_matrices: also return every layer's rolled-out matrix (`Rollout.matrices`; memory L_l x L_0 each).
    batch_size: images per forward pass (with return_matrices, all images go in one pass).
    The model runs in eval mode under ``torch.no_grad()``; every module's training flag is restored after.
    """
    _check_arguments(images, head_fusion, discard_ratio, local_conv)
    if len(images) == 0:
        raise ValueError("images is an empty batch; pass at least one (C, H, W) image")
    backbone, family = explained_backbone(model)
    token = _default_token(model, backbone, family) if token is None else token
    options = (head_fusion, float(discard_ratio), local_conv)
    modes = {m: m.training for m in model.modules()}
    device = next(backbone.parameters()).device
    step = len(images) if return_matrices else max(int(batch_size), 1)
    fine, grids, matrices = [], [], None
    try:
        model.eval()
        with torch.no_grad():
            for start in range(0, len(images), step):
                tokens, grid, matrices = _rollout_batch(backbone, family, images[start:start + step].to(device),
                                                        token, options, return_matrices)
                fine.append(tokens)
                grids.append(grid)
    finally:
        for module, mode in modes.items():
            module.training = mode
    tokens = torch.cat(fine)
    heat = normalise_maps(F.interpolate(tokens[:, None], size=tuple(images.shape[-2:]), mode="bilinear",
                                        align_corners=False)[:, 0])
    label = _token_label(token, family, getattr(backbone, "cls_token", None) is not None)
    return Rollout(grid=torch.cat(grids), tokens=tokens, heat=heat, token=label,
                   matrices=tuple(matrices) if matrices is not None else None)
