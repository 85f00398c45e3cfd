"""The end-to-end RheumaVIT pipeline (paper Fig. 2): a radiograph in, 42 joint scores out (issue 12).

- model.py: `RheumaVIT` (`from_folder`, `score`, `score_many`): seam split -> box regression per
  hand (right hand mirrored, boxes mapped back) -> enlarged crops -> erosion and JSN grades,
  batched under `torch.inference_mode()`, with the seconds per stage (`STAGES`).
- results.py: `PipelineResult` (the tidy 42-row table, totals, `overlay()`), `Failure`,
  `results_table`, `totals_table`, `write_results` (CSV / JSON, atomic), `read_results`.
- checks.py: what is refused and how (`InputError`, `ModelError`): unreadable or non-image
  files, too small, blank, one hand only, upside down.
- loading.py: the two checkpoints of a models folder (`find_checkpoints`, `load_models`).
- inference.py: the scorer prepared for inference (batch norm folded, channels-last, attention
  biases frozen for the fused kernel, crops in cache-sized chunks, optional bfloat16):
  `inference_copy`, `predict_crops`.

The command line is `python -m rheumabook score ...` (`rheumabook.cli`); chapter 7 runs it.
"""
from .checks import (HAND_CHOICES, MIN_CONTRAST, MIN_HAND_RATIO, MIN_SIDE, InputError, ModelError, check_image,
                     check_radiograph, load_input, orientation_score)
from .inference import (PRECISIONS, MemoryOrderGELU, default_crop_batch, freeze_attention_biases, fused_copy,
                        inference_copy, memory_order_gelus, predict_crops)
from .loading import find_checkpoints, load_models
from .model import GRADES, STAGES, PreparedHand, RheumaVIT
from .results import (FORMATS, PROBA_COLUMNS, RESULT_COLUMNS, RESULTS_FORMAT, TOTAL_COLUMNS, Failure, PipelineResult,
                      read_results, results_table, totals_table, write_results)

__all__ = [
    "RheumaVIT", "STAGES", "GRADES", "PreparedHand",
    "PipelineResult", "Failure", "RESULT_COLUMNS", "PROBA_COLUMNS", "TOTAL_COLUMNS", "RESULTS_FORMAT", "FORMATS",
    "results_table", "totals_table", "write_results", "read_results",
    "InputError", "ModelError", "HAND_CHOICES", "MIN_SIDE", "MIN_CONTRAST", "MIN_HAND_RATIO",
    "load_input", "check_image", "check_radiograph", "orientation_score",
    "find_checkpoints", "load_models",
    "PRECISIONS", "MemoryOrderGELU", "default_crop_batch", "freeze_attention_biases", "fused_copy", "inference_copy",
    "memory_order_gelus", "predict_crops",
]
