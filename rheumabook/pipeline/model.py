"""`RheumaVIT`: a radiograph in, 42 joint scores out (paper Fig. 2: §3.2 seam, §3.3 boxes and scores).

The stages, in the order `score_many` runs them on a batch of radiographs:

1. **read**: a path through `data.read_image` (PNG, JPEG, 8/16-bit TIFF, MetaImage, DICOM), or an
   array; `checks.check_image` refuses what cannot be scored; `data.working_image` brings it to
   the one uint8 representation the models were trained on, so its bit depth changes nothing.
2. **seam**: a bilateral film is split at its minimum-energy seam (`seam.split_hands`, the
   patient's right hand mirrored into left orientation); `checks.check_radiograph` refuses a
   blank, one-hand or upside-down film. A single-hand film (``hands="left"`` or ``"right"``) is
   used whole, a right hand mirrored.
3. **localise**: each hand framed to its foreground and resized (`localize.frame_hand`, exactly
   as in training), all hands of the batch through the box regressor at once, the 21 boxes
   mapped back through the frame, the mirror and the half's offset into radiograph pixels
   (`handview.HandView.to_image`, the mapping training used), clipped to the image.
4. **crop**: each box squared, enlarged by the scorer's evaluation area factor and cut from the
   full-resolution radiograph (`scoring.crop_joints`, right hands mirrored).
5. **score**: all crops of the batch through the scorer (as `scoring.Scorer.predict_proba`, on a
   copy prepared for inference: `inference.inference_copy`); the grade is the most probable class.

Everything runs under `torch.inference_mode()`; `timings` holds the seconds spent per stage.
"""
from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np
import pandas as pd
import torch

from ..data.images import working_image
from ..handview import HandView
from ..joints import HANDS, JOINTS, MAX_SCORE, SCORE_KINDS, applies
from ..schema import BOX_COLUMNS
from ..seam import SeamConfig
from .checks import HAND_CHOICES, InputError, Source, check_radiograph, load_input, source_name
from .inference import PRECISIONS, crop_batch, inference_copy, predict_crops
from .loading import load_models
from .results import PROBA_COLUMNS, RESULT_COLUMNS, Failure, PipelineResult

__all__ = ["STAGES", "GRADES", "PreparedHand", "RheumaVIT"]

STAGES: tuple[str, ...] = ("read", "seam", "localise", "crop", "score")
"""The pipeline's stages, in order (`RheumaVIT.timings`)."""
GRADES: tuple[str, ...] = ("balanced", "calibrated")
"""Which probabilities the grades come from: the scorer's own, trained on class-balanced batches
(the paper's; best weighted accuracy), or those re-weighted to the training labels' grade
frequencies (`Scorer.calibrated`, the prior adjustment; totals without the over-calling)."""


@dataclass(frozen=True, eq=False)
class PreparedHand:
    """One hand ready for the localiser: the uint8 (H, W) model input and its `handview.HandView` (how its
    normalised boxes map back into the radiograph, clipped to it)."""

    view: HandView
    resized: np.ndarray

    @property
    def hand(self) -> str:
        return self.view.hand


@dataclass(eq=False)
class _Item:
    """One input on its way through a batch."""

    name: str
    image: np.ndarray
    hands: list[PreparedHand]


