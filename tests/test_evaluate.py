"""Tests of rheumabook.evaluate (the real-image check) and of the image readers it needs, on a small synthetic
"real" set: phantom hands written as single-hand films (PNG, MetaImage raw and zlib, DICOM MONOCHROME1), with a
points CSV made from the phantom's known joint centres. No real image is needed anywhere."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rheumabook import data
from rheumabook import evaluate as E
from rheumabook import localize as L
from rheumabook.data.images import to_uint16
from rheumabook.joints import JOINTS
from rheumabook.schema import BOX_COLUMNS

from dicom_files import write_dicom

TINY = "test_efficientnet"


def write_dicom_image(path: Path, image: np.ndarray, *, monochrome1: bool, slope: float = 1.0,
                      intercept: float = 0.0) -> Path:
    """A 16-bit DICOM file of `image` (stored values = (image - intercept) / slope, inverted for MONOCHROME1)."""
    stored = (np.asarray(image, np.float64) - intercept) / slope
    if monochrome1:
        stored = 4095 - stored
    return write_dicom(path, np.rint(stored), PhotometricInterpretation="MONOCHROME1" if monochrome1 else "MONOCHROME2",
                       RescaleSlope=slope, RescaleIntercept=intercept)


def test_image_readers_metaimage_and_dicom_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    img8 = rng.integers(0, 256, (30, 20), dtype=np.uint8)
    img16 = rng.integers(0, 4096, (30, 20), dtype=np.uint16)
    for img in (img8, img16):
        for compress in (False, True):
            p = data.write_metaimage(tmp_path / f"a{img.dtype}{compress}.mha", img, compress=compress)
            got = data.read_image(p)
            assert got.dtype == img.dtype and np.array_equal(got, img)
    # a 3-D MetaImage with one slice (as the Digital Hand Atlas files are) reads as 2-D
    raw = (tmp_path / "a" "uint8False.mha").read_bytes().replace(b"NDims = 2", b"NDims = 3").replace(
        b"DimSize = 20 30", b"DimSize = 20 30 1")
    (tmp_path / "slice.mha").write_bytes(raw)
    assert np.array_equal(data.read_image(tmp_path / "slice.mha"), img8)
    # DICOM: MONOCHROME1 is inverted back (bone bright), the rescale applied; stretched to uint16 the same way
    ramp = np.tile(np.arange(0, 4000, 200, dtype=np.float64), (30, 1))
    mono2 = data.read_image(write_dicom_image(tmp_path / "m2.dcm", ramp, monochrome1=False))
    mono1 = data.read_image(write_dicom_image(tmp_path / "m1.dcm", ramp * 2 - 100, monochrome1=True, slope=2, intercept=-100))
    assert mono2.dtype == np.uint16 and np.array_equal(mono2, ramp.astype(np.uint16))
    assert mono1.dtype == np.uint16 and (np.diff(mono1[0].astype(int)) > 0).all()  # bright where ramp is high
    np.testing.assert_array_equal(mono1, to_uint16(ramp))
    (tmp_path / "bad.mha").write_bytes(b"NDims = 2\nDimSize = 20 30\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n12")
    with pytest.raises(data.DatasetError, match="truncated"):
        data.read_image(tmp_path / "bad.mha")
    (tmp_path / "bad.dcm").write_bytes(b"not a dicom file")
    with pytest.raises(data.DatasetError, match="DICOM"):
        data.read_image(tmp_path / "bad.dcm")


def joint_centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2


@pytest.fixture(scope="module")
def real_like(tmp_path_factory):
    """Four patients' RIGHT hands (the image's left half: thumb on the half's right, as the Digital Hand Atlas
    shows a left hand) written as PNG, .mha, zlib .mha and MONOCHROME1 DICOM; their points; and a checkpoint:
    a tiny untrained localiser at the phantom's mean layout (its baseline recorded)."""
    from rheumabook import phantom

    root = tmp_path_factory.mktemp("realish")
    (root / "images").mkdir()
    rows, layouts = [], []
    writers = [lambda p, im: data.write_png(p.with_suffix(".png"), im),
               lambda p, im: data.write_metaimage(p.with_suffix(".mha"), im),
               lambda p, im: data.write_metaimage(p.with_suffix(".mha"), im, compress=True),
               lambda p, im: write_dicom_image(p.with_suffix(".dcm"), im.astype(np.float64) * 16, monochrome1=True)]
    for i, write in enumerate(writers):
        rad = phantom.render(100 + i, size=500)
        half = np.ascontiguousarray(rad.image[:, : rad.image.shape[1] // 2])  # the patient's right hand
        write(root / "images" / f"h{i}", half)
        b = rad.boxes[rad.boxes["hand"] == "right"].set_index("joint").loc[list(JOINTS), list(BOX_COLUMNS)].to_numpy()
        c = joint_centres(b)
        rows += [{"image": f"h{i}", "joint": j, "x": c[k, 0], "y": c[k, 1]} for k, j in enumerate(JOINTS)]
        layouts.extend(h[2] for h in L.hands_of_radiograph(rad.image, rad.boxes, (64, 48)))
    pd.DataFrame(rows).to_csv(root / "points.csv", index=False)
    cfg = L.LocalizerConfig(backbone=TINY, input_size=(64, 48), hidden=32)
    torch.manual_seed(0)
    model = L.build_model(cfg)
    mean = np.mean(layouts, axis=0)
    model.set_prior(mean, weight_scale=0.0)  # predicts the mean layout exactly: the model equals the baseline
    L.save_localizer(root / "models" / "tiny", model, cfg, extra={"mean_boxes": mean.tolist()})
    return root


def run_cli(*args: str) -> int:
    return E.main([str(a) for a in args])


def test_cli_end_to_end_hit_rates_and_baseline(real_like, tmp_path, capsys):
    out = tmp_path / "points-out.csv"
    status = run_cli("landmarks", "--images", real_like / "images", "--points", real_like / "points.csv",
                     "--checkpoint", real_like / "models" / "tiny", "--hand", "left", "--out", out, "--device", "cpu")
    text = capsys.readouterr().out
    assert status == 0 and "hit rate" in text and "baseline" in text
    table = pd.read_csv(out)
    assert len(table) == 4 * len(JOINTS) and set(table["image"].astype(str)) == {"h0", "h1", "h2", "h3"}
    # the model predicts exactly the mean layout here, so its hits are the baseline's
    assert (table["pred_hit"] == table["base_hit"]).all()
    framed_rate = table["base_hit"].mean()
    assert framed_rate > 0.5  # framed and in the right orientation, the average phantom layout lands near most joints
    # the hand side matters: told the thumb is on the left, the layout is mirrored onto the wrong fingers
    run_cli("landmarks", "--images", real_like / "images", "--points", real_like / "points.csv",
            "--checkpoint", real_like / "models" / "tiny", "--hand", "right", "--out", out, "--device", "cpu")
    assert pd.read_csv(out)["base_hit"].mean() < framed_rate - 0.2


def test_hit_rule_is_035_of_mcp3_pip3():
    pts = pd.DataFrame({"image": "a", "joint": ["MCP3", "PIP3", "IP"], "x": [0.0, 0.0, 50.0], "y": [100.0, 0.0, 50.0]})
    boxes = np.zeros((len(JOINTS), 4))
    for k, (dx, dy) in zip(("MCP3", "PIP3", "IP"), ((0, 100), (0, 34.9), (50 + 35.1, 50))):
        boxes[JOINTS.index(k)] = [dx - 2, dy - 2, dx + 2, dy + 2]
    s = E.score_points(pts, boxes)
    assert s["radius"].iloc[0] == pytest.approx(35.0)
    assert s["hit"].tolist() == [True, True, False]


def test_cli_bad_input_errors(real_like, tmp_path, capsys):
    base = ["landmarks", "--images", real_like / "images", "--checkpoint", real_like / "models" / "tiny"]
    pts = pd.read_csv(real_like / "points.csv")
    cases = {
        "missing column": (pts.drop(columns="y"), "missing column"),
        "not a number": (pts.assign(x=pts["x"].astype(object).where(pts.index != 3, "abc")), "line 5"),
        "unknown joint": (pts.assign(joint=pts["joint"].where(pts.index != 0, "MCP9")), "unknown joint 'MCP9'"),
        "no scale": (pts[pts["joint"] != "PIP3"], "lacks MCP3 or PIP3"),
        "no image": (pts.assign(image=pts["image"].where(pts["image"] != "h0", "nope")), "no image 'nope'"),
    }
    for name, (frame, message) in cases.items():
        p = tmp_path / f"{name}.csv"
        frame.to_csv(p, index=False)
        assert run_cli(*base, "--points", p) == 2, name
        assert message in capsys.readouterr().err, name
    assert run_cli(*base, "--points", tmp_path / "absent.csv") == 2
    assert "missing" in capsys.readouterr().err
    assert run_cli("landmarks", "--images", real_like / "images", "--points", real_like / "points.csv",
                   "--checkpoint", tmp_path / "nothing") == 2
    assert "no localiser checkpoint" in capsys.readouterr().err


def test_payer_points_maps_the_37_landmarks(tmp_path):
    row = [7] + [v for i in range(37) for v in (1000 + i, 2000 + i)]
    pd.DataFrame([row]).to_csv(tmp_path / "all.csv", header=False, index=False)
    assert run_cli("payer-points", tmp_path / "all.csv", tmp_path / "pts.csv") == 0
    pts = E.read_points(tmp_path / "pts.csv").set_index("joint")
    assert len(pts) == len(E.PAYER_LANDMARKS) == 18
    assert pts.loc["MCP1", "x"] == 1018 and pts.loc["PIP3", "y"] == 2026 and pts.loc["CMC5", "x"] == 1013


def test_per_image_and_per_joint_summaries_match_a_hand_count():
    # two images, MCP3-PIP3 = 100 px on both (radius 35): errors 0, 10, 50 px and 20, 40, 60 px
    pts = pd.DataFrame({"image": ["b", "b", "b", "a", "a", "a"], "joint": ["MCP3", "PIP3", "IP"] * 2,
                        "radius": 35.0, "pred_distance": [0.0, 10.0, 50.0, 20.0, 40.0, 60.0],
                        "base_distance": [30.0, 30.0, 30.0, 90.0, 90.0, 90.0]})
    pts["pred_hit"], pts["base_hit"] = pts["pred_distance"] <= 35, pts["base_distance"] <= 35
    report = E.LandmarkReport(pts, "left")
    images = report.per_image()
    assert list(images.index) == ["a", "b", "overall"]
    assert images.loc["b", "hit_rate"] == pytest.approx(2 / 3) and images.loc["a", "hit_rate"] == pytest.approx(1 / 3)
    assert images.loc["b", "median_error_mcp3_pip3"] == pytest.approx(0.10)
    assert images.loc["a", "baseline_median_error_mcp3_pip3"] == pytest.approx(0.90)
    assert images.loc["overall", "median_error_mcp3_pip3"] == pytest.approx(0.30)  # median of 0..60: (20 + 40) / 2 px
    assert images.loc["overall", "baseline_hit_rate"] == pytest.approx(0.5)
    joints = report.per_joint()
    assert list(joints.index) == [j for j in JOINTS if j in ("IP", "MCP3", "PIP3")] + ["overall"]  # book order
    assert joints.loc["IP", "hit_rate"] == 0 and joints.loc["PIP3", "median_error_mcp3_pip3"] == pytest.approx(0.25)


def test_overlays_draw_every_hand_with_its_boxes(real_like, tmp_path, capsys):
    from PIL import Image

    out, overlays = tmp_path / "pts.csv", tmp_path / "overlays"
    status = run_cli("landmarks", "--images", real_like / "images", "--points", real_like / "points.csv",
                     "--checkpoint", real_like / "models" / "tiny", "--out", out, "--overlays", overlays,
                     "--device", "cpu")
    text = capsys.readouterr().out
    assert status == 0 and "per image:" in text and "MCP3-PIP3 distances" in text
    assert sorted(p.name for p in overlays.iterdir()) == ["h0.png", "h1.png", "h2.png", "h3.png"]
    with Image.open(overlays / "h0.png") as png:
        pixels = np.asarray(png.convert("RGB"))
    # the boxes are drawn in green (hit) or red (missed): both colours occur on a grey radiograph
    green = (pixels[..., 1] > 200) & (pixels[..., 0] < 100) & (pixels[..., 2] < 100)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 100) & (pixels[..., 2] < 100)
    table = pd.read_csv(out)
    h0 = table[table["image"].astype(str) == "h0"]
    assert green.any() == h0["pred_hit"].any() and red.any() == (~h0["pred_hit"]).any()
    per_image = pd.read_csv(tmp_path / "pts-images.csv", index_col=0)
    assert list(per_image.index) == ["h0", "h1", "h2", "h3", "overall"]
    assert per_image.loc["overall", "hit_rate"] == pytest.approx(table["pred_hit"].mean())
