"""Tests of rheumabook.data: the book's layout, the phantom writer, the public-release adapter, chapter data."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from rheumabook import cache, data
from rheumabook.data import DatasetError, MissingDatasetFileError, release, tables
from rheumabook.schema import BOX_COLUMNS, BOXES_COLUMNS, SCORES_COLUMNS, TRUTH_COLUMNS
from rheumabook.joints import EROSION_SITES, HANDS, JOINTS, JSN_SITES, SITE_BY_NAME, applies
from rheumabook.profiles import QUICK, DataConfig

SIZE = 480  # small radiographs keep the phantom tests fast


# ---------------------------------------------------------------------------- a tiny hand-made data set


def _tiny_tables(patients=("P0000", "P0001"), width=120, height=60):
    """Hand-made tables of the book's layout: every site scored by two experts, truth = their score."""
    boxes, truth, scores = [], [], []
    for p in patients:
        for h_i, hand in enumerate(HANDS):
            for j_i, joint in enumerate(JOINTS):
                x = 2 + h_i * (width // 2) + (j_i % 7) * 7
                y = 2 + (j_i // 7) * 18
                boxes.append((p, hand, joint, float(x), float(y), x + 5.5, y + 10.25))
                ero = (j_i + h_i) % 6 if applies(joint, "erosion") else pd.NA
                jsn = (j_i + 2 * h_i) % 5 if applies(joint, "jsn") else pd.NA
                truth.append((p, hand, joint, ero, jsn))
                for kind, value in (("erosion", ero), ("jsn", jsn)):
                    for expert in ("1", "2"):
                        if value is not pd.NA:
                            scores.append((p, hand, joint, expert, kind, value))
    boxes = pd.DataFrame(boxes, columns=BOXES_COLUMNS)
    truth = pd.DataFrame(truth, columns=TRUTH_COLUMNS).astype({"erosion": "Int64", "jsn": "Int64"})
    scores = pd.DataFrame(scores, columns=SCORES_COLUMNS).astype({"score": "Int64"})
    return boxes, truth, scores


def _write_tiny(root: Path, width=120, height=60) -> Path:
    """A valid data set in the book's layout, written by hand (not by the code under test)."""
    boxes, truth, scores = _tiny_tables(width=width, height=height)
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(root / "images" / "P0000.png"), rng.integers(0, 65535, (height, width), dtype=np.uint16))
    cv2.imwrite(str(root / "images" / "P0001.png"), rng.integers(0, 255, (height, width), dtype=np.uint8))
    boxes.to_csv(root / "boxes.csv", index=False)
    scores.to_csv(root / "scores.csv", index=False)
    truth.to_csv(root / "truth.csv", index=False)
    (root / "dataset.json").write_text(json.dumps({"kind": "phantom", "layout_version": data.LAYOUT_VERSION}))
    return root


def _edit(path: Path, fn) -> None:
    """Rewrite a CSV after `fn(df)` changed its (string) cells in place or returned a new frame."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = fn(df)
    (df if out is None else out).to_csv(path, index=False)


@pytest.fixture
def tiny(tmp_path) -> Path:
    return _write_tiny(tmp_path / "tiny")


def test_load_tiny_matches_the_tables_written(tiny):
    ds = data.load_dataset(tiny, verify_images=True)
    boxes, truth, scores = _tiny_tables()
    pd.testing.assert_frame_equal(ds.boxes, boxes, check_dtype=False)
    pd.testing.assert_frame_equal(ds.truth, truth, check_dtype=False)
    pd.testing.assert_frame_equal(ds.scores.astype({"expert_id": str}), scores, check_dtype=False)
    assert ds.scores["score"].dtype == "Int64" and ds.truth["erosion"].dtype == "Int64"
    assert ds.patients == ["P0000", "P0001"]
    assert ds.image("P0000").dtype == np.uint16 and ds.image("P0001").dtype == np.uint8
    assert ds.image("P0000").shape == (60, 120)
    # truth is <NA> exactly where a score does not apply
    assert set(ds.truth.loc[ds.truth["erosion"].isna(), "joint"]) == set(JOINTS) - set(EROSION_SITES)
    assert set(ds.truth.loc[ds.truth["jsn"].isna(), "joint"]) == set(JOINTS) - set(JSN_SITES)
    sub = ds.subset(["P0001"])
    assert sub.patients == ["P0001"] and set(sub.scores["patient_id"]) == {"P0001"} and len(sub.boxes) == 42


# ---------------------------------------------------------------------------- validation errors


def _first_row(df, **where):
    mask = np.ones(len(df), dtype=bool)
    for col, value in where.items():
        mask &= (df[col] == value).to_numpy()
    return int(np.flatnonzero(mask)[0])


def test_missing_folder_and_files(tmp_path, tiny):
    with pytest.raises(MissingDatasetFileError, match="no such data set folder"):
        data.load_dataset(tmp_path / "nothing-here")
    for name in ("boxes.csv", "scores.csv"):
        root = _write_tiny(tmp_path / f"without-{name}")
        (root / name).unlink()
        with pytest.raises(MissingDatasetFileError, match=rf"{name}: missing"):
            data.load_dataset(root)
    root = _write_tiny(tmp_path / "without-images")
    for f in (root / "images").iterdir():
        f.unlink()
    (root / "images").rmdir()
    with pytest.raises(MissingDatasetFileError, match="missing images folder"):
        data.load_dataset(root)
    root = _write_tiny(tmp_path / "without-truth")
    (root / "truth.csv").unlink()
    with pytest.raises(MissingDatasetFileError, match="truth.csv: missing"):
        data.load_dataset(root)  # a phantom must carry its truth; a real data set need not
    (root / "dataset.json").write_text(json.dumps({"kind": "real"}))
    assert data.load_dataset(root).truth is None


@pytest.mark.parametrize("name,column", [("scores.csv", "kind"), ("boxes.csv", "y_max"), ("truth.csv", "jsn")])
def test_missing_column(tiny, name, column):
    _edit(tiny / name, lambda df: df.drop(columns=[column]))
    with pytest.raises(DatasetError, match=rf"{name}: missing column\(s\) {column}"):
        data.load_dataset(tiny)


def test_empty_table_and_empty_file(tiny):
    _edit(tiny / "scores.csv", lambda df: df.iloc[:0])
    with pytest.raises(DatasetError, match="scores.csv: the table has a header but no rows"):
        data.load_dataset(tiny)
    (tiny / "boxes.csv").write_text("")
    with pytest.raises(DatasetError, match="boxes.csv: the file is empty"):
        data.load_dataset(tiny)


def test_missing_image_names_the_patient_and_line(tiny):
    (tiny / "images" / "P0001.png").unlink()
    boxes = pd.read_csv(tiny / "boxes.csv", dtype=str)
    line = _first_row(boxes, patient_id="P0001") + 2  # header is line 1
    with pytest.raises(MissingDatasetFileError, match=rf"boxes.csv line {line} .*no image for patient 'P0001'"):
        data.load_dataset(tiny)


def test_corrupt_and_truncated_images(tiny):
    good = (tiny / "images" / "P0001.png").read_bytes()
    (tiny / "images" / "P0001.png").write_bytes(b"this is not a png at all")
    with pytest.raises(DatasetError, match=r"P0001.png: unreadable image"):
        data.load_dataset(tiny)
    # A truncated PNG has a readable header: found by verify_images, or when the image is read.
    (tiny / "images" / "P0001.png").write_bytes(good[: len(good) // 2])
    ds = data.load_dataset(tiny)
    with pytest.raises(DatasetError, match=r"P0001.png: cannot decode the image"):
        ds.image("P0001")
    with pytest.raises(DatasetError, match=r"P0001.png: cannot decode the image"):
        data.load_dataset(tiny, verify_images=True)


@pytest.mark.parametrize(
    "name,where,column,value,message",
    [
        ("scores.csv", {"joint": "MCP3", "kind": "jsn"}, "joint", "MCP9", "unknown joint 'MCP9'"),
        ("boxes.csv", {"joint": "PIP2", "hand": "right"}, "hand", "middle", "unknown hand 'middle'"),
        ("truth.csv", {"joint": "IP", "hand": "right"}, "joint", "knee", "unknown joint 'knee'"),
        ("scores.csv", {"joint": "DIP4", "kind": "erosion"}, "kind", "swelling", "unknown kind 'swelling'"),
        ("scores.csv", {"joint": "MCP2", "kind": "erosion"}, "score", "6", r"erosion score 6 out of range; .* 0-5"),
        ("scores.csv", {"joint": "MCP2", "kind": "jsn"}, "score", "5", r"jsn score 5 out of range; .* 0-4"),
        ("scores.csv", {"joint": "PIP3", "kind": "jsn"}, "score", "-1", "jsn score -1 out of range"),
        ("scores.csv", {"joint": "PIP3", "kind": "jsn"}, "score", "2.5", "'2.5' is not a whole number"),
        ("scores.csv", {"joint": "PIP3", "kind": "jsn"}, "score", "", "empty score"),
        ("scores.csv", {"joint": "CMC3", "kind": "jsn"}, "kind", "erosion", "erosion score at CMC3, where no erosion"),
        ("scores.csv", {"joint": "ulna", "kind": "erosion"}, "kind", "jsn", "jsn score at ulna, where no jsn"),
        ("truth.csv", {"joint": "CMC1"}, "jsn", "0", "jsn score at CMC1, where no jsn"),
        ("truth.csv", {"joint": "MCP5"}, "erosion", "", "missing true erosion at MCP5"),
        ("truth.csv", {"joint": "MCP5"}, "erosion", "9", "erosion score 9 out of range"),
        ("boxes.csv", {"joint": "DIP3"}, "x_max", "1.0", "empty box"),
        ("boxes.csv", {"joint": "DIP3"}, "x_max", "abc", "x_max 'abc' is not a number"),
        ("boxes.csv", {"joint": "DIP3"}, "y_max", "9999", "lies outside its 120x60 image"),
    ],
)
def test_bad_value_names_file_and_line(tiny, name, where, column, value, message):
    df = pd.read_csv(tiny / name, dtype=str, keep_default_na=False)
    row = _first_row(df, **where)
    df.loc[row, column] = value
    df.to_csv(tiny / name, index=False)
    with pytest.raises(DatasetError, match=rf"{name} line {row + 2}\b.*{message}"):
        data.load_dataset(tiny)


def test_duplicate_rows(tiny):
    _edit(tiny / "scores.csv", lambda df: pd.concat([df, df.iloc[[5]]], ignore_index=True))
    n = len(pd.read_csv(tiny / "scores.csv"))
    with pytest.raises(DatasetError, match=rf"scores.csv line {n + 1}\b.*duplicate score .*first seen on line 7"):
        data.load_dataset(tiny)


# ---------------------------------------------------------------------------- writing the phantom


def test_write_load_round_trip_matches_the_generators(tmp_path):
    """What load_dataset returns equals what phantom.render and raters.simulate_scores produce."""
    from rheumabook import phantom
    from rheumabook.phantom import raters

    root = data.write_phantom_dataset(tmp_path / "ds", 3, seed=11, size=SIZE, progress=False)
    ds = data.load_dataset(root, verify_images=True)
    assert ds.patients == ["P0000", "P0001", "P0002"] and ds.is_phantom
    seeds, rater_rng = data.phantom_streams(11, 3)
    truths = []
    for pid, s in zip(ds.patients, seeds):
        rad = phantom.render(s, size=SIZE)
        image = ds.image(pid)
        assert image.dtype == rad.image.dtype and image.shape == rad.image.shape
        assert image.tobytes() == rad.image.tobytes()
        expected = rad.boxes[["hand", "joint", *BOX_COLUMNS]].astype({c: float for c in BOX_COLUMNS})
        pd.testing.assert_frame_equal(ds.boxes_of(pid).drop(columns="patient_id"), expected.reset_index(drop=True),
                                      check_dtype=False)
        pd.testing.assert_frame_equal(ds.truth_of(pid).drop(columns="patient_id"),
                                      rad.truth[["hand", "joint", "erosion", "jsn"]].reset_index(drop=True),
                                      check_dtype=False)
        truths.append(rad.truth.assign(patient_id=pid)[list(TRUTH_COLUMNS)])
        row = ds.patient_info.set_index("patient_id").loc[pid]
        assert row["pixel_spacing_mm"] == pytest.approx(rad.pixel_spacing_mm)
        assert (row["width"], row["height"]) == (rad.image.shape[1], rad.image.shape[0])
    expected_scores = raters.simulate_scores(pd.concat(truths, ignore_index=True), rater_rng)
    pd.testing.assert_frame_equal(ds.scores, expected_scores.reset_index(drop=True), check_dtype=False)
    info = json.loads((root / "dataset.json").read_text())
    assert info["seed"] == 11 and info["n_patients"] == 3 and info["size"] == SIZE and info["kind"] == "phantom"


def test_uint16_images_stay_uint16(tmp_path):
    root = data.write_phantom_dataset(tmp_path / "ds16", 1, seed=3, size=SIZE, progress=False, dtype=np.uint16)
    ds = data.load_dataset(root)
    image = ds.image("P0000")
    assert image.dtype == np.uint16 and image.max() > 255  # really 16-bit, not a uint8 in disguise
    assert cv2.imread(str(root / "images" / "P0000.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_and_prefix(tmp_path):
    a = _files(data.write_phantom_dataset(tmp_path / "a", 2, seed=5, size=SIZE, progress=False))
    b = _files(data.write_phantom_dataset(tmp_path / "b", 2, seed=5, size=SIZE, progress=False))
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    c = _files(data.write_phantom_dataset(tmp_path / "c", 1, seed=6, size=SIZE, progress=False))
    assert c["images/P0000.png"] != a["images/P0000.png"]  # another seed, another patient
    # a smaller data set is a prefix of a larger one with the same seed
    seeds2, _ = data.phantom_streams(5, 2)
    seeds9, _ = data.phantom_streams(5, 9)
    assert seeds9[:2] == seeds2 and len(set(seeds9)) == 9


def test_failure_mid_write_leaves_nothing(tmp_path, monkeypatch):
    from rheumabook import phantom
    from rheumabook.phantom import raters

    calls = {"n": 0}
    real = phantom.render

    def flaky(seed, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("renderer crashed")
        return real(seed, **kwargs)

    monkeypatch.setattr(phantom, "render", flaky)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        data.write_phantom_dataset(tmp_path / "ds", 3, seed=0, size=SIZE, progress=False)
    assert list(tmp_path.iterdir()) == []  # no root, no temp folder

    monkeypatch.setattr(phantom, "render", real)
    monkeypatch.setattr(raters, "simulate_scores", lambda truth, rng: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        data.write_phantom_dataset(tmp_path / "ds", 1, seed=0, size=SIZE, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_unless_asked(tmp_path, tiny):
    before = _files(tiny)
    with pytest.raises(FileExistsError, match="not empty; pass overwrite=True"):
        data.write_phantom_dataset(tiny, 1, seed=0, size=SIZE, progress=False)
    assert _files(tiny) == before
    data.write_phantom_dataset(tiny, 1, seed=0, size=SIZE, progress=False, overwrite=True)
    assert data.load_dataset(tiny).patients == ["P0000"] and _files(tiny) != before
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # the old copy is gone, no temp folders
    empty = tmp_path / "empty"
    empty.mkdir()
    data.write_phantom_dataset(empty, 1, seed=0, size=SIZE, progress=False)  # an empty folder is fine
    assert (empty / "dataset.json").is_file()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_patients"):
        data.write_phantom_dataset(tmp_path / "x", 0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        data.write_phantom_dataset(tmp_path / "x", 1, seed=-1)
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------------------- chapter_dataset


def test_chapter_dataset_writes_once_then_reuses(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(cache.ARTIFACTS_ENV, str(tmp_path / "art"))
    cfg = QUICK.replace(name="tiny", data=DataConfig(n_patients=2, image_size=SIZE))
    ds = data.chapter_dataset(profile=cfg, seed=4, progress=False)
    out = capsys.readouterr().out
    assert "Wrote the phantom data set to <artifacts>/phantom/tiny-seed4:" in out
    assert str(tmp_path) not in out  # no machine path in what a chapter prints (it ends up in the HTML)
    root = tmp_path / "art" / "phantom" / "tiny-seed4"
    assert ds.root == root and ds.patients == ["P0000", "P0001"]
    stamp = (root / "dataset.json").stat().st_mtime_ns
    again = data.chapter_dataset(profile=cfg, seed=4, progress=False)
    out = capsys.readouterr().out
    assert "Reusing the phantom data set in <artifacts>/phantom/tiny-seed4 " in out and str(tmp_path) not in out
    assert (root / "dataset.json").stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(again.scores, ds.scores)
    bigger = data.chapter_dataset(profile=cfg.replace(data=DataConfig(n_patients=3, image_size=SIZE)), seed=4,
                                  progress=False)
    assert "Rewriting the phantom data set" in capsys.readouterr().out and len(bigger.patients) == 3
    pd.testing.assert_frame_equal(bigger.truth[bigger.truth["patient_id"] != "P0002"], ds.truth)


def test_book_root_found_from_book_folder(tmp_path, monkeypatch):
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\n")
    (tmp_path / "_config.yml").write_text("title: RheumaBook\n")
    assert cache.find_book_root(tmp_path / "book") == tmp_path.resolve()
    monkeypatch.chdir(tmp_path / "book")
    monkeypatch.delenv(cache.ARTIFACTS_ENV, raising=False)
    assert cache.artifacts_dir() == tmp_path.resolve() / "artifacts"
    monkeypatch.setenv(cache.ARTIFACTS_ENV, str(tmp_path / "elsewhere"))
    assert cache.artifacts_dir() == tmp_path / "elsewhere"
    assert cache.find_book_root(tmp_path.parent) is None or cache.find_book_root(tmp_path.parent) != tmp_path


# ---------------------------------------------------------------------------- the public release


def _release_files(root: Path, *, hand_by_image_side=False):
    """Release-style CSVs (with an unnamed index column, like the release) and JPEG images."""
    root.mkdir(parents=True)
    (root / "jpeg").mkdir()
    for pid in (1, 2):
        cv2.imwrite(str(root / "jpeg" / f"{pid}.jpeg"), np.full((200, 400), 100 + pid, np.uint8))
    score_rows = [
        # expert, patient, hand, joint, finger, disease, score
        (1, 1, "right", "MCP", "2", "erosion", "3"),
        (2, 1, "Right", "MCP", "2.0", "Erosion", "2"),
        (1, 1, "left", "PIP", "3", "JSN", "1"),
        (1, 1, "L", "IP", "", "narrowing", "4"),
        (1, 2, "left", "DIP", "5", "jsn", "0"),
        (3, 2, "right", "CMC", "1", "erosion", "1"),
        (3, 2, "right", "cmc", "4", "JSN", "2"),
        (1, 2, "left", "wrist", "none", "JSN", "3"),
        (1, 2, "left", "radius", "", "erosion", "5"),
        (2, 2, "left", "Ulna", "", "erosion", "0"),
        (1, 2, "right", "lunate", "", "erosion", "2"),
        (1, 2, "right", "navicular", "", "erosion", "4"),
        (2, 2, "right", "MCP", "5", "JSN", ""),  # an empty score: dropped
    ]
    scores = pd.DataFrame(score_rows, columns=list(data.RELEASE_SCORE_COLUMNS))
    scores.to_csv(root / "scores.csv")  # index=True: the release's unnamed first column
    xr, xl = (300, 100) if hand_by_image_side else (100, 300)
    box_rows = [
        (1, "right", "MCP", "2", xr, 50, 20, 10),
        (1, "left", "PIP", "3", xl, 60.5, 8, 6),
        (2, "left", "wrist", "", xl, 150, 40, 30),
        (2, "right", "MCP", "1", xr, 80, 12, 12),
    ]
    pd.DataFrame(box_rows, columns=list(data.RELEASE_BOX_COLUMNS)).to_csv(root / "boxes.csv")
    return root / "scores.csv", root / "boxes.csv", root / "jpeg"


def test_release_mapping_and_boxes_hand_checked(tmp_path):
    ds = data.load_public_release(*_release_files(tmp_path / "rel"))
    s = ds.scores.set_index(["patient_id", "hand", "joint", "expert_id", "kind"])["score"]
    expected = {
        ("1", "right", "MCP2", 1, "erosion"): 3,
        ("1", "right", "MCP2", 2, "erosion"): 2,
        ("1", "left", "PIP3", 1, "jsn"): 1,
        ("1", "left", "IP", 1, "jsn"): 4,
        ("2", "left", "DIP5", 1, "jsn"): 0,
        ("2", "right", "CMC1", 3, "erosion"): 1,
        ("2", "right", "CMC4", 3, "jsn"): 2,
        ("2", "left", "wrist", 1, "jsn"): 3,
        ("2", "left", "radiocarpal", 1, "erosion"): 5,
        ("2", "left", "ulna", 2, "erosion"): 0,
        ("2", "right", "wrist", 1, "erosion"): 4,  # max of lunate 2 and navicular 4 (paper §3.1)
    }
    assert s.to_dict() == expected
    assert ds.info["dropped_empty_scores"] == 1 and ds.truth is None and ds.patients == ["1", "2"]
    b = ds.boxes.set_index(["patient_id", "hand", "joint"])[list(BOX_COLUMNS)]
    assert b.loc[("1", "right", "MCP2")].tolist() == [90.0, 45.0, 110.0, 55.0]  # centre 100,50; size 20x10
    assert b.loc[("1", "left", "PIP3")].tolist() == [296.0, 57.5, 304.0, 63.5]
    assert b.loc[("2", "left", "wrist")].tolist() == [280.0, 135.0, 320.0, 165.0]
    assert ds.image("2").shape == (200, 400) and ds.image("2").dtype == np.uint8


def test_release_box_conversion_half_width():
    full = data.release_boxes_to_corners([10.0], [20.0], [4.0], [6.0], full_width=True)
    half = data.release_boxes_to_corners([10.0], [20.0], [4.0], [6.0], full_width=False)
    np.testing.assert_array_equal(full, [[8.0, 17.0, 12.0, 23.0]])
    np.testing.assert_array_equal(half, [[6.0, 14.0, 14.0, 26.0]])


def test_release_joint_map_is_one_consistent_table():
    keys = data.RELEASE_JOINT_MAP.assign(rj=data.RELEASE_JOINT_MAP["release_joint"].map(release._norm))
    conflicts = keys.groupby(["rj", "release_finger"], dropna=False)["joint"].nunique()
    assert (conflicts == 1).all(), conflicts[conflicts > 1]
    assert set(data.RELEASE_JOINT_MAP["joint"]) == set(JOINTS)
    for joint in JOINTS:  # every level/finger pair of ours maps back to the site
        site = SITE_BY_NAME[joint]
        if site.finger is not None and site.level != "IP":
            level = "CMC" if site.level == "CMC" else site.level
            assert release._JOINT_LOOKUP[(release._norm(level), site.finger)] == joint


@pytest.mark.parametrize(
    "file,column,value,message",
    [
        ("scores.csv", "joint", "elbow", "unknown joint 'elbow' with finger"),
        ("scores.csv", "finger", "7", "unknown joint 'MCP' with finger '7'"),
        ("scores.csv", "disease", "swelling", "unknown disease 'swelling'"),
        ("scores.csv", "hand", "both", "unknown hand 'both'"),
        ("scores.csv", "score", "7", "erosion score 7 out of range"),
        ("boxes.csv", "joint", "toe", "unknown joint 'toe'"),
        ("boxes.csv", "dx", "wide", "dx 'wide' is not a number"),
    ],
)
def test_release_bad_names_raise_with_line(tmp_path, file, column, value, message):
    files = _release_files(tmp_path / "rel")
    path = files[0] if file == "scores.csv" else files[1]
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[0, column] = value  # first data row = line 2
    df.to_csv(path, index=False)
    with pytest.raises(DatasetError, match=rf"{file} line 2\b.*{message}"):
        data.load_public_release(*files)


def test_release_hand_side_warning_and_image_convention(tmp_path):
    files = _release_files(tmp_path / "rel", hand_by_image_side=True)
    with pytest.warns(UserWarning, match="hand_convention='image'"):
        data.load_public_release(*files)
    ds = data.load_public_release(*files, hand_convention="image")
    assert ("1", "left", "MCP2") in set(map(tuple, ds.boxes[["patient_id", "hand", "joint"]].to_numpy()))


def test_convert_release_and_autodetect(tmp_path, capsys):
    files = _release_files(tmp_path / "rel")
    direct = data.load_public_release(*files)
    out = data.convert_public_release(*files, tmp_path / "ours", progress=False)
    ours = data.load_dataset(out, verify_images=True)
    pd.testing.assert_frame_equal(ours.scores, direct.scores)
    pd.testing.assert_frame_equal(ours.boxes, direct.boxes)
    assert (out / "images" / "2.jpeg").read_bytes() == (files[2] / "2.jpeg").read_bytes()
    detected = data.chapter_dataset(data_root=tmp_path / "rel")
    assert "Public release" in capsys.readouterr().out
    pd.testing.assert_frame_equal(detected.scores, direct.scores)
    assert data.chapter_dataset(data_root=out).patients == ["1", "2"]
    with pytest.raises(MissingDatasetFileError, match="neither the book's layout"):
        data.chapter_dataset(data_root=tmp_path / "rel" / "jpeg")


# ---------------------------------------------------------------------------- describing a data set


def test_to_long_and_uniform_truth():
    t = data.uniform_truth(erosion=3, jsn=2)
    assert len(t) == 42
    long = data.to_long(t)
    assert len(long) == 2 * (len(EROSION_SITES) + len(JSN_SITES))
    assert set(long.loc[long["kind"] == "erosion", "score"]) == {3}
    assert set(long.loc[long["kind"] == "jsn", "joint"]) == set(JSN_SITES)
    with pytest.raises(ValueError, match="jsn grade must be a whole number 0-4"):
        data.uniform_truth(jsn=5)


def test_patients_csv_must_list_every_patient_with_its_size(tiny):
    pd.DataFrame({"patient_id": ["P0000"], "width": [120], "height": [60]}).to_csv(tiny / "patients.csv", index=False)
    with pytest.raises(DatasetError, match=r"boxes.csv line 44\b.*'P0001' is not listed in .*patients.csv"):
        data.load_dataset(tiny)
    pd.DataFrame({"patient_id": ["P0000", "P0001"], "width": [120, 121], "height": [60, 60]}).to_csv(
        tiny / "patients.csv", index=False)
    with pytest.raises(DatasetError, match=r"patients.csv: patient P0001 is listed as 121x60, its image is 120x60"):
        data.load_dataset(tiny)


def test_rows_in_any_order_load_in_canonical_order(tiny):
    ordered = data.load_dataset(tiny)
    for name in ("boxes.csv", "scores.csv", "truth.csv"):
        _edit(tiny / name, lambda df: df.sample(frac=1.0, random_state=1))
    shuffled = data.load_dataset(tiny)
    pd.testing.assert_frame_equal(shuffled.boxes, ordered.boxes)
    pd.testing.assert_frame_equal(shuffled.scores, ordered.scores)
    pd.testing.assert_frame_equal(shuffled.truth, ordered.truth)
    first = shuffled.boxes.iloc[:42]
    assert list(first["hand"]) == [h for h in HANDS for _ in JOINTS] and list(first["joint"]) == list(JOINTS) * 2
    kinds = shuffled.scores[(shuffled.scores["joint"] == "IP") & (shuffled.scores["hand"] == "left")
                            & (shuffled.scores["patient_id"] == "P0000")]
    assert list(zip(kinds["kind"], kinds["expert_id"])) == [("erosion", 1), ("erosion", 2), ("jsn", 1), ("jsn", 2)]


def test_patient_ids_sort_naturally():
    df = pd.DataFrame({"patient_id": ["10", "2", "1", "10"], "hand": ["left", "left", "right", "left"],
                       "joint": ["IP", "IP", "IP", "DIP2"]})
    out = tables.sort_rows(df)
    assert list(zip(out["patient_id"], out["joint"])) == [("1", "IP"), ("2", "IP"), ("10", "IP"), ("10", "DIP2")]
