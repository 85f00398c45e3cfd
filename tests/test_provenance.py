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


# --- training.load_or_train: the one load-or-train recipe of every stage -----------------------------------------------

def _tiny_run(tmp_path, provenance: str, *, beside=(), stems=None):
    """load_or_train on a one-layer model: returns (result, how many times train() ran)."""
    import torch

    from rheumabook.training import load_checkpoint, load_or_train, save_checkpoint

    stem = tmp_path / "tiny"
    calls = []

    def train():
        calls.append(1)
        return torch.nn.Linear(2, 1)

    def save(model, extra):
        save_checkpoint(stem, model, {"width": 2}, format="test/1", extra=extra)

    def load():
        return load_checkpoint(stem, format="test/1", config_type=dict, build=lambda c: torch.nn.Linear(2, 1)).model

    out = load_or_train(stems or stem, format="test/1", provenance=provenance, what="tiny model", load=load,
                        train=train, save=save, beside=beside)
    return out, len(calls)


def test_load_or_train_trains_saves_and_then_loads_the_same_weights(tmp_path, capsys):
    import torch

    first, trained = _tiny_run(tmp_path, "key-1")
    assert trained == 1 and "No saved tiny model" in capsys.readouterr().out
    again, trained = _tiny_run(tmp_path, "key-1")
    assert trained == 0 and "Loaded the tiny model" in capsys.readouterr().out
    assert torch.equal(first.weight, again.weight) and torch.equal(first.bias, again.bias)


def test_load_or_train_retrains_when_the_provenance_differs_or_the_pair_is_incomplete(tmp_path, capsys):
    from rheumabook.training import saved_provenance

    _tiny_run(tmp_path, "key-1")
    _, trained = _tiny_run(tmp_path, "key-2")  # other code, settings or data
    assert trained == 1 and "training it again" in capsys.readouterr().out
    assert saved_provenance(tmp_path / "tiny", format="test/1") == "key-2"
    (tmp_path / "tiny.json").unlink()  # an interrupted save: weights without their JSON
    _, trained = _tiny_run(tmp_path, "key-2")
    assert trained == 1 and saved_provenance(tmp_path / "tiny", format="test/1") == "key-2"
    (tmp_path / "tiny.json").write_text("{not json")  # a damaged header
    assert saved_provenance(tmp_path / "tiny", format="test/1") is None
    _, trained = _tiny_run(tmp_path, "key-2")
    assert trained == 1


def test_load_or_train_needs_every_file_beside_the_checkpoint(tmp_path):
    _tiny_run(tmp_path, "key-1")
    missing = tmp_path / "tiny-encoder.safetensors"
    _, trained = _tiny_run(tmp_path, "key-1", beside=[missing])
    assert trained == 1
    missing.write_bytes(b"x")
    _, trained = _tiny_run(tmp_path, "key-1", beside=[missing])
    assert trained == 0
    _, trained = _tiny_run(tmp_path, "key-1", stems=[tmp_path / "tiny", tmp_path / "tiny-jsn"])  # one stem missing
    assert trained == 1


def test_load_or_train_refuses_an_empty_provenance(tmp_path):
    from rheumabook.training import load_or_train

    with pytest.raises(ValueError, match="provenance"):
        load_or_train(tmp_path / "x", format="t", provenance="", what="x", load=lambda: 0, train=lambda: 0,
                      save=lambda r, e: None)
