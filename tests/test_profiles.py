"""The run configs' shared JSON form (`profiles.RunConfig`): what a checkpoint stores reads back as the same config."""
from __future__ import annotations

import json

import pytest

from rheumabook import profiles
from rheumabook.profiles import COLAB, FULL, QUICK, LocalizerConfig, PretrainConfig, ScoringConfig

CONFIGS = [(LocalizerConfig, "localizer", "localiser"), (ScoringConfig, "scoring", "scoring"),
           (PretrainConfig, "pretrain", "pretraining")]


@pytest.mark.parametrize("cls, field, label", CONFIGS)
@pytest.mark.parametrize("profile", [QUICK, COLAB, FULL], ids=["quick", "colab", "full"])
def test_every_profile_config_round_trips_through_json_text(cls, field, label, profile):
    config = getattr(profile, field)
    text = json.dumps(config.to_json())
    back = cls.from_json(json.loads(text))
    assert type(back) is cls and back == config
    assert json.dumps(back.to_json()) == text


@pytest.mark.parametrize("cls, field, label", CONFIGS)
def test_unknown_keys_are_refused_with_the_known_ones_named(cls, field, label):
    stored = {**getattr(QUICK, field).to_json(), "lerning_rate": 1e-3}
    with pytest.raises(ValueError, match=f"unknown {label} config keys \\['lerning_rate'\\]; known: .*'seed'"):
        cls.from_json(stored)


@pytest.mark.parametrize("cls, field, label", CONFIGS)
def test_replace_changes_one_field_and_keeps_the_type(cls, field, label):
    config = getattr(QUICK, field)
    changed = config.replace(seed=config.seed + 1)
    assert type(changed) is cls and changed.seed == config.seed + 1 and changed.replace(seed=config.seed) == config


@pytest.mark.parametrize("gpu, colab, expected", [(False, False, "quick"), (False, True, "quick"),
                                                  (True, False, "full"), (True, True, "colab")])
def test_auto_picks_colab_on_a_colab_gpu_full_on_another_gpu_quick_without(monkeypatch, gpu, colab, expected):
    monkeypatch.delenv(profiles.ENV_VAR, raising=False)
    monkeypatch.delenv("COLAB_GPU", raising=False)
    monkeypatch.setattr(profiles, "gpu_available", lambda: gpu)
    if colab:
        monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20261201-060000_RC00")
    else:
        monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert profiles.resolve_name("auto") == expected
    monkeypatch.setenv(profiles.ENV_VAR, "quick")  # the environment variable still wins over the machine
    assert profiles.resolve_name("auto") == "quick" and profiles.resolve_name("colab") == "colab"


def test_colab_keeps_the_papers_models_and_resolution():
    for field in ("localizer", "scoring"):
        full, colab = getattr(FULL, field), getattr(COLAB, field)
        assert (colab.backbone, getattr(colab, "input_size", None), getattr(colab, "crop_size", None)) == (
            full.backbone, getattr(full, "input_size", None), getattr(full, "crop_size", None))
    assert COLAB.scoring.backbone_kwargs == {} and COLAB.scoring.augment == "paper"
    assert COLAB.data.image_size == FULL.data.image_size == 2400
    assert COLAB.scoring_comparison.backbones == FULL.scoring_comparison.backbones
