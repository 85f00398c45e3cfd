"""Hands ready for the localiser: radiographs split at the seam, mirrored, resized, cached.

- `HandSet`: hand images (uint8 tensors at the model's input size) with their 21 normalised
  boxes and one meta row per hand; maps predictions back to hand and radiograph pixels.
- `hands_of_radiograph`, `prepare_hands`: split each radiograph with `seam.split_hands`
  (paper §3.2; the patient's right hand mirrored into left orientation) and resize.
- `render_phantom_hands`: extra phantom hands for training (their own seed stream).
- `split_patients`, `localization_data`: chapter 4's held-out patient split and its hands,
  cached as .npz files named by `hands_cache_key` -- a key that follows every input shaping
  the cached tensors, the source of the code that prepares them included.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import cv2
import numpy as np
import pandas as pd
import torch

from ..boxes import ArrayLike, as_box_array
from ..cache import artifacts_dir, atomic_write, content_key, data_digest, source_fingerprint
from ..data import images as images_module
from ..data.images import working_image
from ..handview import HandView
from ..joints import HANDS, JOINTS
from ..schema import BOX_COLUMNS, BOXES_COLUMNS
from ..seam import SeamConfig, split_hands
from . import framing as framing_module
from .framing import frame_hand, resize_hand
from .model import N_JOINTS

__all__ = ["HandSet", "resize_hand", "hands_of_radiograph", "prepare_hands", "mean_boxes", "concat_hands",
           "extra_phantom_seeds", "render_phantom_hands", "HELD_OUT_FRACTION", "split_patients",
           "preparation_fingerprint", "hands_cache_key", "LocalizationData", "localization_data"]

Hand = tuple[str, np.ndarray, np.ndarray, dict]
"""One prepared hand: (hand, uint8 image (H, W), normalised boxes float32 (21, 4), meta dict)."""


@dataclass(frozen=True, eq=False)
class HandSet:
    """Hand images ready for the regressor, with their boxes: the prepared, cached training data.

    images: uint8 tensor (N, 1, H, W), each hand resized to the model's input size; the
        patient's right hand mirrored into left orientation (paper §3.2).
    boxes: float32 tensor (N, 21, 4), the hand's joint boxes normalised by the input size
        (x / W, y / H), in `joints.JOINTS` order.
    meta: DataFrame, one row per hand: patient_id, hand, height, width (pixels of the hand's
        half of the radiograph, before resizing), offset_x (the half's column 0 in the
        radiograph), mirrored (bool), radiograph_width, and the frame the image was cut from
        (`framing`): frame_x0, frame_y0, frame_x1, frame_y1 in pixels of the half (the whole
        half, 0, 0, width, height, without framing; assumed so when the columns are absent).
    """

    images: torch.Tensor
    boxes: torch.Tensor
    meta: pd.DataFrame

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.ndim != 4 or self.images.shape[1] != 1 or self.images.dtype != torch.uint8:
            raise ValueError(f"HandSet.images must be uint8 (N, 1, H, W), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if tuple(self.boxes.shape) != (n, N_JOINTS, 4) or len(self.meta) != n:
            raise ValueError(f"HandSet needs {n} x {N_JOINTS} x 4 boxes and {n} meta rows, got "
                             f"{tuple(self.boxes.shape)} and {len(self.meta)}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the prepared images."""
        return int(self.images.shape[2]), int(self.images.shape[3])

    def subset(self, index: Union[Sequence[int], np.ndarray]) -> "HandSet":
        """The hands at positions `index` (e.g. those of some patients)."""
        idx = torch.as_tensor(np.asarray(index, dtype=np.int64))
        return HandSet(self.images[idx], self.boxes[idx], self.meta.iloc[idx.numpy()].reset_index(drop=True))

    def of_patients(self, patient_ids: Iterable[str]) -> "HandSet":
        """The hands of some patients (both hands each), in this set's order."""
        keep = set(map(str, patient_ids))
        return self.subset(np.flatnonzero(self.meta["patient_id"].astype(str).isin(keep).to_numpy()))

    def pixel_boxes(self, normalised: Optional[ArrayLike] = None) -> np.ndarray:
        """Boxes (N, 21, 4) in pixels of each hand's half image (before resizing, after mirroring).

        normalised: model outputs (N, 21, 4) in normalised coordinates; None = this set's targets.
        """
        norm = self.boxes if normalised is None else normalised
        norm = as_box_array(norm, name="normalised boxes", batched=True)
        if norm.shape != (len(self), N_JOINTS, 4):
            raise ValueError(f"normalised boxes must be ({len(self)}, {N_JOINTS}, 4), got {norm.shape}")
        return norm * self._frame_scale() + self._frame_offset()

    def frames(self) -> np.ndarray:
        """(N, 4) frames (x0, y0, x1, y1) of the hands in pixels of their halves (`framing.frame_box`)."""
        cols = ["frame_x0", "frame_y0", "frame_x1", "frame_y1"]
        if set(cols) <= set(self.meta.columns):
            return self.meta[cols].to_numpy(dtype=np.float64)
        zeros = np.zeros(len(self))
        return np.stack([zeros, zeros, self.meta["width"].to_numpy(np.float64),
                         self.meta["height"].to_numpy(np.float64)], axis=1)

    def _frame_scale(self) -> np.ndarray:
        f = self.frames()
        w, h = f[:, 2] - f[:, 0], f[:, 3] - f[:, 1]
        return np.stack([w, h, w, h], axis=-1)[:, None, :]

    def _frame_offset(self) -> np.ndarray:
        f = self.frames()
        return np.stack([f[:, 0], f[:, 1], f[:, 0], f[:, 1]], axis=-1)[:, None, :]

    def radiograph_boxes(self, normalised: Optional[ArrayLike] = None) -> pd.DataFrame:
        """Boxes in pixels of the radiographs: long DataFrame patient_id, hand, joint, x_min .. y_max.

        Undoes the resize, the mirroring and the half's offset (`handview.HandView.to_radiograph`).
        """
        px = self.pixel_boxes(normalised)
        rows = []
        for i, m in enumerate(self.meta.itertuples(index=False)):
            view = HandView(m.hand, width=int(m.width), height=int(m.height), offset=int(m.offset_x),
                            mirrored=bool(m.mirrored))
            b = view.to_radiograph(px[i])
            rows.append(pd.DataFrame(b, columns=list(BOX_COLUMNS)).assign(
                patient_id=m.patient_id, hand=m.hand, joint=list(JOINTS)))
        cols = list(BOXES_COLUMNS)
        return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)

    def digest(self) -> str:
        """Short SHA-256 of the images, boxes and meta: names results computed from exactly this set."""
        return data_digest(self.images, self.boxes, self.meta)

    def save(self, path: Union[str, Path]) -> Path:
        """Write to an .npz (no pickle), atomically: a temp file renamed into place."""
        arrays = {"images": self.images.numpy(), "boxes": self.boxes.numpy()}
        for col in self.meta.columns:
            values = self.meta[col].to_numpy()
            arrays[f"meta__{col}"] = values.astype(str) if values.dtype == object else values
        return atomic_write(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")

    @classmethod
    def load(cls, path: Union[str, Path]) -> "HandSet":
        """Read a HandSet written by `save` (allow_pickle=False)."""
        with np.load(Path(path), allow_pickle=False) as z:
            meta = pd.DataFrame({k[len("meta__"):]: z[k] for k in z.files if k.startswith("meta__")})
            return cls(torch.from_numpy(z["images"].copy()), torch.from_numpy(z["boxes"].copy()), meta)


def hands_of_radiograph(image: np.ndarray, boxes: pd.DataFrame, input_size: tuple[int, int], *,
                        seam: SeamConfig = SeamConfig(), framing: bool = True) -> list[Hand]:
    """Split one radiograph at its seam and prepare both hands: [(hand, image, boxes, meta), ...].

    image: the bilateral radiograph, 2-D uint8/uint16 (brought to `data.working_image` first). boxes: its 42 joint boxes (hand, joint,
    x_min .. y_max, pixels of the radiograph). seam: how to split (`seam.SeamConfig`; the
    book's method by default). framing: crop each half to its hand first (`framing.frame_box`,
    the same step the real-image check uses at inference). Each hand comes back resized to
    `input_size` (uint8 (H, W)), the patient's right hand mirrored into left orientation, with
    its 21 boxes normalised to the frame (float32 (21, 4), `JOINTS` order) and a meta dict (see `HandSet`).
    A hand without all 21 boxes is left out (real data may lack some).
    """
    split = split_hands(working_image(image), config=seam, mirror_right=True)
    out = []
    for hand in HANDS:
        rows = boxes[boxes["hand"] == hand].set_index("joint")
        if not set(JOINTS) <= set(rows.index):
            continue
        half = split.hand(hand)
        resized, frame = frame_hand(np.ascontiguousarray(half), input_size, framing=framing)
        view = split.view(hand).with_frame(frame)
        norm = view.to_model(rows.loc[list(JOINTS), list(BOX_COLUMNS)].to_numpy(dtype=float)).astype(np.float32)
        meta = {"hand": hand, "height": view.height, "width": view.width, "offset_x": view.offset,
                "mirrored": view.mirrored, "radiograph_width": image.shape[1],
                **dict(zip(("frame_x0", "frame_y0", "frame_x1", "frame_y1"), (int(v) for v in frame)))}
        out.append((hand, resized, norm, meta))
    return out


def _stack_hands(hands: Iterable[tuple[str, Hand]]) -> HandSet:
    """One HandSet of prepared hands given as (patient_id, hand) pairs, in order (ValueError if none)."""
    images, boxes, meta = [], [], []
    for pid, (_, image, norm, m) in hands:
        images.append(image)
        boxes.append(norm)
        meta.append({"patient_id": str(pid), **m})
    if not images:
        raise ValueError(f"no hand with all {N_JOINTS} joint boxes to prepare")
    return HandSet(torch.from_numpy(np.stack(images)[:, None]), torch.from_numpy(np.stack(boxes)),
                   pd.DataFrame(meta))


def _cached(cache: Union[str, Path, None], make: Callable[[], HandSet]) -> HandSet:
    """The HandSet in the .npz `cache` if it exists, else ``make()``, saved there when `cache` is given."""
    if cache is not None and Path(cache).is_file():
        return HandSet.load(cache)
    hands = make()
    if cache is not None:
        hands.save(cache)
    return hands


def prepare_hands(dataset: Any, input_size: tuple[int, int], patient_ids: Optional[Iterable[str]] = None, *,
                  cache: Union[str, Path, None] = None, progress: bool = True,
                  seam: SeamConfig = SeamConfig(), framing: bool = True) -> HandSet:
    """All hands of a data set (`data.Dataset`: `.patients`, `.image(pid)`, `.boxes`) as one `HandSet`.

    Each radiograph is split at its minimum-energy seam (`hands_of_radiograph`, paper §3.2), the
    right hand mirrored into left orientation, both hands resized to `input_size` (height, width)
    with their boxes scaled along (each cropped to its hand first when `framing`, `framing.frame_box`).
    Hands without all 21 boxes are skipped (with a warning).
    cache: an .npz path; when it exists it is loaded instead, else the result is written there.
    The caller names it after everything that shapes the hands (`hands_cache_key`).
    """
    from tqdm.auto import tqdm

    input_size = (int(input_size[0]), int(input_size[1]))
    pids = list(dataset.patients if patient_ids is None else patient_ids)
    if not pids:
        raise ValueError("no patients to prepare hands from")

    def make() -> HandSet:
        by_patient = dict(tuple(dataset.boxes.groupby("patient_id", sort=False)))
        found = []
        for pid in tqdm(pids, desc="splitting radiographs into hands", disable=not progress):
            rows = by_patient.get(str(pid))
            hands = [] if rows is None else hands_of_radiograph(dataset.image(pid), rows, input_size, seam=seam,
                                                                        framing=framing)
            found.extend((pid, hand) for hand in hands)
        skipped = len(HANDS) * len(pids) - len(found)
        if skipped:
            warnings.warn(f"{skipped} hand(s) without all {N_JOINTS} joint boxes were left out", stacklevel=4)
        return _stack_hands(found)

    hands = _cached(cache, make)
    if hands.input_size != input_size:
        raise ValueError(f"cached hands in {cache} are {hands.input_size}, not {input_size}; delete the file")
    return hands


def mean_boxes(hands: HandSet) -> np.ndarray:
    """The average normalised layout (21, 4) of a HandSet's boxes: the regressor's starting point."""
    return hands.boxes.mean(dim=0).numpy()


def concat_hands(*sets: HandSet) -> HandSet:
    """One HandSet holding the hands of several (same input size), in order."""
    sets = [s for s in sets if s is not None and len(s)]
    if not sets:
        raise ValueError("nothing to concatenate")
    if len({s.input_size for s in sets}) != 1:
        raise ValueError(f"hand sets of different input sizes {[s.input_size for s in sets]}")
    return HandSet(torch.cat([s.images for s in sets]), torch.cat([s.boxes for s in sets]),
                   pd.concat([s.meta for s in sets], ignore_index=True))


def extra_phantom_seeds(seed: int, n: int) -> list[int]:
    """Render seeds of the localiser's extra phantom radiographs: a stream of their own, disjoint from the chapter data set's."""
    seq = np.random.SeedSequence([int(seed), 0x10C])  # 0x10C: "loc", so the stream differs from data.phantom_streams
    return [int(s.generate_state(1, dtype=np.uint32)[0]) for s in seq.spawn(int(n))]


def render_phantom_hands(n_radiographs: int, seed: int, input_size: tuple[int, int], *, size: int = 700,
                         cache: Union[str, Path, None] = None, progress: bool = True, framing: bool = True,
                         **render_options: Any) -> HandSet:
    """Hands of `n_radiographs` extra phantom radiographs, rendered in memory at `size` px and prepared like `prepare_hands`.

    The localiser sees a hand at about 200 px, so rendering at a few hundred pixels instead of
    the data set's size loses nothing it could use and costs a fraction of the time. Patient ids
    are "X0000", ...; the seeds come from `extra_phantom_seeds`, so these patients are never
    among the chapter data set's (held-out) patients. `cache`: an .npz path, as in `prepare_hands`.
    """
    from tqdm.auto import tqdm

    from .. import phantom

    if n_radiographs < 1:
        raise ValueError(f"n_radiographs must be >= 1, got {n_radiographs}")

    def make() -> HandSet:
        found = []
        for i, s in enumerate(tqdm(extra_phantom_seeds(seed, n_radiographs), desc="rendering extra phantom hands",
                                   disable=not progress)):
            rad = phantom.render(s, size=size, **render_options)
            found.extend((f"X{i:04d}", hand) for hand in hands_of_radiograph(rad.image, rad.boxes, input_size,
                                                                                          framing=framing))
        return _stack_hands(found)

    return _cached(cache, make)


# ---------------------------------------------------------------------------- chapter 4's data and its cache

HELD_OUT_FRACTION = 0.2
"""Share of patients chapter 4 holds out to test the localiser on."""


def split_patients(patient_ids: Sequence[str], test_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, test) patient ids: a seeded random `test_fraction` held out, whole patients (both hands) each side."""
    ids = [str(p) for p in patient_ids]
    if not 0 < test_fraction < 1 or len(ids) < 2:
        raise ValueError(f"need 0 < test_fraction < 1 and >= 2 patients, got {test_fraction} and {len(ids)}")
    n_test = min(len(ids) - 1, max(1, int(round(len(ids) * test_fraction))))
    perm = np.random.default_rng(seed).permutation(len(ids))
    test = set(perm[:n_test].tolist())
    return [p for i, p in enumerate(ids) if i not in test], [p for i, p in enumerate(ids) if i in test]


def preparation_fingerprint() -> str:
    """Hash of the source of every module that shapes a prepared hand: this one (split, mirror, resize,
    the .npz layout), the working image (`data.images`), the framing, the seam (`rheumabook.seam`, all of it), the box
    ops, the hand view's mapping, the joints and the table schema."""
    from .. import boxes, handview, joints, schema, seam

    return source_fingerprint(sys.modules[__name__], images_module, framing_module, seam, boxes, handview, joints,
                              schema)


def hands_cache_key(*parts: Any) -> str:
    """Names a cached HandSet: a content key of `parts` (the data, ids, sizes, seeds) and of
    `preparation_fingerprint()`, so that edited preparation code never reuses stale hands."""
    return content_key(preparation_fingerprint(), *parts)


@dataclass
class LocalizationData:
    """Chapter 4's hands: `train` (training patients + extra phantom hands) and `test` (held-out patients)."""

    train: HandSet
    test: HandSet
    train_patients: list[str]
    test_patients: list[str]
    n_extra_radiographs: int
    seconds: float

    def summary(self) -> pd.Series:
        """Counts for the chapter to show."""
        return pd.Series({"training patients (data set)": len(self.train_patients),
                          "extra phantom radiographs (training only)": self.n_extra_radiographs,
                          "training hands": len(self.train), "held-out patients": len(self.test_patients),
                          "held-out hands": len(self.test), "input size (H, W)": self.train.input_size,
                          "preparation seconds": round(self.seconds, 1)}, name="localisation data")


def _extra_hands(n_train: int, profile: Any, seed: int, cache_dir: Path, progress: bool
                 ) -> tuple[Optional[HandSet], int]:
    """(hands, radiographs) of the extra phantom radiographs that top `n_train` training hands up to
    `profile.localization.train_hands`; (None, 0) when there are enough."""
    from .. import phantom

    plan, size = profile.localization, tuple(int(v) for v in profile.localizer.input_size)
    if plan.train_hands <= n_train:
        return None, 0
    n_extra = math.ceil((plan.train_hands - n_train) / len(HANDS))
    framing = bool(profile.localizer.framing)
    key = hands_cache_key(source_fingerprint(phantom), n_extra, seed, plan.render_size, size, framing)
    hands = render_phantom_hands(n_extra, seed, size, size=plan.render_size, framing=framing,
                                 cache=cache_dir / f"hands-extra-{key}.npz", progress=progress)
    return hands, n_extra


def localization_data(dataset: Any, profile: Any, seed: int = 0, *, cache_dir: Union[str, Path, None] = None,
                      progress: bool = True) -> LocalizationData:
    """The hands chapter 4 trains and tests the localiser on, prepared once and cached.

    dataset: a `data.Dataset` (the chapter data set: phantom or real). profile: a `profiles.Profile`.
    Patients are split by `split_patients` (HELD_OUT_FRACTION held out, seeded); their hands are
    prepared with `prepare_hands` at `profile.localizer.input_size`, framed when
    `profile.localizer.framing`. For the phantom, when the
    training patients have fewer than `profile.localization.train_hands` hands, extra phantom
    radiographs are rendered at `profile.localization.render_size` px (`render_phantom_hands`,
    their own seed stream) and added to the training hands only; the test hands are always the
    data set's held-out patients. Real data gets no synthetic hands. cache_dir: where the
    prepared tensors are kept (None = `<artifacts>/cache/`), named by `hands_cache_key`.
    """
    start = time.perf_counter()
    cache_dir = Path(cache_dir) if cache_dir is not None else artifacts_dir() / "cache"
    size = tuple(int(v) for v in profile.localizer.input_size)
    framing = bool(profile.localizer.framing)
    train_ids, test_ids = split_patients(dataset.patients, HELD_OUT_FRACTION, seed)
    info = dict(getattr(dataset, "info", {}) or {})
    sets = {}
    for name, ids in (("train", train_ids), ("test", test_ids)):
        key = hands_cache_key(info, ids, size, framing)
        sets[name] = prepare_hands(dataset, size, ids, cache=cache_dir / f"hands-{name}-{key}.npz", progress=progress,
                                   framing=framing)
    train, extra, n_extra = sets["train"], None, 0
    if getattr(dataset, "is_phantom", False):  # real data gets no synthetic hands
        extra, n_extra = _extra_hands(len(train), profile, seed, cache_dir, progress)
    if extra is not None:
        train = concat_hands(train, extra)
    return LocalizationData(train, sets["test"], train_ids, test_ids, n_extra, time.perf_counter() - start)
