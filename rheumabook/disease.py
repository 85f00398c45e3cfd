"""STUB (being written): the phantom's disease model: patient severity -> true erosion/JSN per joint."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .joints import HANDS, JOINTS, applies


def sample_truth(rng: np.random.Generator) -> pd.DataFrame:
    """True scores of one patient: one row per (hand, joint), columns hand, joint, erosion, jsn (Int64, <NA> where n/a)."""
    severity = rng.uniform(0, 1)
    rows = []
    for hand in HANDS:
        for joint in JOINTS:
            ero = int(min(5, rng.poisson(severity))) if applies(joint, "erosion") else pd.NA
            jsn = int(min(4, rng.poisson(1.5 * severity))) if applies(joint, "jsn") else pd.NA
            rows.append((hand, joint, ero, jsn))
    df = pd.DataFrame(rows, columns=["hand", "joint", "erosion", "jsn"])
    return df.astype({"erosion": "Int64", "jsn": "Int64"})
