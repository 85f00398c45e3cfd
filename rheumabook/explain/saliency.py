"""Vanilla-gradient saliency: the simple baseline rollout is compared with (Simonyan et al. 2014).

The map of an image is ``|d logit / d input|`` for one logit -- the predicted grade of one
score kind, by default -- taken as the maximum over input channels (Simonyan et al.'s choice
for colour images; the crops are grayscale, one channel) and scaled to sum 1 per image, as
`Rollout.heat` is, so the two read the same way in `region.mass_in_region`.
"""
from __future__ import annotations

from typing import Union

import torch
from torch import nn

from .rollout import normalise_maps

__all__ = ["gradient_saliency"]

Target = Union[str, int, torch.Tensor, None]


def _target_columns(model: nn.Module, logits: torch.Tensor, target: Target) -> torch.Tensor:
    """(N,) column of `logits` to explain: a kind's predicted grade, a fixed column, or one per image."""
    from ..scoring.model import ScoringModel

    if target is None:
        if isinstance(model, ScoringModel) and len(model.kinds) > 1:
            raise ValueError(f"the model scores {model.kinds}: pass target='erosion' or 'jsn' (the kind whose "
                             f"predicted grade to explain)")
        target = model.kinds[0] if isinstance(model, ScoringModel) else "predicted"
    if isinstance(target, str):
        if target == "predicted":
            return logits.argmax(dim=1)
        if not isinstance(model, ScoringModel) or target not in model.kinds:
            kinds = model.kinds if isinstance(model, ScoringModel) else ()
            raise ValueError(f"target {target!r} is not a score kind of this model {kinds}; use a kind, "
                             f"'predicted' or a logit index")
        offset = 0
        for kind, kind_logits in model.split_logits(logits).items():
            if kind == target:
                return offset + kind_logits.argmax(dim=1)
            offset += kind_logits.shape[1]
    columns = torch.as_tensor(target, dtype=torch.long, device=logits.device).expand(len(logits))
    if ((columns < 0) | (columns >= logits.shape[1])).any():
        raise ValueError(f"target logit index must lie in [0, {logits.shape[1]}), got {target!r}")
    return columns


def gradient_saliency(model: nn.Module, images: torch.Tensor, target: Target = None) -> torch.Tensor:
    """(N, H, W) maps ``max_c |d logit / d image|``, each scaled to sum 1 (module docstring).

    model: a `rheumabook.scoring.ScoringModel` or any classifier returning (N, K) logits.
    images: (N, C, H, W) float input.
    target: for a ScoringModel a score kind ("erosion" / "jsn": each image's predicted grade of
        that kind; None = the model's only kind), "predicted" (argmax over all logits, the
        default for other models), or a logit index (an int, or an (N,) tensor, one per image).
    The model runs in eval mode (training flags restored after); parameter gradients are not touched.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a (N, C, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    modes = {m: m.training for m in model.modules()}
    device = next(model.parameters()).device
    try:
        model.eval()
        with torch.enable_grad():
            inputs = images.detach().to(device).requires_grad_(True)
            logits = model(inputs)
            if logits.ndim != 2:
                raise ValueError(f"the model must return (N, K) logits, got shape {tuple(logits.shape)}")
            columns = _target_columns(model, logits.detach(), target)
            chosen = logits.gather(1, columns[:, None]).sum()  # images are independent in eval mode
            (grad,) = torch.autograd.grad(chosen, inputs)
    finally:
        for module, mode in modes.items():
            module.training = mode
    return normalise_maps(grad.detach().abs().amax(dim=1).cpu())
