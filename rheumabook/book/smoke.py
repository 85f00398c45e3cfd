"""The smoke run: every stage of a profile with its exact models and settings, a few steps each, on CPU.

`smoke_run(FULL)` (the default) builds what the `full` profile builds -- the EfficientNetV2-S
localiser at 512 x 384, the TinyViT-5M scorer at 224 px with the paper's augmentations, the
pretraining U-Net with the full decoder, every Table 3 backbone at its full size, the pipeline on
a film at the profile's image size -- and runs each through the library's own functions for a
few optimisation steps on a few phantom patients. It finds, in minutes on a laptop, what only the
full settings reach (memory layouts, the augmentations, the schedules, checkpoint round trips,
the pipeline's inference copy of the scorer) before a GPU is rented for hours. On a GPU
(``device="cuda"``) the steps also run under `training.fit`'s autocast (bfloat16, or float16 with a gradient
scaler on a GPU without bfloat16).

Only what sets the amount of work changes (the configs are otherwise the profile's own):

- the data set: `N_PATIENTS` phantom radiographs at `profile.data.image_size` (chapter 4's split:
  one held out); the localiser's extra phantom hands: one radiograph at
  `profile.localization.render_size`; the scorer's phantom stream and its calibration patients: one
  patient each; the pretraining data: one radiograph at `profile.pretrain.render_size`;
- the localiser: `LOCALIZER_EPOCHS` epochs with the MSE -> DIoU switch after the first
  (switch_epoch 1), batch size `LOCALIZER_BATCH`;
- the scorer and each Table 3 backbone: one frozen and one unfrozen epoch on `SCORING_CROPS` training
  crops (the profile's crop size, training draws and augmentations), batch size `SCORING_BATCH`;
- the pretraining U-Net: one epoch on `PRETRAIN_CROPS` crops (held out: `SCORING_BATCH`), batch size
  `SCORING_BATCH`.

Everything is written to a temporary artifacts folder (``$RHEUMABOOK_ARTIFACTS`` points there
while it runs) that is removed afterwards; nothing is downloaded (timm builds every model with
``pretrained=False``). A failing stage raises `SmokeError` naming it (``errors="raise"``), or is
recorded with its error and the stages that need it skipped (``errors="report"``, what the command
line ``python -m rheumabook.book smoke --profile full`` uses).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
import pandas as pd

from .environment import environment

__all__ = ["SMOKE_COLUMNS", "SmokeError", "smoke_stages", "smoke_run", "smoke_command", "LOCALIZER_EPOCHS", "LOCALIZER_BATCH",
           "SCORING_CROPS", "SCORING_BATCH", "PRETRAIN_CROPS", "N_PATIENTS"]

N_PATIENTS = 3
"""Phantom radiographs of the smoke data set (two train the localiser and the scorer, one is held out)."""
LOCALIZER_EPOCHS = 2
"""Localiser epochs: the first with MSE, the second with DIoU (paper eq. (1), switch_epoch 1)."""
LOCALIZER_BATCH = 3
"""Hands per localiser step (6 training hands: 2 steps an epoch)."""
SCORING_CROPS = 8
"""Training crops of the scorer and of each Table 3 backbone (2 steps per stage)."""
SCORING_BATCH = 4
"""Crops per step of the scorer, the Table 3 backbones and the pretraining U-Net."""
PRETRAIN_CROPS = 8
"""Crops the pretraining U-Net trains on (2 steps)."""
SMOKE_COLUMNS = ("stage", "built", "steps", "seconds", "ok", "error")
"""The columns of `smoke_run`'s table."""


class SmokeError(RuntimeError):
    """A smoke-run stage failed: `stage` names it, `table` holds the rows so far (the failed one last)."""

    def __init__(self, message: str, stage: str, table: pd.DataFrame) -> None:
        super().__init__(message)
        self.stage, self.table = stage, table


def _table3_stage(label: str) -> str:
    return f"Table 3: {label}"


