"""The joint scoring model: a timm backbone, idx pooling, and a two-layer head (paper §3.3).

RheumaVIT scores each joint crop with TinyViT. TinyViT has no CLS token, so the paper takes
the feature vector at the *top-left* position of the final feature map ("idx pooling": the
elements whose last two coordinates are 0) as its stand-in, and feeds it to a head of two
fully connected layers (hidden 512, BatchNorm and ReLU between them) that outputs 11 logits:
6 for erosion (grades 0-5) and 5 for JSN (grades 0-4).

`ScoringModel` does this for any timm backbone. What "top-left position" means depends on
the layout of the backbone's output, which `ScoringModel` probes once when it is built:

- NCHW feature maps (TinyViT, CNNs: ResNet, EfficientNet, VGG, MobileViT): ``[:, :, 0, 0]``;
- NHWC feature maps (timm's Swin): ``[:, 0, 0, :]``;
- NLC token sequences (ViT): token 0 -- for a ViT that *is* its CLS token, the thing idx
  pooling imitates; for a ViT without one it is the top-left patch.

A *shared* model scores both kinds at once (``kinds=("erosion", "jsn")``, 11 logits); an
*independent* set-up builds one model per kind (``kinds=("erosion",)``: 6 logits).

Used by chapter 5 and the scoring pipeline.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from ..joints import MAX_SCORE, SCORE_KINDS

__all__ = ["FEATURE_LAYOUTS", "num_classes", "idx_pool", "ScoringModel", "load_backbone_weights"]

FEATURE_LAYOUTS: tuple[str, ...] = ("NCHW", "NHWC", "NLC")
"""Layouts of a backbone's unpooled output that `idx_pool` understands."""


def num_classes(kind: str) -> int:
    """Number of grades (= logits) of a score kind: erosion 6 (0-5), JSN 5 (0-4)."""
    if kind not in MAX_SCORE:
        raise ValueError(f"unknown score kind {kind!r}; expected one of {SCORE_KINDS}")
    return MAX_SCORE[kind] + 1


def idx_pool(features: torch.Tensor, layout: str = "NCHW") -> torch.Tensor:
    """The (N, C) feature vector at the top-left position of each feature map (paper §3.3).

    features: (N, C, H, W) for "NCHW", (N, H, W, C) for "NHWC", (N, L, C) for "NLC" (token 0).
    """
    if layout not in FEATURE_LAYOUTS:
        raise ValueError(f"layout must be one of {FEATURE_LAYOUTS}, got {layout!r}")
    expected_ndim = 3 if layout == "NLC" else 4
    if features.ndim != expected_ndim:
        raise ValueError(f"{layout} features must be {expected_ndim}-D, got shape {tuple(features.shape)}")
    if layout == "NCHW":
        return features[:, :, 0, 0]
    if layout == "NHWC":
        return features[:, 0, 0, :]
    return features[:, 0, :]


def _kinds(kinds: Union[str, Sequence[str]]) -> tuple[str, ...]:
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds or len(set(kinds)) != len(kinds) or any(k not in SCORE_KINDS for k in kinds):
        raise ValueError(f"kinds must be a non-empty selection of {SCORE_KINDS} without repeats, got {kinds}")
    return tuple(k for k in SCORE_KINDS if k in kinds)  # the one fixed order: erosion logits first


def _create_backbone(name: str, in_chans: int, img_size: int, backbone_kwargs: Mapping[str, Any]) -> nn.Module:
    """timm backbone without classifier and pooling (``num_classes=0, global_pool=""``), random weights.

    ``img_size`` is passed to families that fix their input size at build time (ViT, Swin);
    families that take any size (CNNs, TinyViT) refuse the keyword and are built without it.
    """
    import timm

    options = dict(pretrained=False, num_classes=0, global_pool="", in_chans=in_chans, **backbone_kwargs)
    try:
        try:
            return timm.create_model(name, img_size=img_size, **options)
        except TypeError as err:
            if "img_size" not in str(err):
                raise
            return timm.create_model(name, **options)
    except RuntimeError as err:  # timm raises RuntimeError for an unknown name
        raise ValueError(f"unknown timm backbone {name!r}: {err}") from None


