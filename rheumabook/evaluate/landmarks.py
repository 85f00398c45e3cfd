"""The real-image check: run the localiser on single-hand radiographs annotated with joint points.

A reader's (or the developers') test of whether the phantom-trained localiser finds joints on
real films. Input: a folder of single-hand PA radiographs (PNG, JPEG, TIFF, MetaImage .mha/.mhd
or DICOM, read by `rheumabook.data.read_image`) and a points CSV. Output: the hit rate per
joint, per image and overall, with the median error in MCP3-PIP3 distances, for the model and
for the **average-layout baseline** (the training hands' mean boxes, placed in the same frame
without looking at the image); optionally one overlay per image (`landmark_overlay`) showing each
predicted box, hit or missed, beside its labelled point.

A point is a **hit** when the predicted box's centre lies within ``HIT_RADIUS`` (0.35) x the
image's labelled MCP3-PIP3 distance of it: a scale that follows the hand's size in the image,
about a third of a proximal phalanx.

Points CSV (`read_points`): one row per labelled joint, columns

    image   file name in the images folder (``3167.mha``) or its stem (``3167``)
    joint   a site name of `rheumabook.joints.JOINTS` (IP, DIP2..5, PIP2..5, MCP1..5, CMC1, CMC3..5,
            wrist, ulna, radiocarpal); the header may say ``landmark`` instead
    x, y    the joint's centre in pixels of the image as stored (x to the right, y down)

Every image needs MCP3 and PIP3 (they set the hit radius); other joints may be missing.
`payer_points` converts the 37-landmark table of the Digital Hand Atlas subset shipped with
christianpayer/MedicalDataAugmentationTool-HeatmapRegression (``setup/all.csv``) with
`PAYER_LANDMARKS`, the mapping of its landmark indices to the book's joints (checked on a plot).

Hand side (``hand``): the localiser was trained on hands in the book's left orientation -- the
thumb on the image's LEFT (a patient's left hand in a bilateral PA film, thumbs pointing to the
middle). Single-hand films are usually displayed the other way: the Digital Hand Atlas shows a
LEFT hand with its thumb on the image's RIGHT. ``hand="left"`` (the default) means that: the
image is mirrored before the model sees it and the boxes mirrored back. ``hand="right"`` means
the thumb is on the image's left: used as it is. What counts is where the thumb is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import pandas as pd
import torch

from ..boxes import box_centers
from ..data.errors import DatasetError, MissingDatasetFileError
from ..data.images import READABLE_SUFFIXES, read_image, working_image
from ..handview import HandView
from ..joints import JOINTS
from ..schema import natural_order

__all__ = ["HIT_RADIUS", "POINT_COLUMNS", "HAND_SIDES", "PAYER_LANDMARKS", "read_points", "payer_points",
           "find_image", "LandmarkReport", "write_overlays", "predict_hand_boxes", "score_points", "evaluate_landmarks",
           "load_landmark_model"]

HIT_RADIUS = 0.35
"""A hit: predicted box centre within this fraction of the labelled MCP3-PIP3 distance of the point."""
POINT_COLUMNS: tuple[str, ...] = ("image", "joint", "x", "y")
HAND_SIDES: tuple[str, ...] = ("left", "right")
PAYER_LANDMARKS: dict[int, str] = {
    19: "IP", 18: "MCP1", 17: "CMC1",
    21: "MCP2", 22: "PIP2", 23: "DIP2", 25: "MCP3", 26: "PIP3", 27: "DIP3",
    29: "MCP4", 30: "PIP4", 31: "DIP4", 33: "MCP5", 34: "PIP5", 35: "DIP5",
    15: "CMC3", 14: "CMC4", 13: "CMC5",
}
"""Landmark index (0-based, of the 37 in ``setup/all.csv``) -> book joint, for the Digital Hand Atlas subset."""


def read_points(path: Union[str, Path]) -> pd.DataFrame:
    """The points CSV (see the module docstring) as a DataFrame image (str), joint, x, y (float), checked.

    Raises `DatasetError` naming the file and line for a missing column, a non-number, an unknown
    joint, a repeated (image, joint), or an image without MCP3 or PIP3.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDatasetFileError(f"{path}: points file is missing")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable CSV ({exc})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    df = df.rename(columns={"landmark": "joint"})
    missing = [c for c in POINT_COLUMNS if c not in df.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; a points CSV has columns "
                           f"{', '.join(POINT_COLUMNS)} (joint may be called landmark)")
    df = df[list(POINT_COLUMNS)].apply(lambda c: c.str.strip())
    for col in ("x", "y"):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.fillna(0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DatasetError(f"{path}, line {i + 2}: {col} = {df[col].iloc[i]!r} is not a number (pixels)")
        df[col] = values.astype(float)
    unknown = ~df["joint"].isin(JOINTS)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise DatasetError(f"{path}, line {i + 2}: unknown joint {df['joint'].iloc[i]!r}; expected one of "
                           f"{', '.join(JOINTS)}")
    dup = df.duplicated(["image", "joint"])
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise DatasetError(f"{path}, line {i + 2}: joint {df['joint'].iloc[i]} of image {df['image'].iloc[i]!r} "
                           f"is given twice")
    for image, rows in df.groupby("image", sort=False):
        if not {"MCP3", "PIP3"} <= set(rows["joint"]):
            raise DatasetError(f"{path}: image {image!r} lacks MCP3 or PIP3, which set the hit radius "
                               f"({HIT_RADIUS} x their distance)")
    if df.empty:
        raise DatasetError(f"{path}: no points")
    return df.reset_index(drop=True)


def payer_points(all_csv: Union[str, Path], images: Optional[list[str]] = None) -> pd.DataFrame:
    """Points (image, joint, x, y) from a 37-landmark ``all.csv`` (id, x0, y0, x1, y1, ...), via `PAYER_LANDMARKS`.

    images: keep only these ids (e.g. the images at hand); None = every row.
    """
    raw = pd.read_csv(all_csv, header=None, dtype=str)
    if raw.shape[1] < 2 * (max(PAYER_LANDMARKS) + 1) + 1:
        raise DatasetError(f"{all_csv}: expected an id and {max(PAYER_LANDMARKS) + 1}+ (x, y) pairs per row, "
                           f"got {raw.shape[1]} columns")
    rows = []
    for _, r in raw.iterrows():
        if images is not None and str(r[0]) not in images:
            continue
        for index, joint in sorted(PAYER_LANDMARKS.items(), key=lambda kv: JOINTS.index(kv[1])):
            rows.append({"image": str(r[0]), "joint": joint, "x": float(r[1 + 2 * index]), "y": float(r[2 + 2 * index])})
    return pd.DataFrame(rows, columns=list(POINT_COLUMNS))


def find_image(images_dir: Union[str, Path], name: str) -> Path:
    """The file of image `name` in `images_dir`: the exact file name, else a stem with a readable suffix."""
    folder = Path(images_dir)
    if not folder.is_dir():
        raise MissingDatasetFileError(f"{folder}: images folder is missing")
    exact = folder / name
    if exact.is_file():
        return exact
    found = [folder / f"{name}{s}" for s in READABLE_SUFFIXES if (folder / f"{name}{s}").is_file()]
    if not found:
        raise MissingDatasetFileError(f"{folder}: no image {name!r} (looked for {name} and {name}.<"
                                      f"{'|'.join(s[1:] for s in READABLE_SUFFIXES)}>)")
    return found[0]


@torch.no_grad()
def predict_hand_boxes(model: Any, config: Any, image: np.ndarray, mean_boxes: Optional[np.ndarray] = None, *,
                       hand: str = "left", device: str = "cpu") -> tuple[np.ndarray, Optional[np.ndarray]]:
    """(model boxes, baseline boxes) (21, 4) in pixels of a single-hand `image` as stored.

    The image (2-D uint8/uint16) is brought to `data.working_image`, mirrored when `hand` is "left" (thumb on the image's right, see the module
    docstring), framed and resized exactly as in training (`localize.frame_hand` with
    `config.framing`), the model's normalised boxes mapped back through the frame and the
    mirror (`handview.HandView.to_image`, unclipped). The baseline is `mean_boxes` (normalised, the training
    hands' average) mapped the same way.
    """
    from ..localize import frame_hand, standardize

    if hand not in HAND_SIDES:
        raise ValueError(f"hand must be one of {HAND_SIDES}, got {hand!r}")
    img = working_image(image)  # as the localiser's training hands were (bit depth changes no box)
    # the thumb on the image's right: seen mirrored, as a patient's left hand in the training orientation
    view = HandView(hand, width=img.shape[1], height=img.shape[0], mirrored=hand == "left")
    img = np.ascontiguousarray(img[:, ::-1]) if view.mirrored else img
    resized, frame = frame_hand(img, tuple(config.input_size), framing=bool(config.framing))
    view = view.with_frame(frame)
    model.eval()
    x = standardize(torch.from_numpy(resized)[None, None]).to(device)
    pred = model(x).float().cpu().numpy()[0]
    return view.to_image(pred), (None if mean_boxes is None else view.to_image(np.asarray(mean_boxes, np.float64)))


def score_points(points: pd.DataFrame, boxes: np.ndarray, prefix: str = "") -> pd.DataFrame:
    """Per-point distances and hits of one image's boxes (21, 4): columns <prefix>x, <prefix>y, <prefix>distance,
    <prefix>hit, and radius (HIT_RADIUS x the labelled MCP3-PIP3 distance)."""
    at = points.set_index("joint")
    radius = HIT_RADIUS * float(np.hypot(*(at.loc["MCP3", ["x", "y"]].to_numpy(float)
                                           - at.loc["PIP3", ["x", "y"]].to_numpy(float))))
    centres = np.asarray(box_centers(np.asarray(boxes, dtype=np.float64)))
    idx = [JOINTS.index(j) for j in points["joint"]]
    px, py = centres[idx, 0], centres[idx, 1]
    dist = np.hypot(px - points["x"].to_numpy(float), py - points["y"].to_numpy(float))
    return pd.DataFrame({f"{prefix}x": px, f"{prefix}y": py, f"{prefix}distance": dist,
                         f"{prefix}hit": dist <= radius, "radius": radius}, index=points.index)


def _summary(points: pd.DataFrame) -> dict:
    """n, hit rates and median errors (in MCP3-PIP3 distances) of some labelled points, model and baseline."""
    scale = HIT_RADIUS / points["radius"]  # radius = HIT_RADIUS x MCP3-PIP3: error / MCP3-PIP3
    return {"n": len(points), "hit_rate": points["pred_hit"].mean(), "baseline_hit_rate": points["base_hit"].mean(),
            "median_error_mcp3_pip3": (points["pred_distance"] * scale).median(),
            "baseline_median_error_mcp3_pip3": (points["base_distance"] * scale).median()}


@dataclass
class LandmarkReport:
    """What `evaluate_landmarks` measured: `points` (one row per labelled point: image, joint, x, y, radius,
    pred_x/y, pred_distance, pred_hit, base_x/y, base_distance, base_hit), `boxes` ({image: the model's (21, 4)
    boxes in its pixels}) and summaries of them."""

    points: pd.DataFrame
    hand: str
    boxes: dict = field(default_factory=dict)

    @property
    def hit_rate(self) -> float:
        """Share of all labelled points the model hits."""
        return float(self.points["pred_hit"].mean())

    @property
    def baseline_hit_rate(self) -> float:
        """Share of all labelled points the average layout hits."""
        return float(self.points["base_hit"].mean())

    def per_joint(self) -> pd.DataFrame:
        """Per joint (book order) and overall: n, hit_rate, baseline_hit_rate, median_error_mcp3_pip3,
        baseline_median_error_mcp3_pip3 (median distance of the box centre from the point / the MCP3-PIP3 distance)."""
        rows = {j: _summary(g) for j, g in self.points.groupby("joint")}
        table = pd.DataFrame.from_dict({j: rows[j] for j in JOINTS if j in rows}, orient="index")
        table.loc["overall"] = _summary(self.points)
        return table.astype({"n": int}).rename_axis("joint")

    def per_image(self) -> pd.DataFrame:
        """Per image (natural order) and overall, the columns of `per_joint`: which films the localiser misses."""
        rows = {name: _summary(g) for name, g in self.points.groupby("image", sort=False)}
        table = pd.DataFrame.from_dict({name: rows[name] for name in natural_order(list(rows))}, orient="index")
        table.loc["overall"] = _summary(self.points)
        return table.astype({"n": int}).rename_axis("image")


def evaluate_landmarks(images_dir: Union[str, Path], points: pd.DataFrame, model: Any, config: Any,
                       mean_boxes: np.ndarray, *, hand: str = "left", device: str = "cpu",
                       overlays: Union[str, Path, None] = None) -> LandmarkReport:
    """Run the localiser on every image of `points` (read from `images_dir`) and score its joint centres.

    points: `read_points`' table. model, config: a localiser and its `LocalizerConfig`; mean_boxes:
    the normalised average training layout (21, 4), the baseline. hand: see the module docstring.
    overlays: a folder for one `<image>.png` per image (`write_overlays`).
    """
    rows, boxes = [], {}
    images = natural_order(list(dict.fromkeys(points["image"])))
    for name in images:
        image = read_image(find_image(images_dir, name))
        pts = points[points["image"] == name]
        pred, base = predict_hand_boxes(model, config, image, mean_boxes, hand=hand, device=device)
        scored = score_points(pts, pred, "pred_").join(score_points(pts, base, "base_").drop(columns="radius"))
        rows.append(pts.join(scored))
        boxes[name] = pred
        if overlays is not None:
            write_overlays(LandmarkReport(rows[-1], hand, {name: pred}), {name: image}, overlays)
    return LandmarkReport(pd.concat(rows, ignore_index=True), hand, boxes)


def write_overlays(report: LandmarkReport, images: dict, folder: Union[str, Path]) -> list[Path]:
    """One PNG per image of `report` in `folder` (`viz.landmark_overlay`: boxes hit or missed, labelled points),
    titled with its hit rate; images: {name: the 2-D image as read}. Written atomically; returns the paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from ..viz import landmark_overlay, save_figure

    written = []
    for name, pts in report.points.groupby("image", sort=False):
        title = f"{name}: {int(pts['pred_hit'].sum())} of {len(pts)} joints hit"
        ax = landmark_overlay(images[name], report.boxes[name], pts, title=title)
        written.append(save_figure(ax.figure, Path(folder) / f"{Path(str(name)).stem}.png"))
    return written


def load_landmark_model(profile: Any, *, seed: int = 0, checkpoint: Union[str, Path, None] = None,
                        models_dir: Union[str, Path, None] = None, device: str = "cpu"):
    """(model, config, mean_boxes, where): a given `checkpoint` (a stem), else the profile's localiser in
    `models_dir` (None = `<artifacts>/models`), trained there first if absent (`load_or_train_localizer`).

    mean_boxes comes from the checkpoint's JSON (``extra["mean_boxes"]``, written by chapter 4 and
    `load_or_train_localizer`); a checkpoint without it is refused with what to do.
    """
    from ..localize import default_checkpoint, load_localizer, load_or_train_localizer
    from ..training import checkpoint_exists, checkpoint_paths

    if checkpoint is None:
        path = default_checkpoint(profile.name, seed)
        if models_dir is not None:
            path = Path(models_dir) / path.name
        load_or_train_localizer(profile, seed=seed, path=path, device=device)
    else:
        path = Path(checkpoint)
        if not checkpoint_exists(path):
            raise MissingDatasetFileError(f"{checkpoint_paths(path)[0]}: no localiser checkpoint there")
    model, config, extra = load_localizer(path, device=device)
    if "mean_boxes" not in extra:
        raise DatasetError(f"{checkpoint_paths(path)[1]}: the checkpoint does not record its training layout "
                           f"(extra.mean_boxes), needed for the baseline; re-run chapter 4 or delete the checkpoint "
                           f"so that it is trained again")
    return model, config, np.asarray(extra["mean_boxes"], dtype=np.float64), path
