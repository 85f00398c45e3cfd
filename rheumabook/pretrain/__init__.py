"""Self-supervised pretraining of the scoring backbone (paper §3.3; chapter 6).

The paper pretrained TinyViT "on another publicly available dataset of 3818 hand radiographs
... in an image-to-image self-supervised setup, where the task was to reconstruct the clean
image from a corrupted version", the backbone "as a block encoder in the UNet model", with
Gaussian noise, elastic transformations and small cut-out rectangles as corruptions and an L1
loss. Here:

- unet.py: `UNet`, the scoring backbone (built as `ScoringModel` builds it) as the encoder, its
  stage outputs as skips, a light decoder; `encoder_state_dict` for `ScoringModel.backbone`.
- corrupt.py: `corruptions` / `corrupt_crops`, the three corruptions through torchvision v2, seeded.
- train.py: `pretraining_crops` (extra phantom radiographs, the stand-in for the external data),
  `pretrain_encoder` (L1 on `training.fit`), checkpoints and `load_or_pretrain` (cached).
- compare.py: chapter 6's compositions: the scorer fine-tuned from the pretrained encoder, where
  explanation maps put their mass (`rheumabook.explain`), and the pointing game's lesion masks and
  moved crops.
- efficiency.py: label efficiency, fine-tuning with and without the pretrained encoder on few
  labelled patients over several seeds, and its table with paired patient-bootstrap intervals.
"""
from .compare import (grade_examples, heat_ratio_table, load_or_train_pretrained_scorer, pretrained_scoring_config,
                      moved_crops, random_init_scorer, site_lesion_masks)
from .corrupt import corrupt_crops, corruptions
from .efficiency import ARMS, efficiency_runs, efficiency_sizes, efficiency_table
from .train import (CHECKPOINT_FORMAT, ENCODER_FORMAT, Pretrained, load_or_pretrain, load_pretrained,
                    pretrain_encoder, pretrain_fingerprint, pretrain_seeds, pretraining_crops, reconstruction_l1,
                    save_pretrained)
from .unet import UNet, build_unet, encoder_state_dict

__all__ = [
    "UNet", "build_unet", "encoder_state_dict",
    "corruptions", "corrupt_crops",
    "CHECKPOINT_FORMAT", "ENCODER_FORMAT", "pretrain_seeds", "pretraining_crops", "Pretrained", "reconstruction_l1",
    "pretrain_encoder", "save_pretrained", "load_pretrained", "pretrain_fingerprint", "load_or_pretrain",
    "pretrained_scoring_config", "load_or_train_pretrained_scorer", "random_init_scorer",
    "heat_ratio_table", "grade_examples", "site_lesion_masks", "moved_crops",
    "ARMS", "efficiency_sizes", "efficiency_runs", "efficiency_table",
]