class ScoringModel(nn.Module):
    """Scores joint crops: timm backbone -> idx pooling -> Linear-BatchNorm-ReLU-Linear (paper §3.3).

    backbone: a timm model name (default "tiny_vit_5m_224", the paper's), always built with
        ``pretrained=False``; `weights_path` loads local backbone weights instead (safetensors,
        e.g. the self-supervised pre-training of chapter 6).
    kinds: ("erosion", "jsn") for the shared model (11 logits: 6 erosion, then 5 JSN) or one
        kind for an independent model.
    in_chans: input channels (1: the crops are grayscale). img_size: crop side in pixels.
    hidden: width of the head's hidden layer (512 in the paper).
    backbone_kwargs: extra keywords for ``timm.create_model`` (e.g. a smaller TinyViT's
        ``embed_dims``/``depths``/``num_heads`` for a CPU profile).
    Input: (N, in_chans, img_size, img_size) float crops. Output: (N, n_logits) logits; split
    them per kind with `split_logits`.
    """

    def __init__(self, backbone: str = "tiny_vit_5m_224", *, kinds: Union[str, Sequence[str]] = SCORE_KINDS,
                 in_chans: int = 1, img_size: int = 224, hidden: int = 512,
                 weights_path: Union[str, Path, None] = None,
                 backbone_kwargs: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__()
        if in_chans < 1 or img_size < 16 or hidden < 1:
            raise ValueError(f"in_chans and hidden must be >= 1 and img_size >= 16, got {in_chans}, {img_size}, "
                             f"{hidden}")
        self.kinds = _kinds(kinds)
        self.in_chans, self.img_size = int(in_chans), int(img_size)
        self.backbone = _create_backbone(backbone, self.in_chans, self.img_size, dict(backbone_kwargs or {}))
        if weights_path is not None:
            load_backbone_weights(self.backbone, weights_path)
        self.feature_layout, channels = self._probe_features()
        self.head = nn.Sequential(nn.Linear(channels, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, sum(num_classes(k) for k in self.kinds)))
        self.backbone_frozen = False

    @torch.no_grad()
    def _probe_features(self) -> tuple[str, int]:
        """(layout, channels) of the backbone's output for one blank crop; timm's metadata differ by family."""
        was_training = self.backbone.training
        self.backbone.eval()
        out = self.backbone(torch.zeros(1, self.in_chans, self.img_size, self.img_size))
        self.backbone.train(was_training)
        if out.ndim == 3:
            return "NLC", int(out.shape[2])
        if out.ndim == 4:
            if getattr(self.backbone, "output_fmt", "NCHW") == "NHWC":
                return "NHWC", int(out.shape[3])
            return "NCHW", int(out.shape[1])
        raise ValueError(f"backbone output of shape {tuple(out.shape)} is neither a feature map nor a token "
                         f"sequence; idx pooling needs one of {FEATURE_LAYOUTS}")

    @property
    def num_logits(self) -> int:
        """Logits per crop: 11 for the shared model, 6 (erosion) or 5 (JSN) for an independent one."""
        return sum(num_classes(k) for k in self.kinds)

    def forward_features(self, crops: torch.Tensor) -> torch.Tensor:
        """(N, in_chans, S, S) crops -> the backbone's unpooled output (layout `feature_layout`)."""
        if crops.ndim != 4 or crops.shape[1] != self.in_chans:
            raise ValueError(f"crops must have shape (N, {self.in_chans}, H, W), got {tuple(crops.shape)}")
        return self.backbone(crops)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Unpooled features -> (N, num_logits) logits: idx pooling, then Linear-BatchNorm-ReLU-Linear."""
        return self.head(idx_pool(features, self.feature_layout))

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """(N, in_chans, S, S) float crops -> (N, num_logits) logits (erosion first, then JSN)."""
        return self.forward_head(self.forward_features(crops))

    def split_logits(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """{kind: (N, grades) logits} from the model's (N, num_logits) output, e.g. erosion (N, 6), jsn (N, 5)."""
        if logits.ndim != 2 or logits.shape[1] != self.num_logits:
            raise ValueError(f"logits must have shape (N, {self.num_logits}), got {tuple(logits.shape)}")
        sizes = [num_classes(k) for k in self.kinds]
        return dict(zip(self.kinds, torch.split(logits, sizes, dim=1)))

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Stage 1 of the paper's training (§3.4) freezes the backbone; stage 2 unfreezes it.

        A frozen backbone gets no gradients and stays in eval mode (its BatchNorm statistics
        and dropout are those of the weights it was given), whatever `train()` is called with.
        """
        self.backbone_frozen = bool(frozen)
        for parameter in self.backbone.parameters():
            parameter.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> "ScoringModel":
        """As ``nn.Module.train``, except that a frozen backbone stays in eval mode."""
        super().train(mode)
        if self.backbone_frozen:
            self.backbone.eval()
        return self


def load_backbone_weights(backbone: nn.Module, path: Union[str, Path]) -> None:
    """Load a safetensors file of backbone weights (keys as in ``backbone.state_dict()``, or under "backbone.").

    Every key must match: a missing or unexpected key raises a ValueError naming a few of them.
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"backbone weights file {path} does not exist")
    state = load_file(str(path))
    if state and all(k.startswith("backbone.") for k in state):
        state = {k[len("backbone."):]: v for k, v in state.items()}
    expected = backbone.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"backbone weights {path.name} do not fit the backbone: missing {missing[:5]}"
                         f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                         f"{' ...' if len(unexpected) > 5 else ''}")
    wrong = [k for k in expected if expected[k].shape != state[k].shape]
    if wrong:
        raise ValueError(f"backbone weights {path.name} have other shapes at {wrong[:5]}: e.g. {wrong[0]} "
                         f"{tuple(state[wrong[0]].shape)} vs {tuple(expected[wrong[0]].shape)}")
    backbone.load_state_dict(state)
