"""Chapter 6's label efficiency (issue 18): `pretrain.efficiency_runs` and `pretrain.efficiency_table`."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from rheumabook import pretrain
from rheumabook.profiles import PROFILES, LabelEfficiencyPlan
from rheumabook.scoring import ScoringData, build_scorer
from rheumabook.scoring.evaluate import difference_row
from rheumabook.stats import weighted_accuracy
from test_scoring_train import synthetic_set, tiny_config


def test_efficiency_sizes_cap_at_the_available_patients_and_read_0_as_all():
    assert pretrain.efficiency_sizes([10, 20, 40, 0], 48) == [10, 20, 40, 48]
    assert pretrain.efficiency_sizes([40, 10, 100], 30) == [10, 30]
    with pytest.raises(ValueError, match="patient counts"):
        pretrain.efficiency_sizes([], 10)
    with pytest.raises(ValueError, match="at least one"):
        pretrain.efficiency_sizes([10], 0)


def test_every_profile_plans_several_seeds_and_sizes():
    for profile in PROFILES.values():
        plan = profile.label_efficiency
        assert len(plan.seeds) >= 3 and len(plan.sizes) >= 4 and min(plan.sizes[:3]) >= 10
    with pytest.raises(ValueError, match="seed"):
        LabelEfficiencyPlan(sizes=(10,), seeds=())


# ------------------------------------------------------------------------------ the table, against a hand computation


class _Test:
    """A stand-in held-out set: patients and labels per kind."""

    def __init__(self, truth: dict, patients: np.ndarray):
        self.truth, self.patients = truth, patients

    def labels(self, kind: str, source: str = "ds") -> np.ndarray:
        return self.truth[kind]


def _runs(seed: int = 0) -> tuple[pd.DataFrame, _Test]:
    rng = np.random.default_rng(seed)
    n = 120
    truth = {"erosion": rng.integers(0, 6, n), "jsn": rng.integers(0, 5, n)}
    truth["erosion"][::11] = -1  # missing labels are skipped
    patients = np.array([f"P{i // 6}" for i in range(n)], dtype=object)
    rows = []
    for size in (10, 20):
        for s in (0, 1, 2):
            for arm, p_right in (("without", 0.4), ("with", 0.55 + 0.05 * s)):
                pred = {k: np.where(rng.random(n) < p_right, np.maximum(truth[k], 0), rng.integers(0, 4, n))
                        for k in truth}
                rows.append({"arm": arm, "seed": s, "patients": size, "seconds": 1.0, **pred})
    return pd.DataFrame(rows), _Test(truth, patients)


def _accuracy(truth, pred):
    keep = truth >= 0
    return weighted_accuracy(truth[keep], pred[keep])


def test_the_table_is_the_seeds_mean_and_its_paired_difference():
    runs, test = _runs()
    table = pretrain.efficiency_table(runs, test, {"truth": "truth"}, n_boot=200)
    assert len(table) == 2 * 2 and set(table["patients"]) == {10, 20}
    for row in table.itertuples():
        at = runs[runs["patients"] == row.patients]
        per = {arm: [_accuracy(test.truth[row.kind], r[row.kind]) for _, r in at[at["arm"] == arm].sort_values("seed").iterrows()]
               for arm in pretrain.ARMS}
        # pooling the seeds' predictions on the same sites gives exactly the mean of their weighted accuracies
        assert row.accuracy_without == pytest.approx(np.mean(per["without"]), abs=1e-12)
        assert row.accuracy_with == pytest.approx(np.mean(per["with"]), abs=1e-12)
        np.testing.assert_allclose(row.seed_differences, np.subtract(per["with"], per["without"]), atol=1e-12)
        assert row.difference == pytest.approx(np.mean(row.seed_differences), abs=1e-12)
        assert row.difference_low <= row.difference <= row.difference_high
        assert row.seeds == 3
    # the planted effect (+0.15 to +0.25 more right calls) is found, with an interval away from 0
    assert (table["difference_low"] > 0).all()


def test_the_difference_interval_resamples_whole_patients_with_all_seeds_together():
    runs, test = _runs(seed=3)
    table = pretrain.efficiency_table(runs, test, {"truth": "truth"}, n_boot=300, seed=5)
    row = table[(table["patients"] == 20) & (table["kind"] == "jsn")].iloc[0]
    at = runs[runs["patients"] == 20].sort_values("seed")
    stack = {arm: np.concatenate(list(at[at["arm"] == arm]["jsn"])) for arm in pretrain.ARMS}
    ref = difference_row(np.tile(test.truth["jsn"], 3), stack["with"], stack["without"],
                         np.tile(test.patients, 3), n_boot=300, seed=5)
    assert (row.difference_low, row.difference_high) == (ref["accuracy_low"], ref["accuracy_high"])


def test_the_table_refuses_missing_runs_and_an_empty_table():
    runs, test = _runs()
    with pytest.raises(ValueError, match=r"missing for \(arm, seed\)"):
        pretrain.efficiency_table(runs.drop(index=3), test, {"truth": "truth"}, n_boot=50)
    with pytest.raises(ValueError, match="no label-efficiency runs"):
        pretrain.efficiency_table(runs.iloc[:0], test, {"truth": "truth"}, n_boot=50)


# ------------------------------------------------------------------------------ the runs


@pytest.fixture
def tiny_data():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    train, test = synthetic_set(80, seed=1), synthetic_set(30, seed=2, draws=0)
    yield ScoringData(train, test, list(dict.fromkeys(train.patients)), list(dict.fromkeys(test.patients)))
    torch.set_num_threads(threads)


def test_runs_train_both_arms_on_prefixes_and_reload_from_the_cache(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RHEUMABOOK_ARTIFACTS", str(tmp_path))
    config = tiny_config(frozen_epochs=0, unfrozen_epochs=1)
    encoder = tmp_path / "encoder.safetensors"
    save_file({k: v.contiguous() for k, v in build_scorer(config.replace(seed=9)).backbone.state_dict().items()},
              str(encoder))
    with_ = config.replace(backbone_weights="encoder.safetensors")
    seen = []
    import rheumabook.scoring as scoring_pkg  # the runs go through the shared `scoring.train_scorer`
    original = scoring_pkg.train_scorer

    def spy(train, cfg, **kwargs):
        seen.append((len(set(train.patients)), cfg.seed, bool(cfg.backbone_weights)))
        return original(train, cfg, **kwargs)

    monkeypatch.setattr(scoring_pkg, "train_scorer", spy)
    runs = pretrain.efficiency_runs(tiny_data, config, with_, [3, 0], [0, 1], cache=tmp_path / "cache", progress=False)
    assert len(runs) == 2 * 2 * 2 and sorted(set(runs["patients"])) == [3, 8]
    assert sorted(seen) == sorted((n, s, w) for n in (3, 8) for s in (0, 1) for w in (False, True))
    assert all(len(r.erosion) == len(tiny_data.test) and len(r.jsn) == len(tiny_data.test) for r in runs.itertuples())
    again = pretrain.efficiency_runs(tiny_data, config, with_, [3, 0], [0, 1], cache=tmp_path / "cache", progress=False)
    assert len(seen) == 8  # all eight reloaded: nothing trained twice
    for a, b in zip(runs.itertuples(), again.itertuples()):
        assert np.array_equal(a.erosion, b.erosion) and np.array_equal(a.jsn, b.jsn)
    with pytest.raises(ValueError, match="pretrained encoder"):
        pretrain.efficiency_runs(tiny_data, with_, config, [3], [0], progress=False)
