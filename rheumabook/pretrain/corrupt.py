"""The corruptions of the self-supervised pretraining (paper §3.3), through torchvision ``transforms.v2``.

"The corruption process involved adding Gaussian noise, applying geometric elastic
transformations, and cropping small rectangles." Per crop, in this order, on a float crop in [0, 1]:

1. ``v2.ElasticTransform(alpha, sigma)`` with probability `elastic_p`: a smooth random displacement
   field (torchvision draws uniform noise, blurs it with a Gaussian of `sigma` px and scales it by
   `alpha`), the image resampled along it (bilinear, zero fill);
2. ``v2.GaussianNoise(sigma=noise_sigma, clip=True)``: additive pixel noise, clipped back to [0, 1];
3. `erase_count` times ``v2.RandomErasing(p=erase_p, scale=erase_scale, value=0)``: a small
   rectangle (a fraction `erase_scale` of the area, aspect ratio 0.3-3.3) set to 0 -- the cut-out.

The network sees the corrupted crop and must give back the clean one (`pretrain.train`).

torchvision draws a transform's parameters once per call, so `corrupt_crops` calls the pipeline on
each crop separately inside ``torch.random.fork_rng`` seeded from a `torch.Generator` (as
`scoring.augment_crops` does): the same generator state gives the same corruptions, and the global
torch generator is left untouched.
"""
from __future__ import annotations

from typing import Any

import torch

__all__ = ["corruptions", "corrupt_crops"]


def corruptions(config: Any):
    """The v2 pipeline of the three corruptions for a `profiles.PretrainConfig` (see the module docstring)."""
    from torchvision.transforms import v2

    steps = []
    if config.elastic_alpha > 0 and config.elastic_p > 0:
        steps.append(v2.RandomApply([v2.ElasticTransform(alpha=float(config.elastic_alpha),
                                                         sigma=float(config.elastic_sigma), fill=0.0)],
                                    p=float(config.elastic_p)))
    if config.noise_sigma > 0:
        steps.append(v2.GaussianNoise(mean=0.0, sigma=float(config.noise_sigma), clip=True))
    steps += [v2.RandomErasing(p=float(config.erase_p), scale=tuple(config.erase_scale), ratio=(0.3, 3.3), value=0.0)
              for _ in range(int(config.erase_count)) if config.erase_p > 0]
    return v2.Compose(steps) if steps else v2.Identity()


def corrupt_crops(x: torch.Tensor, generator: torch.Generator, pipeline: Any) -> torch.Tensor:
    """Corrupt each crop of a float (N, 1, S, S) batch in [0, 1] with its own draw of `pipeline` (`corruptions`).

    generator: the seeded source of the draws (one integer per batch); the global torch generator is
    restored afterwards. Returns a new (N, 1, S, S) tensor; `x` is not changed.
    """
    if x.ndim != 4 or x.shape[1] != 1 or not x.is_floating_point():
        raise ValueError(f"crops must be a float (N, 1, S, S) batch in [0, 1], got {tuple(x.shape)} {x.dtype}")
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.stack([pipeline(crop.clone()) for crop in x])
