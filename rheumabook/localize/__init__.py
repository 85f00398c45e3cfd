"""Joint localisation by box regression (paper §3.3, §3.5, Table 2): radiograph hands -> 21 boxes each.

A hand has a fixed set of 21 joint sites (`rheumabook.joints.JOINTS`), so RheumaVIT does not
*detect* joints: it *regresses* 21 boxes per hand image, one per site, in a fixed order.

- model.py: CoordConv input (`coordinate_channels`, `model_inputs`) and `BoxRegressor`.
- loss.py: the MSE -> DIoU schedule of eq. (1) (`loss_for_epoch`, `localization_loss`);
  the DIoU loss itself (eq. (2)) is `rheumabook.losses.diou_loss`.
- metrics.py: §3.5's `paired_iou`, `localization_hits` / `localization_accuracy`, `per_joint_metrics`.
- augment.py: `random_affines` + `warp_images` + `transform_boxes` (boxes move with the image), the
  domain randomisation `randomize_appearance`, and `augment_batch`, the training step's whole chain.
- framing.py: `frame_box` / `frame_hand` crop a hand image to its foreground before resizing (training
  and inference alike), `to_frame` / `from_frame` map boxes exactly.
- hands.py: `HandSet`, `prepare_hands` (split at the seam, mirror, resize, cache),
  `render_phantom_hands`, `split_patients`, `localization_data` (chapter 4's data).
- train.py: `train_localizer` (on `rheumabook.training.fit`), `predict_boxes`, `evaluate`,
  checkpoints (`save_localizer`, `load_localizer`, `load_or_train_localizer`).
- ablation.py: the Table 2 ablation over seeds (`run_ablation`, one cached JSON row per finished
  run; `ablation_summary` with t-intervals, paired `ablation_differences`, `interval_words`; read by role with `ablation_results`).

`LocalizerConfig`, `Augment` and `LOSS_KINDS` live in `rheumabook.profiles` and are re-exported.
Box convention: (x_min, y_min, x_max, y_max), pixel edges (`rheumabook.boxes`); inside the
model boxes are normalised: x / width, y / height of the model input.

Used by chapter 4 (book/04_localization.ipynb) and by the chapters that crop joints.
"""
from ..boxes import paired_iou
from ..losses import diou_loss
from ..profiles import LOSS_KINDS, Augment, LocalizerConfig
from .ablation import (ABLATION_COMPARISONS, ABLATION_METRICS, ABLATION_ROLES, PAPER_TABLE2, ablation_differences,
                       ablation_headline, ablation_results, ablation_run_key, ablation_seeds, ablation_summary,
                       ablation_variants, interval_sign, interval_words, mean_interval, run_ablation)
from .augment import (BOX_TRANSFORMS, affine_matrix, augment_batch, random_affines, random_frame_jitter,
                      randomize_appearance, standardize, transform_boxes, warp_images)
from .framing import FRAME_MARGIN, crop_frame, foreground_box, foreground_mask, frame_box, frame_hand, from_frame, to_frame
from .hands import (HELD_OUT_FRACTION, HandSet, LocalizationData, concat_hands, extra_phantom_seeds,
                    hands_cache_key, hands_of_radiograph, localization_data, mean_boxes, preparation_fingerprint,
                    prepare_hands, render_phantom_hands, resize_hand, split_patients)
from .loss import localization_loss, loss_for_epoch
from .metrics import localization_accuracy, localization_hits, per_joint_metrics, summary_metrics
from .model import N_JOINTS, BoxRegressor, build_model, coordinate_channels, count_parameters, model_inputs
from .train import (CHECKPOINT_FORMAT, TrainResult, default_checkpoint, evaluate, fit_config, initial_localizer,
                    load_localizer, load_or_train_localizer, localizer_provenance, predict_boxes, save_localizer,
                    train_localizer)

__all__ = [
    "LocalizerConfig", "Augment", "LOSS_KINDS", "N_JOINTS",
    "coordinate_channels", "model_inputs", "BoxRegressor", "build_model", "count_parameters",
    "diou_loss", "loss_for_epoch", "localization_loss",
    "paired_iou", "localization_hits", "localization_accuracy", "per_joint_metrics", "summary_metrics",
    "affine_matrix", "random_affines", "warp_images", "BOX_TRANSFORMS", "transform_boxes", "standardize",
    "random_frame_jitter", "randomize_appearance", "augment_batch",
    "FRAME_MARGIN", "foreground_mask", "foreground_box", "frame_box", "crop_frame", "frame_hand", "to_frame",
    "from_frame",
    "HandSet", "resize_hand", "hands_of_radiograph", "prepare_hands", "mean_boxes", "concat_hands",
    "extra_phantom_seeds", "render_phantom_hands", "HELD_OUT_FRACTION", "split_patients",
    "preparation_fingerprint", "hands_cache_key", "LocalizationData", "localization_data",
    "CHECKPOINT_FORMAT", "TrainResult", "fit_config", "initial_localizer", "train_localizer", "predict_boxes",
    "evaluate", "save_localizer", "load_localizer", "default_checkpoint", "load_or_train_localizer", "localizer_provenance",
    "PAPER_TABLE2", "ABLATION_ROLES", "ablation_variants", "run_ablation", "ablation_results", "ablation_headline",
    "ABLATION_COMPARISONS", "ABLATION_METRICS", "ablation_seeds", "ablation_run_key", "mean_interval", "ablation_summary",
    "ablation_differences", "interval_sign", "interval_words",
]
