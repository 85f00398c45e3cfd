"""The smoke run of the `full` profile (`rheumabook.book.smoke`, issue 19): its exact models and settings, a few
steps each, on CPU in about a minute; a broken full-only setting fails it, naming the stage.

Note on window sizes: timm pads a TinyViT or Swin token grid to a multiple of the window, so a window that
does not divide the 224-px grid (e.g. TinyViT ``window_sizes=(7, 7, 14, 9)``) builds, trains and scores; the
broken settings below are ones that do fail: a window tuple missing a stage, a decoder without a width for
every skip, a backbone keyword timm does not know.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import pytest
import torch

from rheumabook.book import SMOKE_COLUMNS, SmokeError, smoke_run, smoke_stages
from rheumabook.book.runner import main
from rheumabook.cache import ARTIFACTS_ENV
from rheumabook.profiles import FULL, QUICK

torch.set_num_threads(2)


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("rheumabook-smoke-*")}


@pytest.fixture(scope="module")
def full_smoke():
    before, env = _leftovers(), os.environ.get(ARTIFACTS_ENV)
    table = smoke_run(FULL, progress=False)
    assert _leftovers() == before and os.environ.get(ARTIFACTS_ENV) == env  # nothing left behind
    return table


def test_full_profile_smoke_run_passes_every_stage(full_smoke):
    table = full_smoke
    assert list(table.columns) == list(SMOKE_COLUMNS)
    assert list(table["stage"]) == smoke_stages(FULL)
    assert table["ok"].all(), table.loc[~table["ok"], ["stage", "error"]].to_string()
    stages = set(table["stage"])
    assert {"localiser", "localiser checkpoint", "scorer", "scorer checkpoint", "pretraining", "pipeline"} <= stages
    assert {f"Table 3: {label}" for label, _, _ in FULL.scoring_comparison.backbones} <= stages
    built = dict(zip(table["stage"], table["built"]))
    assert built["localiser"].startswith("tf_efficientnetv2_s, input 512 x 384")
    assert built["scorer"].startswith("tiny_vit_5m_224 at 224 px, augment 'paper'")
    assert "decoder (128, 64, 32, 16, 16)" in built["pretraining"]
    assert "2400 x 1800 px film" in built["pipeline"]
    for label, name, _ in FULL.scoring_comparison.backbones:
        assert built[f"Table 3: {label}"].startswith(f"{name} at 224 px")
    trained = table[table["stage"].isin(["localiser", "scorer", "pretraining"]) | table["stage"].str.startswith("Table")]
    assert (trained["steps"] >= 2).all()


def test_the_smoke_run_leaves_the_profiles_as_they_were(full_smoke):
    from rheumabook import profiles

    assert profiles.FULL is FULL and FULL.localizer.epochs == 150 and FULL.scoring.frozen_epochs == 50
    assert FULL.pretrain.n_radiographs == 3818 and FULL.data.n_patients == 330


@pytest.mark.parametrize("broken, stage, words", [
    (FULL.replace(scoring=FULL.scoring.replace(backbone_kwargs=dict(window_sizes=(7, 7, 14)))), "scorer",
     "IndexError"),
    (FULL.replace(pretrain=FULL.pretrain.replace(decoder_channels=(128, 64, 32))), "pretraining", "decoder_channels"),
], ids=["tinyvit-windows-missing-a-stage", "decoder-missing-widths"])
def test_a_broken_full_setting_fails_naming_its_stage(broken, stage, words):
    with pytest.raises(SmokeError, match=f"'full' profile failed at stage '{stage}'") as info:
        smoke_run(broken, stages=[stage], progress=False)
    assert info.value.stage == stage and words in str(info.value)
    assert not info.value.table.iloc[-1]["ok"] and info.value.table.iloc[-1]["stage"] == stage


def test_report_mode_records_a_failed_backbone_and_goes_on():
    rows = tuple((label, name, dict(window_size=7, no_such_keyword=1) if label == "Swin" else kw)
                 for label, name, kw in FULL.scoring_comparison.backbones)
    broken = FULL.replace(scoring_comparison=dataclasses.replace(FULL.scoring_comparison, backbones=rows))
    table = smoke_run(broken, stages=["Table 3: Swin", "Table 3: TinyViT"], errors="report", progress=False)
    got = table.set_index("stage")
    assert list(got.index) == ["phantom data", "scoring crops", "Table 3: Swin", "Table 3: TinyViT"]
    assert not got.loc["Table 3: Swin", "ok"] and "no_such_keyword" in got.loc["Table 3: Swin", "error"]
    assert got.loc["Table 3: TinyViT", "ok"]


def test_smoke_stages_follow_the_profile_and_unknown_stages_are_refused():
    assert smoke_stages(QUICK)[-2] == "Table 3: DenseNet" and smoke_stages()[0] == "phantom data"
    with pytest.raises(ValueError, match="unknown smoke stage"):
        smoke_run(FULL, stages=["no such stage"])


def test_command_line(capsys):
    assert main(["smoke", "--profile", "full", "--stages", "phantom data"]) == 0
    out = capsys.readouterr().out
    assert "phantom data" in out and "all stages ok" in out
    assert main(["smoke", "--stages", "no such stage"]) == 2


def test_quick_profile_smoke_run_passes_too():
    table = smoke_run(QUICK, progress=False)
    assert table["ok"].all() and list(table["stage"]) == smoke_stages(QUICK)
    assert dict(zip(table["stage"], table["built"]))["localiser"].startswith("test_efficientnet, input 160 x 128")
