"""Joint scoring: erosion and JSN grades from enlarged joint crops (paper §3.2-3.4, Tables 1 and 3).

- `crop_joints` (crops.py): each joint's box squared, enlarged by an *area* factor (2.5 at
  evaluation, uniform in (1, 4) in training, paper §3.2), cut from the full-resolution
  radiograph with zero padding, resized, the right hand mirrored into left orientation.
- `ScoringModel` (model.py): a timm backbone (TinyViT by default), idx pooling (the top-left
  feature vector as a CLS stand-in, paper §3.3) and a Linear-BatchNorm-ReLU-Linear head with
  6 erosion + 5 JSN logits (shared) or one kind's (independent).
- `smoothed_targets`, `focal_loss` (losses.py): neighbour-smoothed targets (p = 0.4) and the
  focal loss of paper eq. (3) over them; missing scores are masked out, never scored 0.
- data.py: `site_labels` (Dawid-Skene and truth labels per site), `CropSet`, `scoring_data`
  (chapter 4's patient split, crops cached under the artifacts folder).
- augment.py: the paper's augmentations through torchvision transforms.v2, seeded per crop.
- train.py: weighted sampling, two-stage training on `training.fit`, `Scorer` (`crop_probabilities`), checkpoints,
  `load_or_train_scorer`.
- evaluate.py: weighted accuracy / MAE with patient-bootstrap intervals, experts and baseline on
  the same joints, confusion matrices, the paper's Tables 1 and 3.
- compare.py: the Table 3-style backbone comparison, the CNN ensemble, shared vs independent.
- table1.py: `table1`, the one Table 1 of chapters 5 and 7 (`Table1`: rows, `wide`, `headline`), `on_sites`,
  `paper_table`.
- curve.py: `learning_curve`, accuracy against the number of training patients (chapter 5).
- calibration.py: the prior (logit) adjustment from balanced to natural grades, its strength fitted on
  patients set aside (`fit_tau`), `expected_grade` (chapter 7).
- backbones.py: `vgg_mini`, registered with timm for the CPU profile.
"""
from . import backbones
from .augment import AUGMENT_SETS, augment_crops, augmentations, paper_augmentations, standardize_crops, to_unit
from .compare import ENSEMBLE_MEMBERS, comparison_config, ensemble, run_comparison
from .crops import EVAL_FACTOR, TRAIN_FACTOR_RANGE, crop_joints, crop_windows, draw_factors, shifted_boxes
from .calibration import TAU_GRID, expected_grade, fit_tau, label_prior, prior_adjusted, sampled_prior
from .curve import curve_sizes, learning_curve
from .table1 import EXPERTS, MAJORITY, ONE_VS_TWO, REFERENCES, Table1, on_sites, paper_table, table1
from .data import (CALIBRATION_PREFIX, CALIBRATION_STREAM, LABEL_SOURCES, STREAM, STREAM_PREFIX, TRAIN_DRAWS, CropSet,
                   ScoringData, calibration_patients, chapter_scoring_data, crop_set, crops_fingerprint, scoring_data,
                   site_labels, stream_patients)
from .evaluate import (PAPER_TABLE1, PAPER_TABLE3, confusion, difference_row, evaluation_table, expert_predictions, graded_sites,
                       interval_text, majority_baseline, metric_row, site_accuracy, one_vs_two_rows, pooled, predicted_box_sites,
                       shift_stability)
from .losses import MISSING, focal_loss, smoothed_targets
from .model import ScoringModel, idx_pool, num_classes
from .train import (CHECKPOINT_FORMAT, TRANSFORMER_FAMILIES, Scorer, build_scorer, crop_probabilities,
                    default_checkpoint, epoch_indices, load_or_train_scorer, load_scorer, sampling_weights, save_scorer,
                    schedule_for, scorer_provenance, train_model, train_scorer)

__all__ = [
    "crop_joints", "crop_windows", "draw_factors", "shifted_boxes", "EVAL_FACTOR", "TRAIN_FACTOR_RANGE",
    "ScoringModel", "idx_pool", "num_classes",
    "smoothed_targets", "focal_loss", "MISSING",
    "LABEL_SOURCES", "TRAIN_DRAWS", "STREAM", "STREAM_PREFIX", "site_labels", "CropSet", "crop_set", "ScoringData",
    "scoring_data", "stream_patients", "chapter_scoring_data", "CALIBRATION_STREAM", "CALIBRATION_PREFIX",
    "calibration_patients",
    "crops_fingerprint",
    "AUGMENT_SETS", "augmentations", "paper_augmentations", "to_unit", "standardize_crops", "augment_crops",
    "CHECKPOINT_FORMAT", "TRANSFORMER_FAMILIES", "schedule_for", "build_scorer", "sampling_weights",
    "epoch_indices", "Scorer", "crop_probabilities", "train_model", "train_scorer", "save_scorer", "load_scorer", "default_checkpoint",
    "load_or_train_scorer", "scorer_provenance",
    "PAPER_TABLE1", "PAPER_TABLE3", "graded_sites", "site_accuracy", "metric_row", "difference_row", "evaluation_table", "expert_predictions", "pooled",
    "one_vs_two_rows", "majority_baseline", "predicted_box_sites", "confusion", "interval_text", "shift_stability",
    "ENSEMBLE_MEMBERS", "comparison_config", "ensemble", "run_comparison", "backbones",
    "EXPERTS", "MAJORITY", "ONE_VS_TWO", "REFERENCES", "Table1", "on_sites", "paper_table", "table1",
    "curve_sizes", "learning_curve", "label_prior", "sampled_prior", "prior_adjusted", "expected_grade",
    "TAU_GRID", "fit_tau",
]
