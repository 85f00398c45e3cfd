"""The end-to-end pipeline (`rheumabook.pipeline`, issue 12) on small phantom radiographs with tiny seeded models.

The models are untrained (seeded; the localiser starts at the phantom hands' mean layout, as
training does) and saved with the real save functions, then loaded back with `RheumaVIT.from_folder`.
What the pipeline computes is checked against independent references: chapter 4's path from a
radiograph to radiograph boxes (`localize.hands_of_radiograph` + `predict_boxes` +
`HandSet.radiograph_boxes`), the real-image check's single-hand path (`evaluate.predict_hand_boxes`),
and `scoring.crop_joints` + `Scorer.predict_proba` on those boxes.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from rheumabook import localize, phantom, scoring
from rheumabook.joints import EROSION_SITES, HANDS, JOINTS, JSN_SITES, MAX_SCORE
from rheumabook.pipeline import (RESULT_COLUMNS, Failure, InputError, ModelError, RheumaVIT, read_results,
                                 results_table, totals_table, write_results)
from rheumabook.profiles import QUICK, LocalizerConfig, ScoringConfig
from rheumabook.schema import BOX_COLUMNS
from rheumabook.training import seeded

SIZE = 320  # phantom width (px): 320 x 240 radiographs
LOC = LocalizerConfig(backbone="test_efficientnet", input_size=(64, 48), hidden=32, seed=0)
SMALL_TINY_VIT = QUICK.scoring.replace(crop_size=32, backbone_kwargs=dict(
    embed_dims=(16, 32, 48, 64), depths=(1, 1, 1, 1), num_heads=(1, 2, 3, 4), window_sizes=(4, 4, 2, 1)))
"""A TinyViT of four one-block stages (windows 4, 4, 2, 1 at crop 32) for the inference-copy tests."""
SCO = ScoringConfig(backbone="test_efficientnet", crop_size=32, hidden=32, frozen_epochs=0, unfrozen_epochs=1,
                    augment="none", seed=0)


def make_models(folder, profile_name: str = "quick", seed: int = 0):
    """Save a tiny seeded localiser and scorer into `folder` under the profile's checkpoint names."""
    hands = localize.render_phantom_hands(3, 7, LOC.input_size, size=SIZE, progress=False)
    model = localize.initial_localizer(hands, LOC)
    loc_path = folder / localize.default_checkpoint(profile_name, seed).name
    localize.save_localizer(loc_path, model, LOC, extra={"mean_boxes": localize.mean_boxes(hands).tolist()})
    scorer = scoring.Scorer([seeded(0, lambda: scoring.build_scorer(SCO))], SCO)
    scoring.save_scorer(folder / scoring.default_checkpoint(profile_name, seed).name, scorer)
    return folder


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return make_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def pipe(models_dir):
    return RheumaVIT.from_folder(models_dir, profile="quick")


@pytest.fixture(scope="module")
def films():
    return [phantom.render(s, size=SIZE) for s in (11, 12, 13)]


def test_one_radiograph_gives_42_tidy_rows(pipe, films):
    film = films[0]
    res = pipe.score(film.image)
    t = res.table
    assert list(t.columns) == list(RESULT_COLUMNS) and len(t) == 42
    assert list(zip(t["hand"], t["joint"])) == [(h, j) for h in HANDS for j in JOINTS]
    h, w = film.image.shape
    assert (t["x_min"] >= 0).all() and (t["x_max"] <= w).all() and (t["y_min"] >= 0).all() and (t["y_max"] <= h).all()
    assert (t["x_max"] > t["x_min"]).all() and (t["y_max"] > t["y_min"]).all()
    for kind, sites in (("erosion", EROSION_SITES), ("jsn", JSN_SITES)):
        has = t["joint"].isin(sites)
        assert t.loc[has, kind].notna().all() and t.loc[~has, kind].isna().all()  # missing, never 0
        assert t.loc[has, kind].between(0, MAX_SCORE[kind]).all()
        p = t.loc[:, [c for c in t.columns if c.startswith(f"p_{kind}_")]]
        assert p.shape[1] == MAX_SCORE[kind] + 1
        np.testing.assert_allclose(p[has].sum(axis=1), 1.0, atol=1e-5)
        assert p[~has].isna().all().all()
        np.testing.assert_array_equal(t.loc[has, kind].astype(int), p[has].to_numpy().argmax(axis=1))
    totals = res.totals
    assert totals["erosion_total"] == int(t["erosion"].dropna().astype(int).sum())
    assert totals["jsn_total"] == int(t["jsn"].dropna().astype(int).sum())
    assert totals["total_sharp"] == totals["erosion_total"] + totals["jsn_total"]
    assert set(pipe.timings) == {"read", "seam", "localise", "crop", "score"} and all(v > 0 for v in pipe.timings.values())


