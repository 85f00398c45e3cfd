"""Self-supervised pretraining (paper §3.3): the U-Net around the scoring backbone, the corruptions, the
L1 training, checkpoints and the cache, and the scorer starting from the pretrained encoder."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rheumabook import pretrain
from rheumabook.profiles import QUICK, PretrainConfig, ScoringConfig
from rheumabook.scoring import CropSet, ScoringModel, build_scorer, train_model
from rheumabook.scoring.model import load_backbone_weights

SCORING = QUICK.scoring  # the quick TinyViT (~1 M parameters) at 64-px crops
TINY = PretrainConfig(n_radiographs=3, render_size=400, decoder_channels=(32, 16, 16, 8, 8), epochs=1, batch_size=16,
                      lr=3e-3, warmup_fraction=0.0)


def _unet(seed: int = 0) -> pretrain.UNet:
    torch.manual_seed(seed)
    return pretrain.build_unet(SCORING, TINY.decoder_channels)


def _smooth_crops(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """uint8 crops of a few blurred blobs: structure to reconstruct, no phantom needed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.zeros((n, size, size))
    for i in range(n):
        for _ in range(3):
            cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.08, 0.25)
            out[i] += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    return np.clip(out / out.max(axis=(1, 2), keepdims=True) * 230 + 10, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------- the U-Net

def test_unet_reconstructs_at_the_input_size_with_the_backbone_stages_as_skips():
    unet = _unet().eval()
    x = torch.randn(3, 1, SCORING.crop_size, SCORING.crop_size)
    assert unet(x).shape == (3, 1, SCORING.crop_size, SCORING.crop_size)
    # Independent reference: run TinyViT's patch embedding and stages by hand.
    with torch.no_grad():
        y, expected = unet.encoder.patch_embed(x), []
        for stage in unet.encoder.stages:
            y = stage(y)
            expected.append(y)
        got = unet.skips(x)
    assert [tuple(s.shape[1:]) for s in got] == [(32, 16, 16), (64, 8, 8), (128, 4, 4), (160, 2, 2)]
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert unet.skip_strides == [4, 8, 16, 32]


def test_unet_refuses_a_decoder_of_the_wrong_depth_and_a_wrong_input():
    backbone = build_scorer(SCORING).backbone
    with pytest.raises(ValueError, match="decoder_channels needs 5 widths"):
        pretrain.UNet(backbone, img_size=64, decoder_channels=(16, 8))
    with pytest.raises(ValueError, match=r"input must be \(N, 1, 64, 64\)"):
        _unet()(torch.zeros(1, 1, 32, 32))


def test_encoder_has_the_scorers_backbone_keys_and_its_weights_give_the_same_features(tmp_path):
    from safetensors.torch import save_file

    unet = _unet(seed=3).eval()
    scorer = build_scorer(SCORING)
    enc, ref = pretrain.encoder_state_dict(unet), scorer.backbone.state_dict()
    assert list(enc) == list(ref)
    assert all(enc[k].shape == ref[k].shape for k in ref)
    path = tmp_path / "encoder.safetensors"
    save_file(enc, str(path))
    fresh = ScoringModel(SCORING.backbone, img_size=SCORING.crop_size, backbone_kwargs=SCORING.backbone_kwargs,
                         weights_path=path).eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert not torch.equal(scorer.eval().forward_features(x), unet.encoder(x))  # other random weights differ
        torch.testing.assert_close(fresh.forward_features(x), unet.encoder(x), rtol=0, atol=0)


# ------------------------------------------------------------------------------------------- corruptions

def test_corruptions_follow_the_seed_and_change_the_input():
    pipeline = pretrain.corruptions(TINY)
    x = torch.from_numpy(_smooth_crops(6)).float().div(255).unsqueeze(1)
    a = pretrain.corrupt_crops(x, torch.Generator().manual_seed(5), pipeline)
    b = pretrain.corrupt_crops(x, torch.Generator().manual_seed(5), pipeline)
    c = pretrain.corrupt_crops(x, torch.Generator().manual_seed(6), pipeline)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a - x).abs().mean() > 0.01 and a.min() >= 0 and a.max() <= 1
    state = torch.get_rng_state()
    pretrain.corrupt_crops(x, torch.Generator().manual_seed(5), pipeline)
    assert torch.equal(state, torch.get_rng_state()), "the global torch generator must be left alone"


