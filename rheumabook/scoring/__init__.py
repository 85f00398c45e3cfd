"""Joint scoring: erosion and JSN grades from enlarged joint crops (paper §3.2-3.4, Tables 1 and 3).

- `crop_joints` (crops.py): each joint's box squared, enlarged by an *area* factor (2.5 at
  evaluation, uniform in (1, 4) in training, paper §3.2), cut from the full-resolution
  radiograph with zero padding, resized, the right hand mirrored into left orientation.
- `ScoringModel` (model.py): a timm backbone (TinyViT by default), idx pooling (the top-left
  feature vector as a CLS stand-in, paper §3.3) and a Linear-BatchNorm-ReLU-Linear head with
  6 erosion + 5 JSN logits (shared) or one kind's (independent).
- `smoothed_targets`, `focal_loss` (losses.py): neighbour-smoothed targets (p = 0.4) and the
  focal loss of paper eq. (3) over them; missing scores are masked out, never scored 0.

Training and evaluation (paper §3.4, §3.5) build on these in chapter 5.
"""
from .crops import EVAL_FACTOR, TRAIN_FACTOR_RANGE, crop_joints, crop_windows, draw_factors
from .losses import MISSING, focal_loss, smoothed_targets
from .model import ScoringModel, idx_pool, num_classes

__all__ = [
    "crop_joints", "crop_windows", "draw_factors", "EVAL_FACTOR", "TRAIN_FACTOR_RANGE",
    "ScoringModel", "idx_pool", "num_classes",
    "smoothed_targets", "focal_loss", "MISSING",
]