def test_boxes_and_probabilities_match_the_chapters_path(pipe, films):
    """Boxes = chapter 4's radiograph boxes of the same hands (split, frame, predict, map back); probabilities =
    crop_joints + Scorer.predict_proba on those boxes."""
    film = films[1]
    res = pipe.score(film.image)
    prepared = localize.hands_of_radiograph(film.image, film.boxes, LOC.input_size, framing=LOC.framing)
    meta = pd.DataFrame([{"patient_id": "P", **m} for _, _, _, m in prepared])
    hs = localize.HandSet(torch.from_numpy(np.stack([im for _, im, _, _ in prepared])[:, None]),
                          torch.from_numpy(np.stack([b for _, _, b, _ in prepared])), meta)
    ref = hs.radiograph_boxes(localize.predict_boxes(pipe.localizer, hs))
    ref[["x_min", "x_max"]] = ref[["x_min", "x_max"]].clip(0, film.image.shape[1])
    ref[["y_min", "y_max"]] = ref[["y_min", "y_max"]].clip(0, film.image.shape[0])
    np.testing.assert_allclose(res.table[list(BOX_COLUMNS)].to_numpy(), ref[list(BOX_COLUMNS)].to_numpy(), atol=1e-3)
    crops = scoring.crop_joints(film.image, res.table, factor=SCO.eval_factor, size=SCO.crop_size)
    proba = pipe.scorer.predict_proba(crops)
    has = res.table["joint"].isin(EROSION_SITES).to_numpy()
    np.testing.assert_allclose(res.table.loc[has, [f"p_erosion_{g}" for g in range(6)]].to_numpy(),
                               proba["erosion"][has], atol=1e-5)


def test_single_hand_film_matches_the_real_image_check(pipe, films):
    """hands="left": the film as a left hand of a bilateral film (thumb on the image's left), used as it is;
    "right": mirrored. evaluate.predict_hand_boxes calls these hand="right" and hand="left" (thumb side)."""
    from rheumabook.evaluate import predict_hand_boxes
    from rheumabook.seam import split_hands

    split = split_hands(films[2].image, mirror_right=True)
    left = np.ascontiguousarray(split.hand("left"))
    right = np.ascontiguousarray(split.image_left)  # the patient's right hand as shown on the film
    for film, hands, thumb_side in ((left, "left", "right"), (right, "right", "left")):
        film = np.pad(film, ((0, 0), (20, 20)), constant_values=int(split.fill))
        res = pipe.score(film, hands=hands)
        assert len(res.table) == 21 and set(res.table["hand"]) == {hands}
        ref, _ = predict_hand_boxes(pipe.localizer, pipe.localizer_config, film, hand=thumb_side)
        ref = np.clip(ref, 0, [film.shape[1], film.shape[0]] * 2)
        np.testing.assert_allclose(res.table[list(BOX_COLUMNS)].to_numpy(), ref, atol=1e-3)
    with pytest.raises(InputError, match="only one hand.*--hands left or --hands right"):
        pipe.score(left)
    with pytest.raises(InputError, match="two hands found.*--hands both"):
        pipe.score(films[2].image, hands="left")


def test_score_many_batches_like_one_at_a_time_and_is_deterministic(pipe, films, models_dir):
    images = [f.image for f in films]
    one = [pipe.score(im).table for im in images]
    many = pipe.score_many(images, batch_size=2)
    for a, b in zip(one, many):
        pd.testing.assert_frame_equal(a, b.table, atol=1e-5)
    again = RheumaVIT.from_folder(models_dir, profile="quick").score_many(images, batch_size=3)
    for a, b in zip(many, again):
        pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)


