"""stats.totals_agreement (chapter 7's totals), against hand-computed values and numpy/scipy."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import pearsonr, ttest_1samp

from rheumabook.stats import totals_agreement


def test_totals_agreement_hand_computed():
    truth = np.array([0, 2, 10, 30])
    pred = np.array([4, 4, 12, 30])  # differences 4, 2, 2, 0: mean 2, sd sqrt(8/3)
    got = totals_agreement(pred, truth)
    sd = math.sqrt(8 / 3)
    assert got["bias"] == pytest.approx(2.0) and got["sd"] == pytest.approx(sd)
    assert (got["lower"], got["upper"]) == pytest.approx((2 - 1.96 * sd, 2 + 1.96 * sd))
    assert got["r"] == pytest.approx(pearsonr(pred, truth)[0])
    # the bias's interval is the one-sample t-interval of the differences (scipy's, independently)
    ci = ttest_1samp(pred - truth, 0.0).confidence_interval(0.95)
    assert (got["bias_low"], got["bias_high"]) == pytest.approx((ci.low, ci.high))
    assert got["bias_high"] - got["bias"] == pytest.approx(3.182446 * sd / 2, rel=1e-6)  # t(3) = 3.1824
    assert (got["healthy_n"], got["healthy_median"]) == (2, 4.0)  # true totals 0 and 2 are <= 5
    assert math.isnan(totals_agreement(pred, np.array([9, 9, 9, 9]))["healthy_median"])
    with pytest.raises(ValueError, match="equal-length"):
        totals_agreement(pred, truth[:3])
