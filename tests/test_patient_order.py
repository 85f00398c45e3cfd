"""Bug 1 of issue 8: patients sort in ONE natural order ("P2" before "P10") everywhere.

data.py sorted ids with its own key, which put "P10" before "P2" (it compared ids as text unless
they were all digits), while aggregate.py put "P2" first. Both now use `schema.natural_key`.
This test reads a data set without patients.csv (so the loader must order the patients itself)
and aggregates its scores: both give "P2" first.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd

from rheumabook import aggregate, data
from rheumabook.joints import HANDS, JOINTS, SCORE_KINDS, applies


def _write(root, patients=("P10", "P2"), width=120, height=60):
    """A valid data set in the book's layout, without patients.csv, rows in the order of `patients`."""
    boxes, truth, scores = [], [], []
    for p in patients:
        for h_i, hand in enumerate(HANDS):
            for j_i, joint in enumerate(JOINTS):
                x, y = 2 + h_i * (width // 2) + (j_i % 7) * 7, 2 + (j_i // 7) * 18
                boxes.append((p, hand, joint, float(x), float(y), x + 5.5, y + 10.25))
                ero = (j_i + h_i) % 6 if applies(joint, "erosion") else None
                jsn = (j_i + 2 * h_i) % 5 if applies(joint, "jsn") else None
                truth.append((p, hand, joint, ero, jsn))
                scores += [(p, hand, joint, e, k, v) for k, v in (("erosion", ero), ("jsn", jsn)) if v is not None
                           for e in ("1", "2")]
    (root / "images").mkdir(parents=True)
    for p in patients:
        cv2.imwrite(str(root / "images" / f"{p}.png"), np.zeros((height, width), np.uint8))
    pd.DataFrame(boxes, columns=["patient_id", "hand", "joint", "x_min", "y_min", "x_max", "y_max"]).to_csv(
        root / "boxes.csv", index=False)
    pd.DataFrame(truth, columns=["patient_id", "hand", "joint", "erosion", "jsn"]).astype(
        {"erosion": "Int64", "jsn": "Int64"}).to_csv(root / "truth.csv", index=False)
    pd.DataFrame(scores, columns=["patient_id", "hand", "joint", "expert_id", "kind", "score"]).to_csv(
        root / "scores.csv", index=False)
    (root / "dataset.json").write_text(json.dumps({"kind": "phantom", "layout_version": data.LAYOUT_VERSION}))
    return root


def _order(table: pd.DataFrame) -> list:
    return list(pd.unique(table["patient_id"]))


def test_loaded_data_set_and_its_aggregates_put_p2_before_p10(tmp_path):
    ds = data.load_dataset(_write(tmp_path / "ds"))
    assert ds.patients == ["P2", "P10"]
    for table in (ds.boxes, ds.scores, ds.truth, ds.patient_info):
        assert _order(table) == ["P2", "P10"]
    vote = aggregate.majority_vote(ds.scores)
    for kind in SCORE_KINDS:
        assert _order(vote[vote["kind"] == kind]) == ["P2", "P10"]
    assert _order(aggregate.to_wide(vote)) == ["P2", "P10"]
    # the two orders agree row for row: the aggregate's sites are the truth's sites, in the same order
    wide = aggregate.to_wide(vote)
    assert list(zip(wide["patient_id"], wide["hand"], wide["joint"])) == \
        list(zip(ds.truth["patient_id"], ds.truth["hand"], ds.truth["joint"]))
