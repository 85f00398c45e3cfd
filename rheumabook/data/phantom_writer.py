"""Writing the phantom data set in the book's layout (paper §3.1, on synthetic data).

`write_phantom_dataset` renders `n_patients` bilateral radiographs with the phantom, simulates
three radiologists' scores, and writes the folder that `dataset.load_dataset` reads (layout:
`rheumabook.data.dataset`). Its random streams come from one seed (`phantom_streams`), so a
smaller data set is a prefix of a larger one; the same arguments give byte-identical files.
`dataset.json` records `generator_fingerprint()`, the hash of the phantom's source, so a cached
data set made by other code is recognised as stale (`chapter.chapter_dataset`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..cache import atomic_directory, source_fingerprint
from ..joints import HANDS, JOINTS
from ..schema import BOX_COLUMNS, BOXES_COLUMNS, SCORES_COLUMNS, TRUTH_COLUMNS
from .dataset import LAYOUT_VERSION, write_png
from .tables import sort_rows

__all__ = ["patient_ids", "phantom_streams", "generator_fingerprint", "write_phantom_dataset", "dataset_lesions"]


def patient_ids(n_patients: int) -> list[str]:
    """Ids of a phantom data set: "P0000", "P0001", ... (zero-padded so text order = number order)."""
    width = max(4, len(str(n_patients - 1)))
    return [f"P{i:0{width}d}" for i in range(n_patients)]


def phantom_streams(seed: int, n_patients: int) -> tuple[list[int], np.random.Generator]:
    """The random streams of a phantom data set: one render seed per patient, and the raters' Generator.

    Both derive from `seed` via `np.random.SeedSequence`: patient i's seed does not depend on
    `n_patients`, so a smaller data set is a prefix of a larger one (same images, same truth).
    """
    images_seq, raters_seq = np.random.SeedSequence(seed).spawn(2)
    seeds = [int(s.generate_state(1, dtype=np.uint32)[0]) for s in images_seq.spawn(n_patients)]
    return seeds, np.random.default_rng(raters_seq)


def generator_fingerprint() -> str:
    """Short hash of the source of the phantom package, which generates the data set (`cache.source_fingerprint`).

    The package holds the renderer, the disease model and the simulated raters; with the joint
    sites and table rules it uses and this writer, the hash covers everything that shapes the
    files. Recorded in dataset.json: a cached data set made by other code is stale.
    """
    from .. import joints, phantom, schema
    from . import phantom_writer, tables

    return source_fingerprint(phantom, joints, schema, phantom_writer, tables)


def _plain(value: Any) -> Any:
    """A CSV/JSON-friendly scalar (numpy -> Python; lists/dicts -> JSON text)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (type, np.dtype)):  # e.g. dtype=np.uint16 passed to the phantom
        try:
            return np.dtype(value).name
        except TypeError:
            return getattr(value, "__name__", str(value))
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return json.dumps(np.asarray(value).tolist() if isinstance(value, np.ndarray) else value,
                          default=lambda v: v.item() if isinstance(v, np.generic) else str(v))
    return value


_META_SKIP = ("joints", "seed", "size")
"""Keys of `Radiograph.meta` not copied to patients.csv: per-joint geometry (re-render to get it) and duplicates."""


def _flatten(meta: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten the phantom's nested meta dict into dotted keys with plain values (patients.csv columns)."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if not prefix and key in _META_SKIP:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = _plain(value)
    return out


def _check_radiograph(rad: Any, pid: str) -> None:
    """The phantom honours its contract (2-D uint8/uint16 image, 42 boxes and truth rows)."""
    image = getattr(rad, "image", None)
    if not isinstance(image, np.ndarray) or image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"phantom.render gave patient {pid} an image that is not a 2-D uint8/uint16 array")
    for name in ("boxes", "truth"):
        table = getattr(rad, name)
        if len(table) != len(HANDS) * len(JOINTS):
            raise ValueError(f"phantom.render gave patient {pid} {len(table)} {name} rows, expected "
                             f"{len(HANDS) * len(JOINTS)} (21 joints x 2 hands)")


