"""Finding and loading the pipeline's two checkpoints in a folder, with messages that say what to do.

A models folder holds a localiser (``localizer-<profile>-seed<seed>.safetensors`` + ``.json``,
chapter 4, `localize.save_localizer`) and a scorer (``scorer-<profile>-seed<seed>``, chapter 5,
`scoring.save_scorer`; an independent scorer is two pairs, ``...-erosion`` and ``...-jsn``).
`find_checkpoints` takes the names `localize.default_checkpoint` / `scoring.default_checkpoint`
give for the profile and seed, else the only localiser and the only scorer in the folder.
`load_models` loads them; anything missing, damaged or made for other code (another format tag,
another joint order or count, a backbone timm does not know, weights that do not fit the config)
becomes a `checks.ModelError` naming the file and the fix.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Union

import torch

from ..joints import SCORE_KINDS
from .checks import ModelError

__all__ = ["FIX", "find_checkpoints", "load_models"]

FIX = ("Fix: point --models at the folder chapters 4 and 5 wrote (<artifacts>/models), or run them "
       "(python -m rheumabook.book run --chapters 04 05) to train and save both models")
"""What to do about a missing or unusable checkpoint."""


def _only(folder: Path, prefix: str) -> Path:
    """The stem of the only ``<prefix>-*`` checkpoint in `folder` (per-kind scorer files count as one)."""
    stems = set()
    for p in folder.glob(f"{prefix}-*.json"):
        stem = p.with_suffix("")
        for kind in SCORE_KINDS:
            if prefix == "scorer" and stem.name.endswith(f"-{kind}"):
                stem = stem.with_name(stem.name[: -len(kind) - 1])
        stems.add(stem)
    if not stems:
        raise ModelError(f"{folder}: no {prefix} checkpoint ({prefix}-*.safetensors + .json) in this folder. {FIX}")
    if len(stems) > 1:
        raise ModelError(f"{folder}: several {prefix} checkpoints ({', '.join(sorted(s.name for s in stems))}); "
                         f"keep one, or choose with --profile and --seed")
    return stems.pop()


def _exists(stem: Path) -> bool:
    """Whether the checkpoint header `<stem>.json` exists."""
    return stem.with_name(stem.name + ".json").is_file()


def find_checkpoints(folder: Union[str, Path, None], profile_name: str, seed: int) -> tuple[Path, Path]:
    """(localiser stem, scorer stem) in `folder` (None = `<artifacts>/models`); `ModelError` when absent."""
    from ..cache import artifacts_dir
    from ..localize import default_checkpoint as localizer_checkpoint
    from ..scoring import default_checkpoint as scorer_checkpoint

    folder = Path(folder) if folder is not None else artifacts_dir() / "models"
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such folder of model checkpoints. {FIX}")
    out = []
    for prefix, named in (("localizer", localizer_checkpoint), ("scorer", scorer_checkpoint)):
        stem = folder / named(profile_name, seed).name
        present = _exists(stem) or (prefix == "scorer" and _exists(stem.with_name(f"{stem.name}-{SCORE_KINDS[0]}")))
        out.append(stem if present else _only(folder, prefix))
    return out[0], out[1]


def _load(what: str, stem: Path, load: Any) -> Any:
    """``load()``, with every loading error turned into a `ModelError` naming the checkpoint."""
    try:
        return load()
    except FileNotFoundError as exc:
        raise ModelError(f"{what} checkpoint {stem}: {exc}. {FIX}") from None
    except (ValueError, RuntimeError, KeyError, TypeError, OSError) as exc:
        raise ModelError(f"{what} checkpoint {stem} does not fit this code: {exc}. {FIX}") from None


def load_models(folder: Union[str, Path, None] = None, *, profile: Any = "auto", seed: int = 0,
                device: Union[str, torch.device] = "cpu") -> tuple[torch.nn.Module, Any, Any]:
    """(localiser, its `LocalizerConfig`, `scoring.Scorer`) from the checkpoints in `folder`.

    profile: a `profiles.Profile` or its name ("auto", "quick", "full"): names the files looked
    for first. The scorer must score both erosion and JSN.
    """
    from ..localize import load_localizer
    from ..profiles import get_profile
    from ..scoring import load_scorer

    name = profile if isinstance(profile, str) else profile.name
    profile_name = get_profile(name).name
    loc_stem, scorer_stem = find_checkpoints(folder, profile_name, seed)
    localizer, config, _ = _load("localiser", loc_stem, lambda: load_localizer(loc_stem, device=device))
    shared = _exists(scorer_stem)
    scorer = _load("scorer", scorer_stem, lambda: load_scorer(scorer_stem, device=device, shared=shared))
    if set(scorer.kinds) != set(SCORE_KINDS):
        raise ModelError(f"scorer checkpoint {scorer_stem} scores {scorer.kinds} only; the pipeline needs "
                         f"{SCORE_KINDS}. {FIX}")
    return localizer, config, scorer
