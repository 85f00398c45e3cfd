"""Chapter 6's compositions of pretraining, scoring and explanation (paper §3.3, §4.3, Appendix B, Fig. 5).

- `pretrained_scoring_config` / `load_or_train_pretrained_scorer`: the profile's scorer, trained exactly
  as chapter 5 trains it, except that its backbone starts from the pretrained encoder
  (`ScoringConfig.backbone_weights`); cached beside chapter 5's scorer under its own name.
- `random_init_scorer`: the same model with random weights, the baseline an explanation map must beat.
- `heat_ratio_table`: where maps put their mass: per map, the mass inside the joint box over the box's
  share of the crop (`explain.region_mass_ratio`; 1 = no preference), summarised by the mean with a
  patient-bootstrap interval.
- `grade_examples`: a few held-out crops of each grade, for Fig. 5-style panels.
- `site_lesion_masks`: the phantom's lesion of one kind at each held-out crop, as a mask in the
  crop's pixels (`data.dataset_lesions`, `explain.lesion_masks`): the pointing game's target.
- `moved_crops`: the same sites cropped around boxes moved at random, so the joint leaves the crop's
  centre: the pointing game where "look at the middle" no longer finds the lesion by construction.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import numpy as np
import pandas as pd
import torch

from ..cache import artifacts_dir
from ..joints import MAX_SCORE, SCORE_KINDS
from ..training import seeded
from .train import Pretrained, load_or_pretrain

__all__ = ["pretrained_scoring_config", "load_or_train_pretrained_scorer", "random_init_scorer",
           "heat_ratio_table", "grade_examples", "site_lesion_masks",
           "moved_crops"]
Device = Union[str, torch.device]


def pretrained_scoring_config(scoring: Any, pretrained: Pretrained) -> Any:
    """`scoring` (a `ScoringConfig`) starting from `pretrained`'s encoder: its file, relative to the artifacts folder."""
    path = pretrained.encoder_path.resolve()
    root = artifacts_dir().resolve()
    name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    return scoring.replace(backbone_weights=name)


def load_or_train_pretrained_scorer(profile: Any, dataset: Any = None, *, seed: int = 0, data: Any = None,
                                    pretrained: Optional[Pretrained] = None, device: Device = "cpu",
                                    progress: bool = True) -> Any:
    """Chapter 5's scorer recipe (`profile.scoring`, same data, same seed) from the pretrained encoder.

    pretrained: a `Pretrained` (default `load_or_pretrain(profile, seed=seed)`). Saved as
    ``<artifacts>/models/scorer-<profile>-seed<seed>[-real]-pretrained-<key>`` (the pretraining's key), reloaded
    while its config (the encoder's file included) is unchanged. Returns a `scoring.Scorer`.
    """
    from ..scoring import default_checkpoint, load_or_train_scorer

    pretrained = pretrained if pretrained is not None else load_or_pretrain(profile, seed=seed, device=device,
                                                                            progress=progress)
    config = pretrained_scoring_config(profile.scoring, pretrained)
    key = pretrained.path.name.rsplit("-", 1)[-1]
    stem = default_checkpoint(profile.name, seed, "phantom" if dataset is None or getattr(dataset, "is_phantom", False)
                              else "real")
    path = stem.with_name(f"{stem.name}-pretrained-{key}")
    return load_or_train_scorer(profile.replace(scoring=config), dataset, seed=seed, path=path, data=data,
                                device=device, progress=progress)


def random_init_scorer(scoring: Any, *, seed: int = 0) -> Any:
    """The `ScoringModel` of `scoring` with random initial weights (seeded), in eval mode: the untrained baseline."""
    from ..scoring import build_scorer

    return seeded(seed, lambda: build_scorer(scoring.replace(backbone_weights=""))).eval()


def heat_ratio_table(maps: Mapping[str, Any], masks: Any, patients: np.ndarray, *, n_boot: int = 1000,
                     seed: int = 0) -> pd.DataFrame:
    """One row per map set: the mean joint-region mass ratio with a patient-bootstrap 95 % interval.

    maps: {name: (N, H, W) non-negative heat maps} on the same N crops. masks: (H, W) or (N, H, W)
    bool joint regions (`explain.joint_region_masks`). patients: (N,) patient ids (resampled whole).
    Columns: maps, ratio, ratio_low, ratio_high, share_above_1 (of crops), region_share (of the area).
    """
    from ..explain import region_mass_ratio
    from ..stats import bootstrap_ci

    masks_t = torch.as_tensor(np.asarray(masks))
    rows = []
    for name, heat in maps.items():
        ratios = np.asarray(torch.as_tensor(region_mass_ratio(torch.as_tensor(np.asarray(heat)), masks_t)), float)
        est, low, high = bootstrap_ci(lambda r, _: float(np.mean(r)), ratios, ratios, n_boot=n_boot, seed=seed,
                                      groups=np.asarray(patients, dtype=object))
        rows.append({"maps": name, "ratio": est, "ratio_low": low, "ratio_high": high,
                     "share_above_1": float((ratios > 1).mean()), "region_share": float(masks_t.float().mean())})
    return pd.DataFrame(rows)