def test_noise_has_the_configured_standard_deviation():
    config = TINY.replace(noise_sigma=0.05, elastic_p=0.0, erase_p=0.0)
    x = torch.full((8, 1, 64, 64), 0.5)  # mid-grey: clipping at 0 and 1 is 10 sigma away
    noise = pretrain.corrupt_crops(x, torch.Generator().manual_seed(0), pretrain.corruptions(config)) - x
    assert abs(float(noise.mean())) < 0.002
    assert abs(float(noise.std()) - 0.05) < 0.002


def test_cut_out_rectangles_cover_the_configured_share_of_the_crop():
    config = TINY.replace(noise_sigma=0.0, elastic_p=0.0, erase_count=2, erase_p=1.0, erase_scale=(0.02, 0.05))
    x = torch.full((40, 1, 64, 64), 0.5)
    out = pretrain.corrupt_crops(x, torch.Generator().manual_seed(1), pretrain.corruptions(config))
    erased = (out == 0).float().mean(dim=(1, 2, 3))  # share of each crop set to 0
    assert torch.all(out[out != 0] == 0.5), "only whole pixels are erased, nothing else changes"
    # at least the smaller rectangle of the low end, at most two of the high end (rounding of the sides: +-20 %)
    assert float(erased.min()) >= 0.02 * 0.8 and float(erased.max()) <= 2 * 0.05 * 1.2
    assert float(erased.std()) > 0  # the sizes are drawn


def test_elastic_deformation_moves_structure_without_noise_or_cut_out():
    config = TINY.replace(noise_sigma=0.0, erase_p=0.0, elastic_p=1.0, elastic_alpha=30.0)
    x = torch.from_numpy(_smooth_crops(4)).float().div(255).unsqueeze(1)
    out = pretrain.corrupt_crops(x, torch.Generator().manual_seed(2), pretrain.corruptions(config))
    assert float((out - x).abs().mean()) > 0.005
    assert abs(float(out.mean() - x.mean())) < 0.05  # a displacement, not a change of brightness


# ------------------------------------------------------------------------------------------- training and files

def test_a_few_epochs_of_pretraining_lower_the_reconstruction_l1():
    crops = _smooth_crops(96)
    config = TINY.replace(epochs=6, noise_sigma=0.05, elastic_p=0.0)
    untrained = pretrain.reconstruction_l1(_unet(), crops[:32], config, seed=1)
    result = pretrain.pretrain_encoder(crops, config, SCORING, seed=0, val=crops[:32], progress=False)
    after = pretrain.reconstruction_l1(result.unet, crops[:32], config, seed=1)
    assert result.l1["before"] == pytest.approx(untrained["reconstruction"], rel=1e-5)  # seed 0 builds _unet(0)
    assert after["reconstruction"] < 0.6 * untrained["reconstruction"], (untrained, after)
    assert list(result.history["epoch"]) == list(range(1, 7)) and "val_l1" in result.history


def test_pretraining_is_reproducible_and_the_checkpoint_round_trips(tmp_path):
    crops = _smooth_crops(32)
    a = pretrain.pretrain_encoder(crops, TINY, SCORING, seed=4, progress=False)
    b = pretrain.pretrain_encoder(crops, TINY, SCORING, seed=4, progress=False)
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(a.unet(x), b.unet(x), rtol=0, atol=0)
    pretrain.save_pretrained(tmp_path / "pre", a)
    loaded = pretrain.load_pretrained(tmp_path / "pre")
    assert loaded.config == TINY and loaded.scoring == SCORING and loaded.encoder_path.is_file()
    with torch.no_grad():
        torch.testing.assert_close(loaded.unet(x), a.unet(x), rtol=0, atol=0)
    backbone = build_scorer(SCORING).backbone.eval()
    load_backbone_weights(backbone, loaded.encoder_path)
    with torch.no_grad():
        torch.testing.assert_close(backbone(x), a.unet.encoder.eval()(x), rtol=0, atol=0)