def test_a_bad_input_in_a_batch_is_reported_and_the_rest_scored(pipe, films, tmp_path):
    blank = np.full((240, 320), 9, np.uint8)
    out = pipe.score_many([films[0].image, blank, str(tmp_path / "nope.png")], errors="report")
    assert [type(r).__name__ for r in out] == ["PipelineResult", "Failure", "Failure"]
    assert "array[1]" in out[1].message and "constant" in out[1].message
    assert "nope.png" in out[2].message and "missing" in out[2].message
    with pytest.raises(InputError, match="array\\[1\\]"):
        pipe.score_many([films[0].image, blank])


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_results_round_trip(pipe, films, tmp_path, fmt):
    results = pipe.score_many([f.image for f in films[:2]], names=["a.png", "b.png"])
    path = write_results(tmp_path / f"out.{fmt}", results, format=fmt, failures=[Failure("c.png", "bad")])
    back = read_results(path)
    expected = results_table(results)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False, atol=1e-5)
    assert back["erosion"].dtype == "Int64" and back["erosion"].isna().sum() == 2 * 2 * (21 - len(EROSION_SITES))
    if fmt == "json":
        doc = json.loads(path.read_text())
        assert [im["totals"] for im in doc["images"]] == [r.totals for r in results]
        assert doc["failed"] == [{"image": "c.png", "error": "bad"}]
    assert totals_table(results)["total_sharp"].tolist() == [r.totals["total_sharp"] for r in results]
    assert [p.name for p in tmp_path.iterdir()] == [f"out.{fmt}"]  # no temporary file left


def test_bad_inputs_are_refused_with_the_fix(pipe, films, tmp_path):
    image = films[0].image
    (tmp_path / "notes.png").write_text("not an image")
    cases = [
        (str(tmp_path / "missing.png"), "missing.png: image file is missing"),
        (str(tmp_path / "notes.png"), "notes.png: cannot decode.*Fix"),
        (np.full((240, 320), 200, np.uint8), "constant"),
        (np.random.default_rng(0).integers(100, 104, (240, 320)).astype(np.uint8), "blank.*Fix"),
        (np.ascontiguousarray(image[::-1]), "upside down.*rotate"),
        (np.ascontiguousarray(np.rot90(image, 2)), "upside down"),
        (image[:100, :150].copy(), "too small.*at least 128"),
        (image.astype(np.float32), "dtype float32"),
    ]
    for source, message in cases:
        with pytest.raises(InputError, match=message):
            pipe.score(source)
    pipe.score(np.ascontiguousarray(image[::-1]), check_orientation=False)  # the check can be switched off


def _edit_json(stem, edit):
    path = stem.with_name(stem.name + ".json")
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("problem, edit, message", [
    ("joints", lambda d: d.update(joints=d["joints"][:20]), "joints is .* but this code expects"),
    ("format", lambda d: d.update(format="rheumabook.other/1"), "not a 'rheumabook.localize/1' checkpoint"),
    ("backbone", lambda d: d["config"].update(backbone="resnet18"), "do not fit the model"),
    ("unknown backbone", lambda d: d["config"].update(backbone="no_such_net"), "does not fit this code"),
])
def test_mismatched_checkpoints_are_refused(tmp_path, problem, edit, message):
    folder = make_models(tmp_path)
    _edit_json(folder / localize.default_checkpoint("quick", 0).name, edit)
    with pytest.raises(ModelError, match=message):
        RheumaVIT.from_folder(folder, profile="quick")


def test_missing_checkpoints_are_refused(tmp_path):
    with pytest.raises(ModelError, match="no such folder.*Fix"):
        RheumaVIT.from_folder(tmp_path / "absent", profile="quick")
    (tmp_path / "m").mkdir()
    folder = make_models(tmp_path / "m")
    for p in folder.glob("scorer-*.safetensors"):
        p.unlink()
    with pytest.raises(ModelError, match="scorer checkpoint .*missing"):
        RheumaVIT.from_folder(folder, profile="quick")
    for p in folder.glob("scorer-*"):
        p.unlink()
    with pytest.raises(ModelError, match="no scorer checkpoint"):
        RheumaVIT.from_folder(folder, profile="quick")