def write_phantom_dataset(root: Path | str, n_patients: int, seed: int, *, size: Optional[int] = None,
                          overwrite: bool = False, progress: bool = True, **render_options: Any) -> Path:
    """Render a phantom data set and write it in the book's layout (paper §3.1, on synthetic data).

    For each of `n_patients` patients ("P0000", ...) renders one bilateral radiograph with
    `rheumabook.phantom.render(patient_seed, size=size, **render_options)` (patient seeds from
    `phantom_streams(seed, n_patients)`), then simulates three radiologists' scores of all joints
    with `simulate_scores(truth, rng)` of the phantom's raters. `size=None` uses the phantom's default.

    Writes images as lossless PNG (uint16 stays uint16), boxes.csv, scores.csv, truth.csv,
    patients.csv and dataset.json (layout: `rheumabook.data.dataset`). Everything is written into a
    hidden temp folder next to `root` and renamed at the end (`cache.atomic_directory`), so an
    interrupted run leaves no `root`; an existing non-empty `root` is replaced only with
    `overwrite=True`. The same arguments give byte-identical files. Returns `root`.
    """
    root = Path(root)
    if int(n_patients) != n_patients or n_patients < 1:
        raise ValueError(f"n_patients must be a positive whole number, got {n_patients!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}")
    n_patients, seed = int(n_patients), int(seed)
    options = dict(render_options)
    if size is not None:
        options["size"] = int(size)
    seeds, raters_rng = phantom_streams(seed, n_patients)
    with atomic_directory(root, overwrite=overwrite) as tmp:
        (tmp / "images").mkdir()
        rendered = _render_patients(tmp / "images", patient_ids(n_patients), seeds, options, progress)
        tables = _phantom_tables(*rendered, raters_rng)
        csv = dict(index=False, lineterminator="\n")
        for name, table in tables.items():
            table.to_csv(tmp / f"{name}.csv", **csv)
        info = _phantom_info(tables, seed=seed, n_patients=n_patients, size=size, render_options=render_options)
        # dataset.json last: a folder with it was written to the end
        (tmp / "dataset.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return root


def _render_patients(images_dir: Path, ids: Sequence[str], seeds: Sequence[int], options: Mapping[str, Any],
                     progress: bool) -> tuple[list[pd.DataFrame], list[pd.DataFrame], list[dict]]:
    """Render and write each patient's radiograph; returns their boxes, truth tables and patients.csv rows."""
    from tqdm.auto import tqdm

    from .. import phantom

    boxes, truth, rows = [], [], []
    for pid, patient_seed in zip(tqdm(ids, desc="rendering phantom radiographs", disable=not progress), seeds):
        rad = phantom.render(patient_seed, **options)
        _check_radiograph(rad, pid)
        write_png(images_dir / f"{pid}.png", rad.image)
        boxes.append(rad.boxes.assign(patient_id=pid))
        truth.append(rad.truth.assign(patient_id=pid))
        height, width = rad.image.shape
        fixed = {"patient_id": pid, "image": f"{pid}.png", "width": width, "height": height,
                 "dtype": str(rad.image.dtype), "pixel_spacing_mm": float(rad.pixel_spacing_mm),
                 "render_seed": patient_seed}
        meta = {k if k not in fixed else f"meta.{k}": v for k, v in _flatten(getattr(rad, "meta", {})).items()}
        rows.append({**fixed, **meta})
    return boxes, truth, rows


def _phantom_tables(boxes: list[pd.DataFrame], truth: list[pd.DataFrame], rows: list[dict],
                    raters_rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """The data set's tables {boxes, scores, truth, patients}, typed and in canonical order; simulates the scores."""
    from ..phantom import raters

    truth_df = sort_rows(pd.concat(truth, ignore_index=True))[list(TRUTH_COLUMNS)]
    truth_df = truth_df.astype({"erosion": "Int64", "jsn": "Int64"})
    scores_df = raters.simulate_scores(truth_df.copy(), raters_rng)
    scores_df = scores_df[scores_df["score"].notna()]  # a score not given is an absent row
    scores_df = sort_rows(scores_df.reset_index(drop=True), extra=("kind", "expert_id"))[list(SCORES_COLUMNS)]
    scores_df = scores_df.astype({"score": "Int64"})
    boxes_df = sort_rows(pd.concat(boxes, ignore_index=True))[list(BOXES_COLUMNS)]
    boxes_df = boxes_df.astype({c: "float64" for c in BOX_COLUMNS})
    return {"boxes": boxes_df, "scores": scores_df, "truth": truth_df, "patients": pd.DataFrame(rows)}


def _phantom_info(tables: Mapping[str, pd.DataFrame], *, seed: int, n_patients: int, size: Optional[int],
                  render_options: Mapping[str, Any]) -> dict[str, Any]:
    """The dataset.json of a phantom data set: what it is, how it was made, and a few facts about it."""
    from .. import __version__

    patients_df = tables["patients"]
    spacings = sorted(set(patients_df["pixel_spacing_mm"]))
    shapes = sorted(set(zip(patients_df["height"], patients_df["width"])))
    return {
        "name": "RheumaBook phantom",
        "kind": "phantom",
        "description": ("Synthetic bilateral hand radiographs rendered by rheumabook.phantom, with known joint "
                        "boxes and true Sharp/van der Heijde erosion (0-5) and JSN (0-4) scores, scored by "
                        "three simulated radiologists (rheumabook.phantom.raters). Not patient data."),
        "layout_version": LAYOUT_VERSION,
        "rheumabook_version": __version__,
        "generator_fingerprint": generator_fingerprint(),
        "seed": seed,
        "n_patients": n_patients,
        "size": None if size is None else int(size),
        "render_options": {k: _plain(v) for k, v in render_options.items()},
        "image_shape": list(shapes[0]) if len(shapes) == 1 else None,
        "dtype": sorted(set(patients_df["dtype"])),
        "pixel_spacing_mm": spacings[0] if len(spacings) == 1 else None,
        "pixel_spacing_mm_range": [min(spacings), max(spacings)],
        "n_experts": int(tables["scores"]["expert_id"].nunique()),
        "hands": "the patient's hands; on the PA radiograph the patient's right hand is on the image's left",
        "box_format": "x_min, y_min, x_max, y_max in pixels of the patient's image",
    }


def dataset_lesions(dataset: Any, patient_ids: Optional[Sequence[str]] = None, *, progress: bool = False) -> pd.DataFrame:
    """The lesion geometry of a written phantom data set's radiographs (`phantom.lesion_geometry`; chapter 6).

    Each patient's radiograph is re-drawn from its recorded render seed and the data set's size and
    render options, without rendering pixels. patient_ids: which (default: all). Returns one row per
    (patient, hand, site, kind) where the kind is scored: patient_id, then `phantom.LESION_COLUMNS`
    (polygons in pixels of the patient's image). Refuses real data (nobody knows where its lesions
    are) and a data set written by other phantom code (its polygons would not match its images).
    """
    from tqdm.auto import tqdm

    from .. import phantom

    if not getattr(dataset, "is_phantom", False):
        raise ValueError("lesion geometry exists only for phantom data sets: a real radiograph's lesions are unknown")
    written = dataset.info.get("generator_fingerprint")
    if written != generator_fingerprint():
        raise ValueError(f"this phantom data set was written by other phantom code (fingerprint {written}, now "
                         f"{generator_fingerprint()}): write it again (data.chapter_dataset does) before asking "
                         "where its lesions are")
    info = dataset.patient_info.set_index("patient_id")
    wanted = list(dataset.patients if patient_ids is None else dict.fromkeys(str(p) for p in patient_ids))
    unknown = [p for p in wanted if p not in info.index]
    if unknown:
        raise ValueError(f"patients not in the data set: {unknown[:5]}")
    options = dict(dataset.info.get("render_options") or {})
    size = dataset.info.get("size")
    if size is not None:
        options["size"] = int(size)
    tables = [phantom.lesion_geometry(int(info.at[pid, "render_seed"]), **options).assign(patient_id=pid)
              for pid in tqdm(wanted, desc="lesion geometry", disable=not progress)]
    return pd.concat(tables, ignore_index=True)[["patient_id", *phantom.LESION_COLUMNS]]