def test_the_scorer_starts_from_the_pretrained_backbone(tmp_path, monkeypatch):
    """ScoringConfig.backbone_weights: a frozen-backbone-only run keeps exactly the pretrained weights."""
    monkeypatch.setenv("RHEUMABOOK_ARTIFACTS", str(tmp_path))
    saved = pretrain.save_pretrained(tmp_path / "models" / "pre",
                                     pretrain.pretrain_encoder(_smooth_crops(16), TINY, SCORING, seed=1, progress=False))
    config = pretrain.pretrained_scoring_config(SCORING, saved).replace(frozen_epochs=1, unfrozen_epochs=0,
                                                                         batch_size=8)
    assert config.backbone_weights == "models/pre-encoder.safetensors"  # relative: no machine path in a config
    rng = np.random.default_rng(0)
    n = 16
    sites = pd.DataFrame({"patient_id": [f"P{i // 4}" for i in range(n)], "hand": "left", "joint": "MCP2",
                          **{f"{s}_{k}": rng.integers(0, 3, n) for s in ("ds", "truth") for k in ("erosion", "jsn")}})
    crops = _smooth_crops(n)
    model, _ = train_model(CropSet(sites, crops, crops[None]), config, progress=False)
    expected = pretrain.encoder_state_dict(saved.unet)
    got = model.backbone.state_dict()
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    scratch, _ = train_model(CropSet(sites, crops, crops[None]), config.replace(backbone_weights=""), progress=False)
    assert not all(torch.equal(scratch.backbone.state_dict()[k], expected[k]) for k in expected)


def test_scoring_config_default_keeps_chapter_5s_checkpoints():
    """Chapter 5's saved configs have no backbone_weights: they read back equal to the profile's config."""
    old = SCORING.to_json()
    del old["backbone_weights"]
    assert ScoringConfig.from_json(old) == SCORING and SCORING.backbone_weights == ""
    assert ScoringConfig.from_json(SCORING.to_json()) == SCORING


def test_pretraining_radiographs_are_not_the_chapter_patients():
    from rheumabook.data.phantom_writer import phantom_streams
    from rheumabook.localize import extra_phantom_seeds

    ours = set(pretrain.pretrain_seeds(0, 4000))
    assert len(ours) == 4000
    assert not ours & set(phantom_streams(0, 400)[0]) and not ours & set(extra_phantom_seeds(0, 2000))
    assert pretrain.pretrain_seeds(0, 5) == pretrain.pretrain_seeds(0, 10)[:5]  # a prefix: more data, same start


def test_load_or_pretrain_caches_by_content_key(tmp_path, capsys):
    profile = QUICK.replace(name="tiny", pretrain=TINY)
    first = pretrain.load_or_pretrain(profile, seed=0, cache_dir=tmp_path, progress=False)
    assert "No saved pretrained encoder" in capsys.readouterr().out
    again = pretrain.load_or_pretrain(profile, seed=0, cache_dir=tmp_path, progress=False)
    assert "Loaded" in capsys.readouterr().out and again.path == first.path
    assert first.l1["after"] < first.l1["before"]
    other = pretrain.load_or_pretrain(profile.replace(pretrain=TINY.replace(noise_sigma=0.1)), seed=0,
                                      cache_dir=tmp_path, progress=False)
    reseeded = pretrain.load_or_pretrain(profile, seed=1, cache_dir=tmp_path, progress=False)
    assert len({first.path, other.path, reseeded.path}) == 3
    with pytest.raises(ValueError, match="n_radiographs >= 2"):
        pretrain.load_or_pretrain(profile.replace(pretrain=TINY.replace(n_radiographs=1)), cache_dir=tmp_path)
    crops, origin = pretrain.pretraining_crops(TINY, SCORING, seed=0, progress=False)
    assert crops.shape == (3 * 42, 64, 64) and crops.dtype == np.uint8 and list(np.unique(origin)) == [0, 1, 2]
