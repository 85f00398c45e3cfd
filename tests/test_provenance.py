"""Saved models are reused only when the code, settings and data that made them are the ones asked for.

`localize.localizer_provenance` / `scoring.scorer_provenance` name everything that shapes the
profile's saved localiser and scorer; `load_or_train_*` retrain (and overwrite) a checkpoint whose
recorded provenance differs, e.g. one trained on an older phantom.
"""
from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from rheumabook import data, localize, scoring
from rheumabook.data import chapter
from rheumabook.profiles import QUICK


def test_provenance_follows_the_phantom_generator_the_config_and_the_seed(monkeypatch):
    loc, sco = localize.localizer_provenance(QUICK), scoring.scorer_provenance(QUICK)
    assert localize.localizer_provenance(QUICK, seed=1) != loc and scoring.scorer_provenance(QUICK, seed=1) != sco
    other = QUICK.replace(localizer=QUICK.localizer.replace(epochs=QUICK.localizer.epochs + 1))
    assert localize.localizer_provenance(other) != loc and scoring.scorer_provenance(other) == sco
    other = QUICK.replace(scoring=QUICK.scoring.replace(frozen_epochs=QUICK.scoring.frozen_epochs + 1))
    assert scoring.scorer_provenance(other) != sco and localize.localizer_provenance(other) == loc
    monkeypatch.setattr(chapter, "generator_fingerprint", lambda: "another phantom")  # the phantom's code changed
    assert localize.localizer_provenance(QUICK) != loc and scoring.scorer_provenance(QUICK) != sco


def test_a_loaded_phantom_has_the_identity_of_its_recipe_and_real_data_its_own():
    recipe = data.dataset_identity(profile=QUICK, seed=0)
    info = {**recipe, "written": "2026-12-01"}  # more keys in dataset.json do not matter
    phantom = types.SimpleNamespace(is_phantom=True, info=info, patients=["P1"])
    assert data.dataset_identity(phantom) == recipe
    real = types.SimpleNamespace(is_phantom=False, info={"kind": "real"}, patients=["A", "B"])
    assert data.dataset_identity(real) == {"info": {"kind": "real"}, "patients": ["A", "B"]}
    assert localize.localizer_provenance(QUICK, real) != localize.localizer_provenance(QUICK)


def test_a_localiser_saved_by_other_code_is_trained_again(tmp_path, monkeypatch, capsys):
    config = QUICK.localizer.replace(input_size=(64, 48))
    profile = QUICK.replace(localizer=config)
    path = tmp_path / "localizer"
    model = localize.build_model(config)
    localize.save_localizer(path, model, config, extra={"provenance": "made by older code"})
    trained = []

    def fake_training(hands, cfg, **kwargs):  # stands in for the minutes of real training
        trained.append(cfg)
        return localize.TrainResult(localize.build_model(cfg), cfg, pd.DataFrame({"epoch": [0]}), 0.0)

    monkeypatch.setattr(localize.train, "train_localizer", fake_training)
    monkeypatch.setattr(localize.train, "localization_data", lambda *a, **k: types.SimpleNamespace(train=[]))
    monkeypatch.setattr(localize.train, "mean_boxes", lambda hands: np.zeros((21, 4)))
    fake_dataset = types.SimpleNamespace(is_phantom=True, info=data.dataset_identity(profile=profile, seed=0),
                                         patients=[])
    localize.load_or_train_localizer(profile, fake_dataset, path=path, progress=False)
    assert len(trained) == 1 and "training it again" in capsys.readouterr().out
    _, _, extra = localize.load_localizer(path)
    assert extra["provenance"] == localize.localizer_provenance(profile, fake_dataset)
    localize.load_or_train_localizer(profile, fake_dataset, path=path, progress=False)  # now current: loaded
    assert len(trained) == 1 and "Loaded the localiser" in capsys.readouterr().out
