"""`python -m rheumabook.book train` (issue 19, item 4): one stage trained for the chapters to load; under torchrun
process 0 prepares the data before the others read it."""
from __future__ import annotations

import dataclasses

import pytest

from rheumabook.book import launch
from rheumabook.profiles import QUICK
from rheumabook.training import distributed

TINY = QUICK.replace(data=dataclasses.replace(QUICK.data, n_patients=4, image_size=700),
                     localizer=QUICK.localizer.replace(epochs=1, switch_epoch=0, batch_size=4),
                     localization=dataclasses.replace(QUICK.localization, train_hands=6))


@pytest.mark.parametrize("main", [True, False])
def test_process_0_prepares_the_data_before_the_others_read_it(monkeypatch, main):
    events = []
    monkeypatch.setattr(distributed, "init_from_env", lambda: events.append("init"))
    monkeypatch.setattr(distributed, "is_main", lambda: main)
    monkeypatch.setattr(distributed, "barrier", lambda: events.append("barrier"))
    monkeypatch.setattr(launch, "_prepare", lambda stage, cfg, seed, progress: events.append("prepare") or {})
    monkeypatch.setattr(launch, "_trainer", lambda stage: lambda cfg, **kw: events.append(("train", kw["device"])))
    launch.train_stage("scorer", TINY, device="cpu")
    assert events == (["init", "prepare", "barrier", ("train", "cpu")] if main
                      else ["init", "barrier", "prepare", ("train", "cpu")])


def test_train_saves_the_localiser_the_chapters_then_load(tmp_path, monkeypatch, capsys):
    from rheumabook.localize import train as localize_train

    monkeypatch.setenv("RHEUMABOOK_ARTIFACTS", str(tmp_path))
    model, config = launch.train_stage("localiser", TINY, device="cpu", progress=False)
    assert config.epochs == 1 and list((tmp_path / "models").glob("*.safetensors"))

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the saved localiser has the same provenance")

    monkeypatch.setattr(localize_train, "train_localizer", no_training)
    again, _ = launch.train_stage("localiser", TINY, device="cpu", progress=False)
    assert all((a == b).all() for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_the_command_refuses_bad_usage_before_anything_starts(capsys):
    assert launch.train_command("decoder", "quick") == 2
    assert "unknown stage 'decoder'" in capsys.readouterr().err
    assert launch.train_command("scorer", "huge") == 2
    assert "unknown profile 'huge'" in capsys.readouterr().err
