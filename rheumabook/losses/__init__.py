"""Training losses, one file per loss (the torchvision layout); every loss takes ``reduction``.

- `diou_loss` (diou.py): Distance-IoU loss on paired boxes (paper eq. (2), Zheng et al. 2020).
- `reduce_loss` (reduction.py): the one implementation of ``reduction="none" | "mean" | "sum"``.

Used by the localiser (`rheumabook.localize`); scoring and pretraining losses go here too.
"""
from .diou import diou_loss
from .reduction import REDUCTIONS, reduce_loss

__all__ = ["diou_loss", "reduce_loss", "REDUCTIONS"]
