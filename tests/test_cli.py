"""`python -m rheumabook score ...` (rheumabook.cli): outputs, exit statuses, messages, no partial files.

Most cases call `cli.main(argv)` in this process (fast); two run the real ``python -m rheumabook``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from rheumabook import cli, phantom
from rheumabook.data import write_png
from rheumabook.pipeline import RheumaVIT, read_results
from test_pipeline import SIZE, make_models


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    (root / "models").mkdir()
    models = make_models(root / "models")
    films = {}
    for seed in (21, 22):
        films[seed] = phantom.render(seed, size=SIZE).image
        write_png(root / f"p{seed}.png", films[seed])
    write_png(root / "blank.png", np.full((240, 320), 40, np.uint8))
    write_png(root / "upside.png", np.ascontiguousarray(films[21][::-1]))
    write_png(root / "tiny.png", films[21][:90, :120].copy())
    write_png(root / "single.png", np.ascontiguousarray(films[22][:, 170:]))
    (root / "text.png").write_text("hello")
    return root, models, films


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_scores_files_into_csv_and_json_matching_the_api(setup, tmp_path, capsys):
    root, models, films = setup
    for fmt in ("csv", "json"):
        out = tmp_path / f"res.{fmt}"
        code, stdout, err = run(["score", root / "p21.png", root / "p22.png", "--models", models, "--profile",
                                 "quick", "--out", out, "--overlays", tmp_path / "ov"], capsys)
        assert code == cli.EXIT_OK, err
        table = read_results(out)
        assert len(table) == 84 and table["image"].unique().tolist() == [str(root / "p21.png"), str(root / "p22.png")]
        assert "total Sharp" in stdout and "2 of 2 image(s) scored" in stdout
    api = RheumaVIT.from_folder(models, profile="quick").score(films[21])
    got = table[table["image"] == str(root / "p21.png")].drop(columns="image").reset_index(drop=True)
    np.testing.assert_allclose(got[["x_min", "p_jsn_0"]].to_numpy(), api.table[["x_min", "p_jsn_0"]].to_numpy(),
                               atol=1e-4)
    assert sorted(p.name for p in (tmp_path / "ov").iterdir()) == ["p21.png", "p22.png"]
    doc = json.loads((tmp_path / "res.json").read_text())
    assert doc["images"][0]["totals"] == api.totals


@pytest.mark.parametrize("name, message", [
    ("blank.png", "blank.png: .*constant"),
    ("upside.png", "upside.png: the film looks upside down.*rotate"),
    ("tiny.png", "tiny.png: the image is 120 x 90 pixels, too small"),
    ("single.png", "single.png: only one hand found.*--hands left"),
    ("text.png", "text.png: cannot decode"),
    ("missing.png", "missing.png: image file is missing"),
])
def test_each_bad_input_exits_1_with_its_message_and_no_output(setup, tmp_path, capsys, name, message):
    root, models, _ = setup
    out = tmp_path / "res.csv"
    code, _, err = run(["score", root / name, "--models", models, "--profile", "quick", "--out", out], capsys)
    assert code == cli.EXIT_SOME_FAILED
    assert any(re.search(message, line) for line in err.splitlines()), err
    assert "was not written" in err and not out.exists() and list(tmp_path.iterdir()) == []


def test_one_bad_file_in_a_batch_is_reported_and_the_rest_scored(setup, tmp_path, capsys):
    root, models, _ = setup
    out = tmp_path / "res.csv"
    code, stdout, err = run(["score", root / "p21.png", root / "text.png", root / "p22.png", "--models", models,
                             "--profile", "quick", "--out", out, "--batch-size", "2"], capsys)
    assert code == cli.EXIT_SOME_FAILED and "text.png: cannot decode" in err
    assert read_results(out)["image"].nunique() == 2 and "2 of 3 image(s) scored" in stdout


def test_single_hand_films_with_hands_option(setup, tmp_path, capsys):
    root, models, _ = setup
    out = tmp_path / "one.json"
    code, _, err = run(["score", root / "single.png", "--hands", "left", "--models", models, "--profile", "quick",
                        "--out", out], capsys)
    assert code == cli.EXIT_OK, err
    assert len(read_results(out)) == 21


def test_model_and_usage_errors_exit_2_without_output(setup, tmp_path, capsys):
    root, models, _ = setup
    out = tmp_path / "res.csv"
    code, _, err = run(["score", root / "p21.png", "--models", tmp_path / "nowhere", "--out", out], capsys)
    assert code == cli.EXIT_USAGE and "no such folder of model checkpoints" in err and "Fix" in err
    broken = tmp_path / "broken"
    broken.mkdir()
    make_models(broken)
    for p in broken.glob("localizer-*.json"):
        doc = json.loads(p.read_text())
        doc["format"] = "something/else"
        p.write_text(json.dumps(doc))
    code, _, err = run(["score", root / "p21.png", "--models", broken, "--profile", "quick", "--out", out], capsys)
    assert code == cli.EXIT_USAGE and "not a 'rheumabook.localize/1' checkpoint" in err
    code, _, err = run(["score", root / "p21.png"], capsys)  # --out is required
    assert code == cli.EXIT_USAGE and "--out" in err
    code, _, err = run(["score", root / "p21.png", "--out", out, "--hands", "three"], capsys)
    assert code == cli.EXIT_USAGE and "invalid choice" in err
    assert not out.exists()


def test_python_dash_m_help_and_score(setup, tmp_path):
    """The real entry point: --help lists the commands and the exit statuses; one scoring run."""
    root, models, _ = setup
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    helped = subprocess.run([sys.executable, "-m", "rheumabook", "--help"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert helped.returncode == 0
    for text in ("score", "python -m rheumabook.evaluate", "python -m rheumabook.book", "Exit status: 0", "1 some",
                 "2 a usage error"):
        assert text in helped.stdout
    out = tmp_path / "r.csv"
    done = subprocess.run([sys.executable, "-m", "rheumabook", "score", str(root / "p21.png"), "--models", str(models),
                           "--profile", "quick", "--out", str(out)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(read_results(out)) == 42 and "scoring radiographs" in done.stderr  # the tqdm bar