def test_a_lone_pair_under_other_names_is_found(tmp_path, films):
    folder = make_models(tmp_path, profile_name="mine", seed=3)
    res = RheumaVIT.from_folder(folder, profile="quick").score(films[0].image)
    assert len(res.table) == 42


def test_inference_copy_folds_batch_norm_exactly_and_leaves_the_model_alone():
    """TinyViT's conv + batch norm pairs folded into one convolution: same outputs (float rounding), the
    trained model untouched; channels-last and bf16 autocast close to it."""
    from rheumabook.pipeline import fused_copy, inference_copy, predict_crops

    config = SMALL_TINY_VIT
    model = seeded(1, lambda: scoring.build_scorer(config))
    with torch.no_grad():  # non-trivial running statistics, as after training
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    model.eval()
    fused = fused_copy(model)
    n_bn = lambda m: sum(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())  # noqa: E731
    assert n_bn(model) > 5 and n_bn(fused) < n_bn(model)
    x = torch.randn(6, 1, 32, 32)
    with torch.no_grad():
        ref = model(x)
        torch.testing.assert_close(fused(x), ref, atol=1e-5, rtol=1e-4)
    crops = np.random.default_rng(0).integers(0, 256, (6, 32, 32)).astype(np.uint8)
    expected = scoring.Scorer([model], config).predict_proba(crops)
    for precision, atol in (("float32", 1e-5), ("bfloat16", 0.05)):
        got = predict_crops([inference_copy(model)], crops, precision=precision)
        for kind in expected:
            np.testing.assert_allclose(got[kind], expected[kind], atol=atol)
    assert n_bn(model) > 5 and model(x).shape == ref.shape  # the original still has its batch norms


def _small_tiny_vit():
    """A seeded `SMALL_TINY_VIT` in eval mode, its attention biases random, fused attention on."""
    model = seeded(2, lambda: scoring.build_scorer(SMALL_TINY_VIT)).eval()
    with torch.no_grad():  # biases that differ per head and offset, as after training (timm starts them at 0)
        for m in model.modules():
            if hasattr(m, "attention_biases"):
                m.attention_biases.normal_()
                m.fused_attn = True
    return model