class RheumaVIT:
    """The end-to-end scorer: seam split, box regression per hand, enlarged crops, erosion and JSN grades.

    localizer, localizer_config: a `localize.BoxRegressor` and its `LocalizerConfig`. scorer: a
    `scoring.Scorer` scoring both kinds. seam: how bilateral films are split (the book's method).
    device: where the models run ("cpu", "cuda"). batch_size: crops per forward pass of the scorer
    (None: `inference.default_crop_batch`, sized to the CPU's caches or large on a GPU).
    precision, channels_last: how the scorer runs (`inference`: a copy of it with batch norm folded
    into the convolutions, channels-last; "bfloat16" autocast if asked); channels_last also runs a
    channels-last copy of the localiser (float32 always: its boxes are not traded for speed).
    grades: "balanced" or "calibrated" (`GRADES`): the probabilities (and so the grades) reported.
    Build it with `from_folder` (the chapters' checkpoints) or from models in memory.
    """

    def __init__(self, localizer: torch.nn.Module, localizer_config: Any, scorer: Any, *,
                 seam: SeamConfig = SeamConfig(), device: Union[str, torch.device] = "cpu",
                 batch_size: Optional[int] = None, precision: str = "float32", channels_last: bool = True,
                 grades: str = "balanced") -> None:
        missing = [k for k in SCORE_KINDS if k not in scorer.kinds]
        if missing:
            raise ValueError(f"the scorer scores {scorer.kinds}, the pipeline needs both {SCORE_KINDS}")
        if grades not in GRADES:
            raise ValueError(f"grades must be one of {GRADES}, got {grades!r}")
        if grades == "calibrated" and not all(k in scorer.priors for k in SCORE_KINDS):
            raise ValueError("calibrated grades need the scorer's training priors, which this checkpoint lacks: "
                             "train the scorer again (chapter 5) or use grades='balanced'")
        self.grades = grades
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.localizer = localizer.to(device).eval()
        if channels_last:  # oneDNN's convolutions skip the NCHW reorders (inference.py); same boxes to rounding
            self.localizer = copy.deepcopy(self.localizer).to(memory_format=torch.channels_last)
        self.localizer_config = localizer_config
        self.scorer = scorer
        self.score_models = [inference_copy(m, device, channels_last=channels_last) for m in scorer.models]
        self.seam, self.device = seam, device
        self.crop_batch_size = crop_batch(batch_size, self.crop_size, device)
        self.precision, self.channels_last = precision, bool(channels_last)
        self.timings: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @classmethod
    def from_folder(cls, path: Union[str, Path, None] = None, *, profile: Any = "auto", seed: int = 0,
                    device: Union[str, torch.device] = "cpu", **options: Any) -> "RheumaVIT":
        """Load the localiser and the scorer from a folder of checkpoints (`loading.load_models`).

        path: the folder (None = `<artifacts>/models`, where chapters 4 and 5 save them); in it the
        files `localize.default_checkpoint` and `scoring.default_checkpoint` name for `profile` and
        `seed`, else the only ``localizer-*`` and ``scorer-*`` pair there. `ModelError` otherwise.
        options: batch_size, precision, channels_last, grades (see the class).
        """
        localizer, loc_config, scorer = load_models(path, profile=profile, seed=seed, device=device)
        return cls(localizer, loc_config, scorer, device=device, **options)

    @property
    def crop_size(self) -> int:
        """Side (px) of the crops the scorer sees."""
        return int(self.scorer.config.crop_size)

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] += time.perf_counter() - start

    def reset_timings(self) -> None:
        """Set every stage's accumulated seconds back to 0."""
        self.timings = dict.fromkeys(STAGES, 0.0)

    def score(self, image: Source, *, hands: str = "both", name: Optional[str] = None,
              keep_image: bool = True, check_orientation: bool = True) -> PipelineResult:
        """Score one radiograph (a path or a 2-D uint8/uint16 array); `InputError` when it cannot be scored.

        hands: "both" (a bilateral PA film) or "left" / "right" (a film of one patient hand, shown as
        that hand appears on a bilateral film: a left hand with its thumb on the image's left).
        Returns a `PipelineResult`: the 42-row (21 for one hand) table, totals, `overlay()`.
        """
        out = self.score_many([image], hands=hands, names=None if name is None else [name], errors="raise",
                              keep_image=keep_image, check_orientation=check_orientation)
        return out[0]

    def score_many(self, images: Sequence[Source], *, hands: str = "both", batch_size: int = 8,
                   names: Optional[Sequence[str]] = None, errors: str = "raise", keep_image: bool = False,
                   check_orientation: bool = True, progress: bool = False
                   ) -> list[Union[PipelineResult, Failure]]:
        """Score several radiographs, `batch_size` at a time (their hands and crops batched together).

        errors: "raise" (the first bad input raises its `InputError`) or "report" (it becomes a
        `Failure` in the returned list, in its place, and the others are scored). progress: a tqdm bar.
        """
        if hands not in HAND_CHOICES:
            raise ValueError(f"hands must be one of {HAND_CHOICES}, got {hands!r}")
        if errors not in ("raise", "report"):
            raise ValueError(f"errors must be 'raise' or 'report', got {errors!r}")
        from tqdm.auto import tqdm

        names = [source_name(s, i) for i, s in enumerate(images)] if names is None else list(names)
        out: list[Union[PipelineResult, Failure]] = []
        bar = tqdm(total=len(images), desc="scoring radiographs", unit="radiograph", disable=not progress)
        for start in range(0, len(images), max(1, int(batch_size))):
            chunk = list(zip(images[start:start + batch_size], names[start:start + batch_size]))
            out.extend(self._batch(chunk, hands, errors, keep_image, check_orientation))
            bar.update(len(chunk))
        bar.close()
        return out

    def fit_calibration(self, images: Sequence[Source], references: Sequence[pd.DataFrame], *, source: str = "truth",
                        progress: bool = False) -> pd.DataFrame:
        """Fit the calibrated grades' strength on this pipeline's own boxes (`Scorer.fit_calibration_to`).

        images: radiographs set aside for it (never trained on, never reported); references: one
        table per image with hand, joint, erosion and jsn (a phantom's truth, or experts' labels:
        `source` names which). The grades that sum to a true total depend on the crops: the
        localiser's boxes sit looser than the true ones, so a strength fitted on true-box crops does
        not carry over (chapter 7 measures both). The scorer keeps the strength: every pipeline
        built on it, and its calibrated grades, use it from then on. Returns `Scorer.calibration_table()`.
        """
        if len(images) != len(references) or not len(images):
            raise ValueError(f"fit_calibration needs one reference table per image and at least one image; got "
                             f"{len(images)} images and {len(references)} tables")
        for reference in references:  # refused before any film is scored
            missing = {"hand", "joint", *SCORE_KINDS} - set(reference.columns)
            if missing:
                raise ValueError(f"a reference table lacks the columns {sorted(missing)}")
        grades, self.grades = self.grades, "balanced"  # the fit starts from the balanced probabilities
        try:
            results = self.score_many(images, names=[f"calibration {i}" for i in range(len(images))],
                                      progress=progress)
        finally:
            self.grades = grades
        proba, labels = {k: [] for k in SCORE_KINDS}, {k: [] for k in SCORE_KINDS}
        for result, reference in zip(results, references):
            rows = result.table.merge(reference[["hand", "joint", *SCORE_KINDS]], on=["hand", "joint"],
                                      how="left", suffixes=("", "_reference"))
            for kind in SCORE_KINDS:
                scored = rows[f"p_{kind}_0"].notna().to_numpy()
                proba[kind].append(rows.loc[scored, [f"p_{kind}_{g}" for g in range(MAX_SCORE[kind] + 1)]]
                                   .to_numpy(np.float64))
                labels[kind].append(rows.loc[scored, f"{kind}_reference"].fillna(-1).astype(int).to_numpy())
        return self.scorer.fit_calibration_to({k: np.concatenate(v) for k, v in proba.items()},
                                              {k: np.concatenate(v) for k, v in labels.items()}, source)

    def _batch(self, chunk: list[tuple[Source, str]], hands: str, errors: str, keep_image: bool,
               check_orientation: bool) -> list[Union[PipelineResult, Failure]]:
        """Read and prepare each input of a batch, then localise, crop and score the good ones together."""
        slots: list[Union[_Item, Failure]] = []
        for source, name in chunk:
            try:
                slots.append(self._prepare(source, name, hands, check_orientation))
            except InputError as exc:
                if errors == "raise":
                    raise
                slots.append(Failure(name, str(exc)))
        items = [s for s in slots if isinstance(s, _Item)]
        tables = iter(self._score_items(items) if items else [])
        return [s if isinstance(s, Failure) else
                PipelineResult(s.name, next(tables), hands, s.image if keep_image else None) for s in slots]

    def _prepare(self, source: Source, name: str, hands: str, check_orientation: bool) -> _Item:
        """Read one input, check it, split it (or take the single hand) and frame each hand for the localiser."""
        from ..localize import frame_hand
        from ..seam import split_hands

        with self._stage("read"):
            stored = load_input(source, name)
            image = working_image(stored)  # every stage below sees the same bytes, whatever the bit depth
        with self._stage("seam"):
            try:
                split = split_hands(image, config=self.seam, mirror_right=True)
            except ValueError as exc:
                raise InputError(f"{name}: {exc}") from None
            check_radiograph(stored, name, hands, split.seam, check_orientation=check_orientation)
            if hands == "both":
                views = [(split.hand(h), split.view(h)) for h in HANDS]
            else:  # a single-hand film: the whole image, the right hand mirrored into left orientation
                views = [(image[:, ::-1] if hands == "right" else image,
                          HandView(hands, width=image.shape[1], height=image.shape[0], mirrored=hands == "right"))]
        with self._stage("localise"):
            size, framing = tuple(self.localizer_config.input_size), bool(self.localizer_config.framing)
            prepared = []
            for pixels, view in views:
                resized, frame = frame_hand(np.ascontiguousarray(pixels), size, framing=framing)
                prepared.append(PreparedHand(view.with_frame(frame), resized))
        return _Item(name, image, prepared)

    @torch.inference_mode()
    def _score_items(self, items: list[_Item]) -> list[pd.DataFrame]:
        """Localise every hand of `items` in one pass, crop each radiograph's joints, score all crops at once."""
        from ..localize import standardize
        from ..scoring import crop_joints

        with self._stage("localise"):
            hands = [h for it in items for h in it.hands]
            x = standardize(torch.from_numpy(np.stack([h.resized for h in hands]))[:, None]).to(self.device)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            norm = self.localizer(x).float().cpu().numpy()
        with self._stage("crop"):
            boxes, crops, i = [], [], 0
            for it in items:
                rows = []
                for h in it.hands:
                    px = h.view.to_image(norm[i].astype(np.float64), it.image.shape)
                    rows.append(pd.DataFrame(px, columns=list(BOX_COLUMNS)).assign(hand=h.hand, joint=list(JOINTS)))
                    i += 1
                table = pd.concat(rows, ignore_index=True)
                boxes.append(table)
                crops.append(crop_joints(it.image, table, factor=self.scorer.config.eval_factor, size=self.crop_size))
        with self._stage("score"):
            proba = predict_crops(self.score_models, np.concatenate(crops), batch_size=self.crop_batch_size,
                                  device=self.device, precision=self.precision, channels_last=self.channels_last)
            if self.grades == "calibrated":
                proba = self.scorer.calibrated(proba)
        out, start = [], 0
        for table in boxes:
            out.append(_tidy(table, {k: p[start:start + len(table)] for k, p in proba.items()}))
            start += len(table)
        return out


def _tidy(boxes: pd.DataFrame, proba: dict[str, np.ndarray]) -> pd.DataFrame:
    """One radiograph's `RESULT_COLUMNS` table from its boxes (hand, joint, x_min..y_max) and probabilities.

    Grades are the most probable class; both grade and probabilities are missing where the site
    carries no score of that kind (`joints.applies`).
    """
    table = boxes[["hand", "joint", *BOX_COLUMNS]].copy()
    for kind in SCORE_KINDS:
        has = table["joint"].map(lambda j, k=kind: applies(j, k)).to_numpy(dtype=bool)
        p = np.where(has[:, None], proba[kind].astype(np.float64), np.nan)
        grade = pd.array(np.where(has, proba[kind].argmax(axis=1), 0), dtype="Int64")
        grade[~has] = pd.NA
        table[kind] = grade
        table[list(PROBA_COLUMNS[kind])] = p
    return table[list(RESULT_COLUMNS)].reset_index(drop=True)
