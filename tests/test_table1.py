"""scoring.table1 (issue 21): the one Table 1 of chapters 5 and 7, checked against the assembly the chapters
used to write out themselves, and `on_sites` against a brute-force lookup."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rheumabook import scoring
from rheumabook.joints import SCORE_KINDS
from rheumabook.scoring.table1 import EXPERTS, MAJORITY, ONE_VS_TWO, on_sites, paper_table, table1


@pytest.fixture(scope="module")
def held_out():
    from rheumabook import data

    root = data.write_phantom_dataset(__import__("tempfile").mkdtemp() + "/ds", 6, 3, size=400, progress=False)
    ds = data.load_dataset(root)
    sites = scoring.site_labels(ds)
    rng = np.random.default_rng(0)
    ours = {k: np.where(sites[f"truth_{k}"] >= 0, np.clip(sites[f"truth_{k}"] + rng.integers(-1, 2, len(sites)), 0,
                                                         5 if k == "erosion" else 4), -1) for k in SCORE_KINDS}
    return ds, sites, ours


def test_table1_equals_the_chapters_former_assembly(held_out):
    ds, sites, ours = held_out
    train = {k: sites[f"ds_{k}"].to_numpy() for k in SCORE_KINDS}
    got = table1({"ours": ours}, sites, ds.scores, train, n_boot=60, seed=4)
    # what chapters 5 and 7 wrote out in their notebooks before
    patients = sites["patient_id"].to_numpy()
    references = {"truth": {k: sites[f"truth_{k}"].to_numpy() for k in SCORE_KINDS},
                  "DS labels": {k: sites[f"ds_{k}"].to_numpy() for k in SCORE_KINDS}}
    majority = scoring.majority_baseline(train, len(sites))
    experts = scoring.expert_predictions(ds.scores, sites)
    main = scoring.evaluation_table({"ours": ours, "majority-class baseline": majority}, references, patients,
                                    n_boot=60, seed=4)
    expert_rows = [{"model": "Average expert (3 simulated, pooled)", "reference": r, "kind": k,
                    **scoring.metric_row(*scoring.pooled(experts, ref, patients, k), n_boot=60, seed=4)}
                   for r, ref in references.items() for k in SCORE_KINDS]
    expected = pd.concat([main, pd.DataFrame(expert_rows), scoring.one_vs_two_rows(ds.scores, sites, n_boot=60, seed=4)],
                         ignore_index=True)
    pd.testing.assert_frame_equal(got.table, expected)
    numbers = got.headline("ours")
    o, m = got.row("ours", "truth", "erosion"), got.row(MAJORITY, "truth", "erosion")
    assert numbers["accuracy_erosion_truth"] == o["accuracy"]
    assert numbers["margin_over_majority_erosion_truth"] == pytest.approx(o["accuracy"] - m["accuracy"])
    assert numbers["expert_accuracy_jsn_ds"] == got.row(EXPERTS, "DS labels", "jsn")["accuracy"]
    assert numbers["expert_1vs2_accuracy_jsn"] == got.row(ONE_VS_TWO, "other two experts", "jsn")["accuracy"]
    assert list(got.wide().columns) == ["erosion accuracy", "erosion MAE", "jsn accuracy", "jsn MAE"]
    with pytest.raises(KeyError, match="no single row"):
        got.row("ours (prefix", "truth", "erosion")  # exact labels only: no prefix lookups
    assert paper_table().loc["RheumaVIT (ours)", "erosion accuracy"] == "0.74 ± 0.05"
    assert paper_table(scoring.PAPER_TABLE3).loc["TinyViT", "jsn MAE"] == "0.36 ± 0.05"


def test_real_data_has_no_truth_reference(held_out):
    ds, sites, ours = held_out
    real = sites.assign(truth_erosion=-1, truth_jsn=-1)
    got = table1({"ours": ours}, real, ds.scores, {k: real[f"ds_{k}"].to_numpy() for k in SCORE_KINDS}, n_boot=20)
    assert got.references == ["DS labels"] and "accuracy_erosion_truth" not in got.headline("ours")


def test_on_sites_matches_a_brute_force_lookup(held_out):
    _, sites, ours = held_out
    rng = np.random.default_rng(1)
    source = sites.sample(frac=0.8, random_state=2).reset_index(drop=True)  # shuffled, some sites missing
    pred = {k: rng.integers(0, 4, len(source)) for k in SCORE_KINDS}
    got = on_sites(pred, source, sites)
    for i, row in sites.iterrows():
        match = source[(source["patient_id"] == row["patient_id"]) & (source["hand"] == row["hand"])
                       & (source["joint"] == row["joint"])].index
        for k in SCORE_KINDS:
            assert got[k][i] == (pred[k][match[0]] if len(match) else -1)


def test_shift_stability_counts_the_grades_a_moved_box_changes(held_out):
    ds, sites, _ = held_out
    from rheumabook.profiles import ScoringConfig

    config = ScoringConfig(backbone="test_efficientnet", crop_size=32)

    class Brightness:  # a stand-in scorer: the grade is the crop's brightness band, so moving a box can change it
        def predict(self, crops):
            level = crops.reshape(len(crops), -1).mean(axis=1)
            return {"erosion": np.digitize(level, [60, 90, 120]), "jsn": np.digitize(level, [75, 105])}

    still = scoring.shift_stability(Brightness(), ds, sites.iloc[:30], config, shift=0.0)
    assert list(still["direction"].unique()) == ["right", "left", "down", "up"] and (still["changed"] == 0).all()
    moved = scoring.shift_stability(Brightness(), ds, sites.iloc[:30], config, shift=25.0)
    assert moved["changed"].max() > 0 and (moved["mean_abs_change"] >= 0).all()
