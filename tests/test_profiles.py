"""The run configs' shared JSON form (`profiles.RunConfig`): what a checkpoint stores reads back as the same config."""
from __future__ import annotations

import json

import pytest

from rheumabook.profiles import FULL, QUICK, LocalizerConfig, PretrainConfig, ScoringConfig

CONFIGS = [(LocalizerConfig, "localizer", "localiser"), (ScoringConfig, "scoring", "scoring"),
           (PretrainConfig, "pretrain", "pretraining")]


@pytest.mark.parametrize("cls, field, label", CONFIGS)
@pytest.mark.parametrize("profile", [QUICK, FULL], ids=["quick", "full"])
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
