"""Training shared by every model of the book: the fit loop and checkpoints.

- `fit` (loop.py): a reproducible loop (AdamW, warm-up + cosine or plateau learning rate,
  gradient clipping, mixed precision on CUDA (bfloat16, or float16 with a gradient scaler), tqdm,
  a history DataFrame, per-epoch evaluation); the caller supplies the model, its batches and its per-batch step.
- `save_checkpoint` / `load_checkpoint` (checkpoint.py): safetensors weights + a JSON config
  with a format tag, written atomically; `checkpoint_exists` is False for a pair an interrupted
  save left incomplete.
- `distributed` (distributed.py): what `fit` does under torchrun: batches sharded per process,
  gradients averaged, per-process augmentation seeds, progress and checkpoints in process 0 only.
- `load_or_train` (cached.py): the saved model if complete and of the same provenance, else trained
  and saved; every stage's `load_or_train_*` is this.

Used by the localiser (`rheumabook.localize`); the scoring and pretraining stages reuse it.
"""
from .cached import load_or_train, saved_provenance
from .checkpoint import (Checkpoint, checkpoint_exists, checkpoint_paths, config_from_json, config_to_json, load_checkpoint,
                         read_checkpoint_header, save_checkpoint)
from .loop import (PRECISIONS, SCHEDULERS, FitConfig, FitResult, StepContext, autocast_dtype, fit, make_optimizer,
                   make_scheduler, seeded, warmup_cosine)

__all__ = ["PRECISIONS", "SCHEDULERS", "FitConfig", "autocast_dtype", "FitResult", "StepContext", "fit", "make_optimizer", "make_scheduler",
           "seeded", "warmup_cosine", "Checkpoint", "checkpoint_exists", "checkpoint_paths", "config_from_json", "config_to_json",
           "load_checkpoint", "read_checkpoint_header", "save_checkpoint",
           "load_or_train", "saved_provenance"]
