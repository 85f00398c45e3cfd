"""Joint crop sets from a `data.Dataset`: the scoring model's training and test data (paper §3.1-3.2).

- `site_labels`: one row per (patient, hand, joint) with its box and two sets of labels --
  ``ds_<kind>``, the Dawid-Skene aggregate of the experts (`aggregate.dawid_skene`; what the
  paper trained on and measured against) and, for the phantom, ``truth_<kind>`` (what the paper
  could not have). A score that does not apply at a site, or that nobody gave, is `MISSING` (-1).
- `CropSet`: the crops of a set of sites (uint8/uint16 as the radiographs, right hands mirrored
  into left orientation) at the evaluation factor, plus `draws` sets at random training factors,
  with the site table; `labels(kind, source)` gives the label vector.
- `crop_set` / `scoring_data`: build (and cache) them; `scoring_data` splits patients exactly as
  chapter 4 does (`localize.split_patients`, `localize.HELD_OUT_FRACTION`, same seed), so chapter
  5's held-out patients are chapter 4's; its training crops can be topped up with the patients of
  the scorer's own phantom stream (`stream_patients`, `profiles.ScoringPlan.train_patients`);
  `chapter_scoring_data` is what chapters 5-7 and `load_or_train_scorer` call.

The cache: one .npz per crop set under ``<artifacts>/cache/``, named by a `cache.content_key` of
the data set's description, the patients, the crop settings, the seed and a
`cache.source_fingerprint` of the code that cuts the crops (this module and crops.py).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..cache import artifacts_dir, atomic_write, content_key, source_fingerprint
from ..data.images import working_image
from ..joints import SCORE_KINDS
from ..schema import BOX_COLUMNS, KEY_COLUMNS
from . import crops as crops_module
from .crops import crop_joints
from .losses import MISSING

__all__ = ["LABEL_SOURCES", "TRAIN_DRAWS", "STREAM", "STREAM_PREFIX", "CALIBRATION_STREAM", "CALIBRATION_PREFIX",
           "site_labels", "CropSet", "crop_set", "ScoringData", "scoring_data", "stream_patients",
           "calibration_patients", "chapter_scoring_data", "crops_fingerprint"]

LABEL_SOURCES: tuple[str, ...] = ("ds", "truth")
"""Where a label comes from: the experts' Dawid-Skene aggregate or the phantom's truth."""
TRAIN_DRAWS: int = 4
"""Training crop sets drawn per site, each at its own random area factors; epoch e uses draw (e - 1) % TRAIN_DRAWS."""


def _as_labels(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").fillna(MISSING).to_numpy(dtype=np.int64)


def site_labels(dataset: Any) -> pd.DataFrame:
    """Every boxed site of `dataset` with its labels: patient_id, hand, joint, x_min..y_max, ds_erosion,
    ds_jsn, truth_erosion, truth_jsn (int64, -1 = missing; truth all -1 for real data).

    The Dawid-Skene aggregate is fitted on all of the data set's expert scores (it is unsupervised:
    the test patients' labels are what the experts said there, as in the paper).
    """
    from ..aggregate import dawid_skene, to_wide

    sites = dataset.boxes[[*KEY_COLUMNS, *BOX_COLUMNS]].copy()
    sites["patient_id"] = sites["patient_id"].astype(str)
    ds = to_wide(dawid_skene(dataset.scores)).rename(columns={k: f"ds_{k}" for k in SCORE_KINDS})
    ds["patient_id"] = ds["patient_id"].astype(str)
    sites = sites.merge(ds, on=list(KEY_COLUMNS), how="left", validate="one_to_one")
    truth = dataset.truth
    if truth is not None:
        truth = truth[[*KEY_COLUMNS, *SCORE_KINDS]].rename(columns={k: f"truth_{k}" for k in SCORE_KINDS})
        truth = truth.assign(patient_id=truth["patient_id"].astype(str))
        sites = sites.merge(truth, on=list(KEY_COLUMNS), how="left", validate="one_to_one")
    for source in LABEL_SOURCES:
        for kind in SCORE_KINDS:
            column = f"{source}_{kind}"
            sites[column] = _as_labels(sites[column]) if column in sites else MISSING
    return sites.reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class CropSet:
    """Joint crops and their sites.

    sites: DataFrame, one row per crop (`site_labels`' columns). crops: (N, S, S) at the evaluation
    factor. train: (draws, N, S, S) at random training factors, or None (a test set).
    """

    sites: pd.DataFrame
    crops: np.ndarray
    train: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return int(self.crops.shape[0])

    @property
    def patients(self) -> np.ndarray:
        """The patient id of each crop (what the bootstrap resamples)."""
        return self.sites["patient_id"].astype(str).to_numpy()

    def labels(self, kind: str, source: str = "ds") -> np.ndarray:
        """(N,) int64 grades of `kind` from `source` ("ds" or "truth"); -1 where missing."""
        if source not in LABEL_SOURCES or kind not in SCORE_KINDS:
            raise ValueError(f"need source in {LABEL_SOURCES} and kind in {SCORE_KINDS}, got {source!r}, {kind!r}")
        return self.sites[f"{source}_{kind}"].to_numpy(dtype=np.int64)

    def epoch_crops(self, epoch: int) -> np.ndarray:
        """The crops training epoch `epoch` (1-based) uses: training draw (epoch - 1) % draws."""
        if self.train is None:
            raise ValueError("this crop set has no training draws (it was built for evaluation)")
        return self.train[(int(epoch) - 1) % self.train.shape[0]]

    @classmethod
    def concat(cls, sets: Sequence["CropSet"]) -> "CropSet":
        """One crop set of several (their sites in order); all with training draws, or none."""
        if not sets:
            raise ValueError("concat needs at least one crop set")
        draws = {None if s.train is None else s.train.shape[0] for s in sets}
        if len(draws) != 1:
            raise ValueError(f"the crop sets differ in their training draws ({sorted(draws, key=str)})")
        train = None if draws == {None} else np.concatenate([s.train for s in sets], axis=1)
        return cls(pd.concat([s.sites for s in sets], ignore_index=True),
                   np.concatenate([s.crops for s in sets]), train)

    def of_patients(self, patient_ids: Sequence[str]) -> "CropSet":
        """The crops of some patients, in this set's order (a learning curve's smaller training sets)."""
        return self.subset(np.flatnonzero(np.isin(self.patients, [str(p) for p in patient_ids])))

    def subset(self, index: Union[Sequence[int], np.ndarray]) -> "CropSet":
        """The crops at positions `index`."""
        idx = np.asarray(index, dtype=np.int64)
        return CropSet(self.sites.iloc[idx].reset_index(drop=True), self.crops[idx],
                       None if self.train is None else self.train[:, idx])

    def save(self, path: Union[str, Path]) -> Path:
        """Write to an .npz (no pickle), atomically: the crops as arrays, the site table as JSON text."""
        arrays = {"crops": self.crops, "sites": np.array(self.sites.to_json(orient="split", index=False))}
        if self.train is not None:
            arrays["train"] = self.train
        return atomic_write(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")

    @classmethod
    def load(cls, path: Union[str, Path]) -> "CropSet":
        """Read a CropSet written by `save` (allow_pickle=False)."""
        with np.load(Path(path), allow_pickle=False) as z:
            table = json.loads(str(z["sites"]))
            sites = pd.DataFrame(table["data"], columns=table["columns"])
            return cls(sites, z["crops"].copy(), z["train"].copy() if "train" in z.files else None)


def crops_fingerprint() -> str:
    """Hash of the code that cuts and labels the crops (this module, crops.py, the working image, the aggregation)."""
    from .. import aggregate
    from ..data import images

    return source_fingerprint(sys.modules[__name__], crops_module, images, aggregate)


def _draw_seed(seed: int, draw: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), 0x5C0, int(draw)])  # 0x5C0: "sco", a stream of its own


def _cut_sets(dataset: Any, sites: pd.DataFrame, config: Any, draws: int, seed: int, progress: bool) -> CropSet:
    """Cut the eval crops and `draws` training crop sets of `sites`, one radiograph at a time."""
    from tqdm.auto import tqdm

    evals, trains = [], [[] for _ in range(draws)]
    rngs = [np.random.default_rng(_draw_seed(seed, d)) for d in range(draws)]
    for pid, rows in tqdm(sites.groupby("patient_id", sort=False), desc="cropping joints", disable=not progress):
        image = working_image(dataset.image(pid))  # as the pipeline crops it
        evals.append(crop_joints(image, rows, factor=config.eval_factor, size=config.crop_size))
        for d in range(draws):
            trains[d].append(crop_joints(image, rows, factor=config.train_factor, size=config.crop_size, rng=rngs[d],
                                         shift=getattr(config, "train_shift", 0.0)))
    train = np.stack([np.concatenate(t) for t in trains]) if draws else None
    return CropSet(sites, np.concatenate(evals), train)


def crop_set(dataset: Any, patient_ids: Sequence[str], config: Any, *, draws: int = 0, seed: int = 0,
             sites: Optional[pd.DataFrame] = None, cache_dir: Union[str, Path, None] = None,
             progress: bool = True) -> CropSet:
    """The crops of the given patients' sites (cached): eval factor always, `draws` training draws.

    config: a `profiles.ScoringConfig` (crop_size, eval_factor, train_factor). sites: the site
    table (`site_labels(dataset)`; computed when None), e.g. with predicted boxes (`evaluate.predicted_box_sites`):
    the boxes are part of the cache key. Sites keep the given order.
    """
    ids = [str(p) for p in patient_ids]
    sites = site_labels(dataset) if sites is None else sites
    sites = sites[sites["patient_id"].isin(set(ids))].reset_index(drop=True)
    if not len(sites):
        raise ValueError("none of the given patients has a boxed joint to crop")
    cache_dir = Path(cache_dir) if cache_dir is not None else artifacts_dir() / "cache"
    boxes = sites[list(BOX_COLUMNS)].to_numpy(dtype=float).round(3).tolist()  # true or predicted boxes
    shift = getattr(config, "train_shift", 0.0)
    key = content_key(crops_fingerprint(), dict(getattr(dataset, "info", {}) or {}), ids, boxes, config.crop_size,
                      config.eval_factor, list(config.train_factor), draws, seed, *([shift] if shift else []))
    path = cache_dir / f"scoring-crops-{key}.npz"
    if path.is_file():
        return CropSet.load(path)
    out = _cut_sets(dataset, sites, config, draws, seed, progress)
    out.save(path)
    return out


STREAM = "scoring"
"""The name of the scorer's own phantom seed stream (`data.stream_dataset`)."""
STREAM_PREFIX = "S"
"""Put before the patient ids of the scorer's stream, so they never meet the chapter's own ids."""
CALIBRATION_STREAM = "calibration"
"""The seed stream of the patients set aside to fit the scorer's calibration strength (`Scorer.fit_calibration`)."""
CALIBRATION_PREFIX = "C"
"""Put before the patient ids of the calibration stream."""