def smoke_stages(profile: Any = None) -> list[str]:
    """The stage names of a smoke run of `profile` (default `profiles.FULL`), in the order they run."""
    from ..profiles import FULL

    profile = FULL if profile is None else profile
    return ["phantom data", "localiser", "localiser checkpoint", "scoring crops", "scorer", "scorer checkpoint",
            "pretraining", *(_table3_stage(label) for label, _, _ in profile.scoring_comparison.backbones), "pipeline"]


def _needs(stage: str) -> tuple[str, ...]:
    """The stages whose results `stage` uses."""
    if stage.startswith("Table 3: "):
        return ("scoring crops",)
    return {"localiser": ("phantom data",), "localiser checkpoint": ("localiser",), "scoring crops": ("phantom data",),
            "scorer": ("scoring crops",), "scorer checkpoint": ("scorer",),
            "pipeline": ("localiser checkpoint", "scorer checkpoint")}.get(stage, ())


def _with_needs(stages: Sequence[str], all_stages: Sequence[str]) -> list[str]:
    """`stages` and every stage they need (transitively), in run order; ValueError for an unknown name."""
    unknown = [s for s in stages if s not in all_stages]
    if unknown:
        raise ValueError(f"unknown smoke stage(s) {unknown}; the stages are {list(all_stages)}")
    wanted, todo = set(), list(stages)
    while todo:
        stage = todo.pop()
        if stage not in wanted:
            wanted.add(stage)
            todo.extend(_needs(stage))
    return [s for s in all_stages if s in wanted]


@contextlib.contextmanager
def _temporary_artifacts() -> Iterator[Path]:
    """A temporary folder that ``$RHEUMABOOK_ARTIFACTS`` points at for the duration, removed afterwards."""
    from ..cache import ARTIFACTS_ENV

    with tempfile.TemporaryDirectory(prefix="rheumabook-smoke-") as tmp, environment(**{ARTIFACTS_ENV: tmp}):
        yield Path(tmp)


def _parameters(models: Any) -> str:
    n = sum(p.numel() for m in (models if isinstance(models, (list, tuple)) else [models]) for p in m.parameters())
    return f"{n / 1e6:.1f} M parameters"


def _same(what: str, before: Any, after: Any) -> None:
    """ValueError unless the reloaded model's outputs (an array, or {kind: array}) equal the original's."""
    pairs = {k: (before[k], after[k]) for k in before} if isinstance(before, dict) else {"": (before, after)}
    for key, (a, b) in pairs.items():
        if not np.allclose(a, b, rtol=1e-5, atol=1e-6):
            raise ValueError(f"the reloaded {what} gives other outputs{' for ' + key if key else ''} on the probe "
                             f"batch (max difference {np.max(np.abs(np.asarray(a) - np.asarray(b))):.3g})")


# ------------------------------------------------------------------------------------------------ the stages