def test_frozen_attention_biases_reach_the_fused_kernel_as_4d_masks(monkeypatch):
    """PyTorch's fused CPU attention takes only 4-D masks; the inference copy hands it the same biases as
    (1, heads, N, N), and its outputs equal the trained model's (the model's own 3-D masks untouched)."""
    from rheumabook.pipeline import freeze_attention_biases, inference_copy

    model = _small_tiny_vit()
    fast = inference_copy(model, channels_last=False)
    sdpa, mask_dims = torch.nn.functional.scaled_dot_product_attention, []

    def recording(q, k, v, attn_mask=None, **kw):
        mask_dims.append(None if attn_mask is None else attn_mask.dim())
        return sdpa(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", recording)
    x = torch.randn(5, 1, 32, 32)
    with torch.no_grad():
        ref = model(x)
        assert mask_dims and set(mask_dims) == {3}  # timm's own bias: (heads, N, N)
        mask_dims.clear()
        torch.testing.assert_close(fast(x), ref, atol=1e-5, rtol=1e-4)
    n_attention = sum(hasattr(m, "attention_biases") for m in model.modules())
    assert mask_dims == [4] * n_attention
    assert freeze_attention_biases(torch.nn.Linear(2, 2)) == 0  # nothing to freeze in other modules


def test_crops_go_through_in_cache_sized_chunks_with_the_same_probabilities():
    """The chunk size changes the speed, not the result: None (the default), 1, 5 and all at once agree."""
    from rheumabook.pipeline import default_crop_batch, inference_copy, predict_crops

    assert [default_crop_batch(s) for s in (224, 128, 64)] == [8, 24, 98]  # 8 * 224**2 / s**2, rounded
    assert default_crop_batch(4096) == 1 and default_crop_batch(224, "cuda") == 256
    model = _small_tiny_vit()
    fast = inference_copy(model)
    crops = np.random.default_rng(3).integers(0, 256, (11, 32, 32)).astype(np.uint8)
    ref = predict_crops([fast], crops, batch_size=len(crops))
    for batch_size in (None, 1, 5):
        got = predict_crops([fast], crops, batch_size=batch_size)
        for kind in ref:
            np.testing.assert_allclose(got[kind], ref[kind], atol=1e-5)
    with pytest.raises(ValueError, match="batch_size"):
        predict_crops([fast], crops, batch_size=0)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_memory_order_gelu_equals_gelu_to_rounding(approximate):
    """GELU over a channels-last tensor's NHWC view: nn.GELU's values within an ulp (vectorised vs scalar
    erf), in the input's layout, for any input; in the inference copy in place of every GELU."""
    from rheumabook.pipeline import MemoryOrderGELU, inference_copy

    ref, fast = torch.nn.GELU(approximate=approximate), MemoryOrderGELU(approximate=approximate)
    x = torch.randn(3, 5, 7, 4)
    for t in (x, x.contiguous(memory_format=torch.channels_last), x.bfloat16().contiguous(
            memory_format=torch.channels_last), x[:, :, 1:], x.reshape(3, 35, 4)):
        got = fast(t)
        assert got.dtype == t.dtype and got.stride() == ref(t).stride()
        tol = dict(atol=2e-6, rtol=0) if t.dtype == torch.float32 else dict(atol=0, rtol=2 ** -7)  # an ulp
        torch.testing.assert_close(got, ref(t), **tol)
    model = _small_tiny_vit()
    kinds = lambda m: {type(x).__name__ for x in m.modules()}  # noqa: E731
    assert "GELU" in kinds(model)
    assert "GELU" not in kinds(inference_copy(model)) and "MemoryOrderGELU" in kinds(inference_copy(model))
    assert "GELU" in kinds(inference_copy(model, channels_last=False))  # NCHW: nothing to gain


def test_bit_depth_changes_no_box_and_no_grade(pipe, films, tmp_path):
    """Issue 21: a film, its 16-bit copy (x 257, as a DICOM reads back), its 12-bit copy (x 16) and a
    MONOCHROME1 DICOM of it get the same boxes and probabilities, bit for bit (`data.working_image`)."""
    from dicom_files import write_dicom

    from rheumabook.data import read_image, working_image

    film = films[0].image
    dim = (film.astype(np.int64) * 200 // 255).astype(np.uint8)  # a film whose maximum is below 255
    for image in (film, dim):
        eight = pipe.score(image).table
        for copy in (image.astype(np.uint16) * 257, image.astype(np.uint16) * 16):
            pd.testing.assert_frame_equal(pipe.score(copy).table, eight, check_exact=True)
    full = ((film.astype(np.int64) - film.min()) * 255 // (film.max() - film.min())).astype(np.uint8)  # 0..255
    path = write_dicom(tmp_path / "mono1.dcm", 4095 - full.astype(np.uint16) * 16,  # 12-bit, bone dark
                       PhotometricInterpretation="MONOCHROME1", BitsStored=12)
    np.testing.assert_array_equal(working_image(read_image(path)), full)
    pd.testing.assert_frame_equal(pipe.score(path).table, pipe.score(full).table, check_exact=True)


def test_calibrated_grades_are_the_prior_adjusted_probabilities(models_dir, films):
    """grades="calibrated": the scorer's probabilities re-weighted by its training priors (`Scorer.calibrated`)."""
    balanced = RheumaVIT.from_folder(models_dir, profile="quick")
    with pytest.raises(ValueError, match="training priors"):
        RheumaVIT.from_folder(models_dir, profile="quick", grades="calibrated")  # saved without priors
    priors = {"erosion": {"natural": [0.5, 0.2, 0.1, 0.1, 0.05, 0.05], "sampled": [1 / 6] * 6},
              "jsn": {"natural": [0.6, 0.1, 0.1, 0.1, 0.1], "sampled": [0.2] * 5}}
    scorer = scoring.Scorer(balanced.scorer.models, balanced.scorer.config, priors=priors)
    plain = RheumaVIT(balanced.localizer, balanced.localizer_config, scorer).score(films[0].image).table
    calibrated = RheumaVIT(balanced.localizer, balanced.localizer_config, scorer, grades="calibrated")
    table = calibrated.score(films[0].image).table
    for kind in ("erosion", "jsn"):
        cols = [c for c in table.columns if c.startswith(f"p_{kind}_")]
        has = table[kind].notna().to_numpy()
        expected = scoring.prior_adjusted(plain.loc[has, cols].to_numpy(), np.array(priors[kind]["natural"]),
                                          np.array(priors[kind]["sampled"]))
        np.testing.assert_allclose(table.loc[has, cols].to_numpy(), expected, atol=1e-5)
        np.testing.assert_array_equal(table.loc[has, kind].astype(int), expected.argmax(axis=1))


def test_expected_totals_sum_each_sites_mean_grade(pipe, films):
    result = pipe.score(films[0].image)
    by_hand = 0.0
    for kind in ("erosion", "jsn"):
        for _, row in result.table[result.table[kind].notna()].iterrows():
            by_hand += sum(g * row[f"p_{kind}_{g}"] for g in range(MAX_SCORE[kind] + 1))
    assert result.expected_totals["total_expected"] == pytest.approx(by_hand, rel=1e-9)
    table = totals_table([result], expected=True)
    assert table["total_expected"].iloc[0] == pytest.approx(by_hand) and table["total_sharp"].iloc[0] == result.totals["total_sharp"]


def test_calibration_is_fitted_on_the_pipelines_own_boxes(models_dir, films):
    """fit_calibration: the balanced probabilities of the pipeline's own crops, every strength tried against the truth."""
    from rheumabook.scoring.calibration import TAU_GRID

    base = RheumaVIT.from_folder(models_dir, profile="quick")
    priors = {"erosion": {"natural": [0.5, 0.2, 0.1, 0.1, 0.05, 0.05], "sampled": [1 / 6] * 6},
              "jsn": {"natural": [0.6, 0.1, 0.1, 0.1, 0.1], "sampled": [0.2] * 5}}
    scorer = scoring.Scorer(base.scorer.models, base.scorer.config, priors={k: dict(v) for k, v in priors.items()})
    calibrated = RheumaVIT(base.localizer, base.localizer_config, scorer, grades="calibrated")
    plain = [RheumaVIT(base.localizer, base.localizer_config, scorer).score(f.image).table for f in films]
    fitted = calibrated.fit_calibration([f.image for f in films], [f.truth for f in films])
    assert calibrated.grades == "calibrated"  # the fit scored balanced grades and left the pipeline as it was
    for kind in ("erosion", "jsn"):
        cols = [f"p_{kind}_{g}" for g in range(MAX_SCORE[kind] + 1)]
        rows = pd.concat([t.merge(f.truth, on=["hand", "joint"], suffixes=("", "_true")) for t, f in zip(plain, films)])
        rows = rows[rows[kind].notna() & rows[f"{kind}_true"].notna()]
        p, y = rows[cols].to_numpy(np.float64), rows[f"{kind}_true"].astype(int).to_numpy()
        nat, samp = np.array(priors[kind]["natural"]), np.array(priors[kind]["sampled"])
        bias = [float(np.mean(scoring.prior_adjusted(p, nat, samp, tau=t).argmax(axis=1) - y)) for t in TAU_GRID]
        best = max((t for t, b in zip(TAU_GRID, bias) if np.isclose(abs(b), min(map(abs, bias)))))
        assert scorer.tau(kind) == best
        np.testing.assert_allclose(fitted.loc[fitted["kind"] == kind, "bias_per_joint"], bias, atol=1e-12)
        # the calibrated pipeline scores with the fitted strength from now on
        table = calibrated.score(films[0].image).table
        has = table[kind].notna().to_numpy()
        np.testing.assert_allclose(table.loc[has, cols].to_numpy(),
                                   scoring.prior_adjusted(plain[0].loc[has, cols].to_numpy(), nat, samp, tau=best),
                                   atol=1e-5)
    with pytest.raises(ValueError, match="one reference table per image"):
        calibrated.fit_calibration([films[0].image], [])
    with pytest.raises(ValueError, match=r"lacks the columns \['jsn'\]"):
        calibrated.fit_calibration([films[0].image], [films[0].truth.drop(columns="jsn")])
