"""One stage trained outside the chapters, on one GPU or several: ``python -m rheumabook.book train STAGE``.

On several GPUs, start it with torchrun::

    torchrun --nproc_per_node=2 -m rheumabook.book train scorer --profile full

Every process joins the group (`training.distributed.init_from_env`: NCCL on ``cuda:LOCAL_RANK``,
gloo on a CPU). Process 0 prepares the stage's data first -- the chapter data set, then the
localiser's hands or the scorer's crops, all written to the artifacts folder -- while the others
wait at a barrier, then read what it wrote. Every process then calls the stage's own
``load_or_train_*``: `training.fit` shards each batch over the processes and averages the
gradients, and only process 0 saves the model. The chapters find it there (same provenance) and
load it instead of training it, so a reviewer trains the long stages data-parallel and then runs
the book (``python -m rheumabook.book run``) as usual.
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["STAGES", "train_stage", "train_command"]

STAGES: tuple[str, ...] = ("localiser", "scorer", "pretraining")
"""The stages `train_stage` trains: chapter 4's localiser, chapter 5's scorer, chapter 6's pretraining U-Net."""


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; the stages are {list(STAGES)}")


def _prepare(stage: str, profile: Any, seed: int, progress: bool) -> dict:
    """The stage's data, written to the artifacts folder on first use (read back afterwards)."""
    from ..data import chapter_dataset

    dataset = chapter_dataset(profile=profile, seed=seed, progress=progress)
    if stage == "localiser":
        from ..localize import localization_data

        localization_data(dataset, profile, seed, progress=progress)
        return {"dataset": dataset}
    if stage == "scorer":
        from ..scoring import chapter_scoring_data

        return {"dataset": dataset, "data": chapter_scoring_data(profile, dataset, seed, progress=progress)}
    return {}


def _trainer(stage: str) -> Callable[..., Any]:
    if stage == "localiser":
        from ..localize import load_or_train_localizer

        return load_or_train_localizer
    if stage == "scorer":
        from ..scoring import load_or_train_scorer

        return load_or_train_scorer
    from ..pretrain import load_or_pretrain

    return load_or_pretrain


def train_stage(stage: str, profile: Any = "auto", *, seed: int = 0, device: str = "auto",
                progress: bool = True) -> Any:
    """Train (or load, when saved) one of `STAGES` for `profile` (a `profiles.Profile` or a name) and return it.

    Under torchrun the processes train it together (see the module docstring); alone, this is what the
    chapter would do. device: "auto" = this process's GPU if there is one, else the CPU.
    """
    from ..profiles import Profile, get_profile, resolve_device
    from ..training import distributed

    _check_stage(stage)
    cfg = profile if isinstance(profile, Profile) else get_profile(profile)
    device = resolve_device(device)
    distributed.init_from_env()
    main = distributed.is_main()
    if main:  # process 0 writes the caches while the others wait, then they read them
        inputs = _prepare(stage, cfg, seed, progress)
    distributed.barrier()
    if not main:
        inputs = _prepare(stage, cfg, seed, False)
    return _trainer(stage)(cfg, seed=seed, device=device, progress=progress and main, **inputs)


def train_command(stage: str, profile: str = "auto", *, seed: int = 0, device: str = "auto") -> int:
    """`python -m rheumabook.book train`: `train_stage`, then where the model is; exit status 0, or 2 for bad usage."""
    import sys

    from ..cache import artifacts_dir, display_path
    from ..profiles import get_profile, resolve_device
    from ..training import distributed

    try:  # usage is checked before anything long starts
        _check_stage(stage)
        cfg, device = get_profile(profile), resolve_device(device)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    train_stage(stage, cfg, seed=seed, device=device)
    if distributed.is_main():
        rank, size = distributed.world()
        print(f"{stage} ready under {display_path(artifacts_dir() / 'models')} (trained or loaded by {size} "
              f"process{'es' if size > 1 else ''}); the chapters load it from there")
    return 0