class _Smoke:
    """One smoke run's state: the profile, the device, and what each stage hands to the next."""

    def __init__(self, profile: Any, device: str, progress: bool, seed: int) -> None:
        self.profile, self.device, self.progress, self.seed = profile, device, progress, seed
        self.out: dict[str, Any] = {}

    def phantom_data(self) -> tuple[str, int]:
        from ..data import chapter_dataset
        from ..localize import HELD_OUT_FRACTION, split_patients

        p = self.profile
        small = p.replace(data=dataclasses.replace(p.data, n_patients=N_PATIENTS))
        self.dataset = chapter_dataset(profile=small, seed=self.seed, progress=self.progress)
        self.n_own = len(split_patients(self.dataset.patients, HELD_OUT_FRACTION, self.seed)[0])
        h, w = self.dataset.image(self.dataset.patients[0]).shape
        return f"{N_PATIENTS} phantom radiographs at {w} x {h} px", 0

    def localiser(self) -> tuple[str, int]:
        from ..localize import localization_data, train_localizer

        p = self.profile
        # the data set's training hands plus one extra phantom radiograph at the plan's render size
        plan = dataclasses.replace(p.localization, train_hands=2 * self.n_own + 2)
        hands = localization_data(self.dataset, p.replace(localization=plan), self.seed, progress=self.progress)
        config = p.localizer.replace(epochs=LOCALIZER_EPOCHS, switch_epoch=1, batch_size=LOCALIZER_BATCH,
                                     seed=self.seed)
        result = train_localizer(hands.train, config, hands.test, device=self.device, progress=self.progress,
                                 desc="smoke: localiser")
        kinds = list(result.history["loss_kind"])
        if kinds != ["mse", "diou"]:
            raise ValueError(f"the loss schedule ran {kinds}, expected ['mse', 'diou']")
        self.out["localiser"] = (result.model, config, hands)
        h, w = config.input_size
        steps = config.epochs * math.ceil(len(hands.train) / config.batch_size)
        return f"{config.backbone}, input {h} x {w}, {_parameters(result.model)}", steps

    def localiser_checkpoint(self) -> tuple[str, int]:
        from ..localize import default_checkpoint, load_localizer, mean_boxes, predict_boxes, save_localizer

        model, config, hands = self.out["localiser"]
        path = default_checkpoint(self.profile.name, self.seed)
        before = predict_boxes(model, hands.test, device=self.device)
        save_localizer(path, model, config, extra={"mean_boxes": mean_boxes(hands.train).tolist()})
        loaded, loaded_config, _ = load_localizer(path, device=self.device)
        if loaded_config != config:
            raise ValueError(f"the localiser's config changed in its checkpoint: {config} -> {loaded_config}")
        _same("localiser", before, predict_boxes(loaded, hands.test, device=self.device))
        return f"{path.name}: save, load, same boxes on {len(hands.test)} hands", 0

    def scoring_crops(self) -> tuple[str, int]:
        from ..scoring import chapter_scoring_data

        p = self.profile
        plan = dataclasses.replace(p.scoring_comparison, train_patients=self.n_own + 1, calibration_patients=1)
        data = chapter_scoring_data(p.replace(scoring_comparison=plan), self.dataset, self.seed,
                                    progress=self.progress)
        index = np.linspace(0, len(data.train) - 1, SCORING_CROPS).round().astype(int)
        self.train_crops, self.test_crops = data.train.subset(index), data.test.subset(np.arange(SCORING_BATCH))
        self.calibration = data.calibration
        s = p.scoring.crop_size
        return (f"{len(data.train)} training crops ({data.train.train.shape[0]} draws) of {len(data.train_patients)} "
                f"patients at {s} x {s} px; {SCORING_CROPS} train"), 0

    def scorer(self) -> tuple[str, int]:
        from ..scoring import train_scorer

        config = self.profile.scoring.replace(frozen_epochs=1, unfrozen_epochs=1, batch_size=SCORING_BATCH,
                                              seed=self.seed)
        scorer = train_scorer(self.train_crops, config, val=self.test_crops, device=self.device,
                              progress=self.progress, desc="smoke: scorer")
        scorer.fit_calibration(self.calibration, "truth", device=self.device)
        self.out["scorer"] = scorer
        steps = 2 * len(config.kinds) * math.ceil(SCORING_CROPS / config.batch_size)
        return (f"{config.backbone} at {config.crop_size} px, augment {config.augment!r}, "
                f"{_parameters(scorer.models)}"), steps

    def scorer_checkpoint(self) -> tuple[str, int]:
        from ..scoring import default_checkpoint, load_scorer, save_scorer

        scorer = self.out["scorer"]
        path = default_checkpoint(self.profile.name, self.seed)
        before = scorer.predict_proba(self.test_crops.crops, device=self.device)
        save_scorer(path, scorer)
        loaded = load_scorer(path, device=self.device, shared=scorer.config.shared)
        if loaded.config != scorer.config or json.dumps(loaded.priors, sort_keys=True) != json.dumps(
                scorer.priors, sort_keys=True):
            raise ValueError("the scorer's config or training priors changed in its checkpoint")
        _same("scorer", before, loaded.predict_proba(self.test_crops.crops, device=self.device))
        return f"{path.name}: save, load, same probabilities on {len(self.test_crops)} crops", 0

    def pretraining(self) -> tuple[str, int]:
        from ..cache import artifacts_dir
        from ..pretrain import load_pretrained, pretrain_encoder, pretraining_crops, save_pretrained
        from ..scoring import build_scorer
        from ..scoring.model import load_backbone_weights

        p = self.profile
        config = p.pretrain.replace(n_radiographs=1, epochs=1, batch_size=SCORING_BATCH, seed=self.seed)
        crops, _ = pretraining_crops(config, p.scoring, seed=self.seed, progress=self.progress)
        made = pretrain_encoder(crops[:PRETRAIN_CROPS], config, p.scoring, val=crops[-SCORING_BATCH:],
                                device=self.device, progress=self.progress)
        saved = save_pretrained(artifacts_dir() / "models" / f"pretrain-{p.name}-smoke", made)
        loaded = load_pretrained(saved.path, device=self.device)
        if loaded.config != config:
            raise ValueError(f"the pretraining config changed in its checkpoint: {config} -> {loaded.config}")
        load_backbone_weights(build_scorer(p.scoring).backbone, saved.encoder_path)  # what backbone_weights does
        return (f"U-Net around {p.scoring.backbone} at {p.scoring.crop_size} px, decoder "
                f"{config.decoder_channels}, {_parameters(made.unet)}"), math.ceil(PRETRAIN_CROPS / config.batch_size)

    def table3(self, label: str) -> tuple[str, int]:
        from ..scoring import run_comparison

        p = self.profile
        row = next(r for r in p.scoring_comparison.backbones if r[0] == label)
        plan = dataclasses.replace(p.scoring_comparison, backbones=(row,), frozen_epochs=1, unfrozen_epochs=1)
        base = p.scoring.replace(batch_size=SCORING_BATCH, seed=self.seed)
        probas, _, runs = run_comparison(self.train_crops, self.test_crops.crops, base, plan, independent=None,
                                         without_augmentation=None, device=self.device, progress=self.progress)
        run = runs.iloc[0]
        if not all(np.isfinite(v).all() for v in probas[label].values()):
            raise ValueError(f"{label} gives non-finite probabilities")
        steps = 2 * math.ceil(SCORING_CROPS / SCORING_BATCH)
        return (f"{run['backbone']} at {base.crop_size} px, {run['parameters'] / 1e6:.1f} M parameters, "
                f"{run['scheduler']}"), steps

    def pipeline(self) -> tuple[str, int]:
        from .. import phantom
        from ..cache import artifacts_dir
        from ..joints import MAX_SCORE, SCORE_KINDS
        from ..pipeline import RheumaVIT
        from ..profiles import PROFILES

        p = self.profile
        name = p.name if p.name in PROFILES else "auto"  # else the folder's only pair
        pipe = RheumaVIT.from_folder(artifacts_dir() / "models", profile=name, seed=self.seed, device=self.device,
                                     grades="calibrated")
        film = phantom.render(self.seed + 10_000, size=p.data.image_size)
        table = pipe.score(film.image).table
        for kind in SCORE_KINDS:
            grades = table[kind].dropna()
            if len(table) != 42 or grades.empty or not grades.between(0, MAX_SCORE[kind]).all():
                raise ValueError(f"the pipeline's table has {len(table)} rows and {kind} grades {sorted(set(grades))}")
        h, w = film.image.shape
        return f"RheumaVIT from the checkpoints, one {w} x {h} px film, 42 sites scored", 0