@dataclass
class ScoringData:
    """Chapter 5's crops: `train` (with training draws) and `test` (held-out patients, chapter 4's).

    train_patients: every training patient, in the order of `train` (the chapter's own first,
    then those of the scorer's phantom stream, if any, with `STREAM_PREFIX`); n_stream: how many
    of them come from that stream. calibration: the crops of patients set aside to fit the
    calibration strength (`CALIBRATION_STREAM`, ids with `CALIBRATION_PREFIX`), or None.
    """

    train: CropSet
    test: CropSet
    train_patients: list[str]
    test_patients: list[str]
    n_stream: int = 0
    calibration: Optional[CropSet] = None

    def summary(self) -> pd.Series:
        """Counts for the chapter to show."""
        out = {"training patients": len(self.train_patients),
               "of them from the scorer's phantom stream": self.n_stream, "training crops": len(self.train),
               "held-out patients": len(self.test_patients), "held-out crops": len(self.test),
               "calibration patients (set aside)": 0 if self.calibration is None
               else len(set(self.calibration.patients))}
        for kind in SCORE_KINDS:
            out[f"held-out {kind} sites (DS label)"] = int((self.test.labels(kind) >= 0).sum())
        return pd.Series(out)


def scoring_data(dataset: Any, config: Any, seed: int = 0, *, stream: Any = None, calibration: Any = None,
                 draws: int = TRAIN_DRAWS, progress: bool = True,
                 cache_dir: Union[str, Path, None] = None) -> ScoringData:
    """Training and held-out crops, split by patient exactly as chapter 4 splits its hands.

    stream: a data set of training-only patients (the scorer's phantom stream, `stream_patients`),
    whose crops follow the chapter's training crops; its Dawid-Skene labels are fitted on its own
    experts' scores. calibration: a data set of patients set aside for the calibration strength
    (`calibration_patients`), cropped like the held-out ones. The held-out crops are always the
    chapter's held-out patients'.
    """
    from ..localize import HELD_OUT_FRACTION, split_patients

    train_ids, test_ids = split_patients(dataset.patients, HELD_OUT_FRACTION, seed)
    sites = site_labels(dataset)
    train = crop_set(dataset, train_ids, config, draws=draws, seed=seed, sites=sites, cache_dir=cache_dir,
                     progress=progress)
    test = crop_set(dataset, test_ids, config, draws=0, seed=seed, sites=sites, cache_dir=cache_dir,
                    progress=progress)
    aside = None if calibration is None else _prefixed(
        crop_set(calibration, calibration.patients, config, draws=0, seed=seed, cache_dir=cache_dir,
                 progress=progress), CALIBRATION_PREFIX)
    if stream is None:
        return ScoringData(train, test, train_ids, test_ids, calibration=aside)
    more = _prefixed(crop_set(stream, stream.patients, config, draws=draws, seed=seed, cache_dir=cache_dir,
                              progress=progress), STREAM_PREFIX)
    stream_ids = [STREAM_PREFIX + str(p) for p in stream.patients]
    return ScoringData(CropSet.concat([train, more]), test, train_ids + stream_ids, test_ids, len(stream_ids),
                       calibration=aside)


