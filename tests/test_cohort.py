"""Tests of rheumabook.stats.cohort: statistics that describe a cohort's scores (chapter 1)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rheumabook import data, stats
from rheumabook.joints import EROSION_SITES


def test_patient_icc_against_hand_computed_anova():
    # two patients, three sites each (erosion at IP, DIP2, DIP3 of the left hand)
    rows = [("A", "left", j, s) for j, s in zip(("IP", "DIP2", "DIP3"), (1, 2, 3))]
    rows += [("B", "left", j, s) for j, s in zip(("IP", "DIP2", "DIP3"), (4, 5, 5))]
    t = pd.DataFrame(rows, columns=["patient_id", "hand", "joint", "erosion"]).assign(jsn=pd.NA)
    # by hand: means 2 and 14/3, grand 10/3; SSB = 3*(4/3)^2*2 = 32/3, MSB = 32/3;
    # SSW = 2 + 2/3 = 8/3, MSW = (8/3)/4 = 2/3; ICC = (32/3 - 2/3) / (32/3 + 2*2/3) = 30/36
    assert stats.patient_icc(t, "erosion") == pytest.approx(30 / 36)
    same = t.assign(erosion=[2, 2, 2, 4, 4, 4])
    assert stats.patient_icc(same, "erosion") == pytest.approx(1.0)


def test_site_correlation_is_spearman_per_site_pair():
    rng = np.random.default_rng(0)
    frames = []
    for i in range(30):
        t = data.uniform_truth(0, 0).assign(patient_id=f"P{i}")
        t["erosion"] = pd.array(np.where(t["erosion"].isna(), pd.NA, rng.integers(0, 6, 42)), dtype="Int64")
        frames.append(t)
    truth = pd.concat(frames, ignore_index=True)
    corr = stats.site_correlation(truth, "erosion")
    assert corr.shape == (2 * len(EROSION_SITES),) * 2
    a = truth[(truth.hand == "left") & (truth.joint == "MCP2")]["erosion"].astype(float).to_numpy()
    b = truth[(truth.hand == "right") & (truth.joint == "IP")]["erosion"].astype(float).to_numpy()
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    assert corr.loc["left MCP2", "right IP"] == pytest.approx(np.corrcoef(ra, rb)[0, 1])