def grade_examples(test: Any, kind: str, *, source: str = "truth", per_grade: int = 1, seed: int = 0) -> pd.DataFrame:
    """Up to `per_grade` held-out crops of each `kind` grade under `source` labels, drawn with `seed`.

    Returns a table: index (position in `test`), grade, patient_id, hand, joint, sorted by grade.
    """
    if kind not in SCORE_KINDS:
        raise ValueError(f"kind must be one of {SCORE_KINDS}, got {kind!r}")
    labels = test.labels(kind, source)
    rng = np.random.default_rng([int(seed), MAX_SCORE[kind]])
    picks = []
    for grade in range(MAX_SCORE[kind] + 1):
        at = np.flatnonzero(labels == grade)
        picks += [(int(i), grade) for i in rng.choice(at, size=min(per_grade, at.size), replace=False)]
    sites = test.sites
    return pd.DataFrame([{"index": i, "grade": g, "patient_id": sites.at[i, "patient_id"], "hand": sites.at[i, "hand"],
                          "joint": sites.at[i, "joint"]} for i, g in picks])


def site_lesion_masks(sites: pd.DataFrame, lesions: pd.DataFrame, kind: str, *, factor: float, size: int,
                      margin: float = 0.0) -> np.ndarray:
    """(N, size, size) bool: each crop's `kind` lesion (`data.dataset_lesions`) in the pixels of its crop.

    sites: the N crops' table (patient_id, hand, joint and the box columns, as `CropSet.sites`).
    lesions: `data.dataset_lesions` of their radiographs. factor, size: the crops' area enlargement
    and side (`ScoringConfig.eval_factor`, `crop_size`); margin: dilation in crop pixels. A site
    without a lesion of that kind (erosion grade 0, or a kind not scored there) gets an empty mask.
    """
    from ..explain import lesion_masks
    from ..schema import BOX_COLUMNS

    if kind not in SCORE_KINDS:
        raise ValueError(f"kind must be one of {SCORE_KINDS}, got {kind!r}")
    keys = ["patient_id", "hand", "joint"]
    of_kind = lesions[lesions["kind"] == kind].drop_duplicates(keys).set_index(keys)["polygons"]
    missing = set(map(str, sites["patient_id"])) - set(lesions["patient_id"].astype(str))
    if missing:
        raise ValueError(f"no lesion geometry for patients {sorted(missing)[:5]}: pass data.dataset_lesions of them")
    polygons = [of_kind.get((str(p), h, j), []) for p, h, j in zip(sites["patient_id"], sites["hand"], sites["joint"])]
    return lesion_masks(polygons, sites[list(BOX_COLUMNS)].to_numpy(float), factor=factor, size=size,
                        hands=sites["hand"].tolist(), margin=margin)


def moved_crops(dataset: Any, sites: pd.DataFrame, scoring: Any, *, shift: float, seed: int = 0
                ) -> tuple[np.ndarray, pd.DataFrame]:
    """The `sites` cropped around boxes moved by N(0, shift x box side) in x and y (`scoring.shifted_boxes`).

    dataset: the data set holding their radiographs; sites: patient_id, hand, joint and the box
    columns (e.g. `CropSet.sites`); scoring: the `ScoringConfig` (its eval_factor and crop_size).
    Each crop is cut as `scoring.crop_joints` cuts the held-out crops (from `data.working_image`, a
    right hand mirrored). Returns ((N, size, size) uint8 crops, the sites with their moved boxes), in
    `sites`' order; the same seed moves the same boxes.
    """
    from ..data.images import working_image
    from ..schema import BOX_COLUMNS
    from ..scoring import crop_joints, shifted_boxes

    if len(sites) == 0:
        raise ValueError("no sites to crop")
    moved = sites.reset_index(drop=True).copy()
    moved[list(BOX_COLUMNS)] = shifted_boxes(moved[list(BOX_COLUMNS)].to_numpy(float), shift,
                                             np.random.default_rng([int(seed), 18]))
    crops = np.zeros((len(moved), scoring.crop_size, scoring.crop_size), np.uint8)
    for pid, rows in moved.groupby("patient_id", sort=False):
        crops[rows.index.to_numpy()] = crop_joints(working_image(dataset.image(pid)), rows,
                                                   factor=scoring.eval_factor, size=scoring.crop_size)
    return crops, moved