# ------------------------------------------------------------------------------------------------ the run


def _run_stage(smoke: _Smoke, stage: str) -> tuple[str, int]:
    if stage.startswith("Table 3: "):
        return smoke.table3(stage[len("Table 3: "):])
    method: Callable[[], tuple[str, int]] = getattr(smoke, stage.replace(" ", "_"))
    return method()


def smoke_run(profile: Any = None, *, device: str = "cpu", progress: bool = True, stages: Optional[Sequence[str]] = None,
              errors: str = "raise", seed: int = 0) -> pd.DataFrame:
    """Run every stage of `profile` (a `profiles.Profile` or a name; default `profiles.FULL`) a few steps.

    Returns one row per stage (`SMOKE_COLUMNS`): stage, built (model and input size, or what was
    checked), steps (optimisation steps taken), seconds, ok, error ("" when ok). stages: run only these
    (and the stages they need; names from `smoke_stages`). errors: "raise" (the first failing stage
    raises a `SmokeError` naming it) or "report" (the failure becomes its row, the stages that need it
    are skipped). What is made smaller, and why, is in the module docstring.
    """
    from ..profiles import FULL, Profile, get_profile

    profile = FULL if profile is None else profile if isinstance(profile, Profile) else get_profile(profile)
    if errors not in ("raise", "report"):
        raise ValueError(f"errors must be 'raise' or 'report', got {errors!r}")
    order = _with_needs(list(stages) if stages is not None else smoke_stages(profile), smoke_stages(profile))
    rows: list[dict] = []
    failed: set[str] = set()
    with _temporary_artifacts():
        smoke = _Smoke(profile, device, progress, seed)
        for stage in order:
            missing = [s for s in _needs(stage) if s in failed]
            if missing:
                failed.add(stage)
                rows.append(dict(stage=stage, built="", steps=0, seconds=0.0, ok=False,
                                 error=f"skipped: needs {', '.join(missing)}"))
                continue
            start = time.perf_counter()
            try:
                built, steps = _run_stage(smoke, stage)
            except Exception as exc:  # noqa: BLE001 - every failure is reported under its stage's name
                failed.add(stage)
                error = f"{type(exc).__name__}: {exc}"
                rows.append(dict(stage=stage, built="", steps=0, seconds=time.perf_counter() - start, ok=False,
                                 error=error))
                if errors == "raise":
                    where = traceback.extract_tb(exc.__traceback__)[-1]
                    raise SmokeError(f"smoke run of the {profile.name!r} profile failed at stage {stage!r}: {error} "
                                     f"[{Path(where.filename).name}:{where.lineno}]", stage,
                                     pd.DataFrame(rows, columns=list(SMOKE_COLUMNS))) from exc
                continue
            rows.append(dict(stage=stage, built=built, steps=steps, seconds=time.perf_counter() - start, ok=True,
                             error=""))
    return pd.DataFrame(rows, columns=list(SMOKE_COLUMNS))


def smoke_command(profile: str = "full", *, device: str = "cpu", stages: Optional[Sequence[str]] = None) -> int:
    """`python -m rheumabook.book smoke`: run `smoke_run` (errors reported), print its table; exit status 0 when
    every stage is ok, 1 when one failed, 2 for an unknown stage or device."""
    import sys

    from ..profiles import get_profile, resolve_device

    try:
        cfg = get_profile(profile)
        device = resolve_device(device)
        _with_needs(list(stages) if stages else smoke_stages(cfg), smoke_stages(cfg))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    table = smoke_run(cfg, device=device, stages=stages, errors="report")
    with pd.option_context("display.width", 200, "display.max_colwidth", 100):
        print(table.assign(seconds=table["seconds"].round(1)).drop(columns="error").to_string(index=False))
    for row in table[~table["ok"]].itertuples():
        print(f"error: stage {row.stage!r}: {row.error}", file=sys.stderr)
    ok = bool(table["ok"].all())
    print(f"smoke run of the {cfg.name!r} profile on {device}: {'all stages ok' if ok else 'FAILED'} "
          f"in {time.perf_counter() - start:.0f} s")
    return 0 if ok else 1
