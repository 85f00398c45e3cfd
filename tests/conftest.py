"""Fixtures shared by several test files."""
from __future__ import annotations

import numpy as np
import pytest

from rheumabook.phantom import disease, raters


@pytest.fixture(scope="session")
def simulated_cohort():
    """`make(n_patients, seed) -> (truth, scores)`: a phantom cohort and its three raters' scores.

    One Generator draws the truth and then the scores (no images rendered: fast).
    """
    def make(n_patients: int, seed: int):
        rng = np.random.default_rng(seed)
        truth, _ = disease.sample_cohort(n_patients, rng)
        return truth, raters.simulate_scores(truth, rng)

    return make