def _prefixed(crops: CropSet, prefix: str) -> CropSet:
    """`crops` with `prefix` before every patient id (a stream's ids never meet the chapter's)."""
    return CropSet(crops.sites.assign(patient_id=prefix + crops.sites["patient_id"].astype(str)), crops.crops,
                   crops.train)


def stream_patients(profile: Any, dataset: Any, seed: int = 0, *, progress: bool = True) -> Any:
    """The scorer's extra training patients: a phantom data set of its own seed stream that tops the
    chapter's training patients up to `profile.scoring_comparison.train_patients`; None for real
    data (which trains on its own patients only) or when the chapter's are enough."""
    from ..data import stream_dataset
    from ..localize import HELD_OUT_FRACTION, split_patients

    if not getattr(dataset, "is_phantom", False):
        return None
    n_own = len(split_patients(dataset.patients, HELD_OUT_FRACTION, seed)[0])
    n_more = int(profile.scoring_comparison.train_patients) - n_own
    return stream_dataset(profile, seed, STREAM, n_more, progress=progress) if n_more > 0 else None


def calibration_patients(profile: Any, dataset: Any, seed: int = 0, *, progress: bool = True) -> Any:
    """The patients set aside to fit the scorer's calibration strength: the phantom's `CALIBRATION_STREAM`,
    `profile.scoring_comparison.calibration_patients` of them; None for real data or when there are none."""
    from ..data import stream_dataset

    n = int(getattr(profile.scoring_comparison, "calibration_patients", 0))
    if not getattr(dataset, "is_phantom", False) or n < 1:
        return None
    return stream_dataset(profile, seed, CALIBRATION_STREAM, n, progress=progress)


def chapter_scoring_data(profile: Any, dataset: Any, seed: int = 0, *, progress: bool = True,
                         cache_dir: Union[str, Path, None] = None) -> ScoringData:
    """Chapters 5-7's crops: `scoring_data` with the profile's crop settings, the scorer's stream and
    the calibration patients."""
    return scoring_data(dataset, profile.scoring, seed, stream=stream_patients(profile, dataset, seed, progress=progress),
                        calibration=calibration_patients(profile, dataset, seed, progress=progress),
                        progress=progress, cache_dir=cache_dir)
