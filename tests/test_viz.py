"""Tests of rheumabook.viz (the chapters' figures and browsers): what is drawn is what was asked for."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from rheumabook import data, viz  # noqa: E402
from rheumabook.joints import EROSION_SITES, JOINTS, JSN_SITES  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_draw_boxes_draws_each_box_at_its_pixels_coloured_by_hand():
    boxes = pd.DataFrame({"hand": ["right", "left"], "joint": ["MCP2", "IP"],
                          "x_min": [10.0, 50.0], "y_min": [5.0, 20.0], "x_max": [30.0, 58.5], "y_max": [25.0, 31.0]})
    fig, ax = plt.subplots()
    viz.draw_boxes(ax, np.zeros((40, 80), np.uint8), boxes)
    rects = [p for p in ax.patches if isinstance(p, Rectangle)]
    got = sorted((r.get_x(), r.get_y(), r.get_x() + r.get_width(), r.get_y() + r.get_height()) for r in rects)
    assert got == [(10.0, 5.0, 30.0, 25.0), (50.0, 20.0, 58.5, 31.0)]
    colours = {r.get_x(): r.get_edgecolor() for r in rects}
    assert colours[10.0] == to_rgba(viz.HAND_COLORS["right"]) and colours[50.0] == to_rgba(viz.HAND_COLORS["left"])
    assert sorted(t.get_text() for t in ax.texts) == ["IP", "MCP2"]


def test_zoom_joint_shows_a_square_of_context_times_the_box():
    image = np.arange(200 * 300, dtype=np.uint16).reshape(200, 300)
    fig, ax = plt.subplots()
    viz.zoom_joint(ax, image, (100, 80, 120, 90), context=2.5)  # 20 x 10 box, centre (110, 85)
    assert ax.get_xlim() == pytest.approx((110 - 25, 110 + 25))
    assert ax.get_ylim() == pytest.approx((85 + 25, 85 - 25))  # y points down, as in the image
    shown = ax.images[0].get_array()
    np.testing.assert_array_equal(shown, image[60:110, 85:135])  # the region, not a resampled copy


def test_joint_map_colours_sites_by_which_score_applies():
    fig, ax = plt.subplots()
    viz.joint_map(ax, hand="left")
    sites = [c for c in ax.collections if len(c.get_offsets()) == 1]
    assert len(sites) == len(JOINTS)
    colours = [tuple(c.get_facecolors()[0]) for c in sites]
    expect = [to_rgba(viz.SITE_KIND_COLORS["both" if (j in EROSION_SITES and j in JSN_SITES)
                                           else "erosion" if j in EROSION_SITES else "jsn"]) for j in JOINTS]
    np.testing.assert_allclose(colours, expect)
    # mirrored hands: the left hand's thumb lies left of its little finger
    xs = {t.get_text(): t.xy[0] for t in ax.texts if hasattr(t, "xy")}
    assert xs["IP"] < xs["DIP5"]
    fig, ax = plt.subplots()
    viz.joint_map(ax, hand="right")
    xs = {t.get_text(): t.xy[0] for t in ax.texts if hasattr(t, "xy")}
    assert xs["IP"] > xs["DIP5"]
    with pytest.raises(ValueError, match="unknown hand"):
        viz.joint_map(ax, hand="middle")


def test_score_distributions_bars_are_the_grade_counts():
    truth = pd.concat([data.uniform_truth(erosion=g % 6, jsn=g % 5).assign(patient_id=f"P{g}") for g in range(8)],
                      ignore_index=True)
    axes = viz.score_distributions(truth)
    long = data.to_long(truth)
    for ax, kind in zip(axes, ("erosion", "jsn")):
        counts = long[long["kind"] == kind]["score"].astype(int).value_counts()
        heights = {round(p.get_x() + p.get_width() / 2): p.get_height() for p in ax.patches if p.get_height() > 0}
        assert heights == {g: float(n) for g, n in counts.items()}
    # with a hue, each source is normalised on its own
    both = pd.concat([data.to_long(truth, source="truth"), data.to_long(truth.iloc[:42], source="R1")])
    axes = viz.score_distributions(both, hue="expert_id")
    total = sum(p.get_height() for p in axes[0].patches)
    assert total == pytest.approx(2.0)  # two sources, each summing to 1


def test_show_patient_joint_and_caption(tmp_path):
    root = data.write_phantom_dataset(tmp_path / "ds", 1, seed=2, size=480, progress=False)
    ds = data.load_dataset(root)
    text = viz.joint_scores_text(ds, "P0000", "right", "CMC3")
    truth = ds.truth_of("P0000", "right").set_index("joint").loc["CMC3"]
    assert text.splitlines()[0] == f"truth: erosion -, jsn {int(truth['jsn'])}"  # no erosion score at CMC3
    fig = viz.show_patient_joint(ds, "P0000", "right", "CMC3")
    assert len(fig.axes) == 2
    assert viz.radiograph_caption(ds, "P0000").startswith("P0000: total grade ")


def test_widgets_live_follows_the_environment(monkeypatch):
    for name in ("JPY_SESSION_NAME", "VSCODE_PID", viz.WIDGETS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(__import__("sys").modules, "google.colab", raising=False)
    assert viz.widgets_live() is False  # papermill / a book build
    monkeypatch.setenv("JPY_SESSION_NAME", "/nb/01_data.ipynb")
    assert viz.widgets_live() is True
    monkeypatch.setenv(viz.WIDGETS_ENV, "0")
    assert viz.widgets_live() is False


def test_draw_boxes_takes_arrays_a_single_box_and_nothing():
    fig, ax = plt.subplots()
    viz.draw_boxes(ax, None, np.array([[1.0, 2.0, 5.0, 9.0], [0.0, 0.0, 3.0, 3.0]]), color="red")
    viz.draw_boxes(ax, None, [4, 4, 6, 8], labels=False)  # one box (4,)
    viz.draw_boxes(ax, None, np.zeros((0, 4)))
    rects = [(r.get_x(), r.get_y(), r.get_width(), r.get_height()) for r in ax.patches]
    assert rects == [(1.0, 2.0, 4.0, 7.0), (0.0, 0.0, 3.0, 3.0), (4.0, 4.0, 2.0, 4.0)]
    assert not ax.texts  # an array has no joint names to write
    with pytest.raises(ValueError, match="lacks columns"):
        viz.draw_boxes(ax, None, pd.DataFrame({"x_min": [1.0]}))


class _FakeSplit:
    """What the seam figures read from a `seam.HandSplit`: seam (per row), band (x0, x1), energy, hand_of."""

    def __init__(self, height=40, width=80, x=40):
        self.seam = np.full(height, x)
        self.band = (20, 60)
        self.energy = np.zeros((height, 40))

    def hand_of(self, boxes):
        return np.where((boxes["x_min"] + boxes["x_max"]).to_numpy() / 2 < self.seam[0], "right", "left")


def test_show_split_draws_the_seam_the_band_and_cut_boxes_in_red():
    boxes = pd.DataFrame({"hand": ["right", "right"], "joint": ["MCP2", "IP"], "x_min": [5.0, 35.0],
                          "y_min": [5.0, 5.0], "x_max": [15.0, 50.0], "y_max": [15.0, 15.0]})  # IP lies across the seam
    fig, ax = plt.subplots()
    viz.show_split(ax, np.zeros((40, 80), np.uint8), _FakeSplit(), boxes)
    red = [r for r in ax.patches if r.get_edgecolor() == to_rgba("red")]
    assert [(r.get_x(), r.get_linewidth()) for r in red] == [(35.0, 2.0)]
    seam_line, *band_lines = ax.lines
    np.testing.assert_array_equal(seam_line.get_xdata(), np.full(40, 40))
    assert [line.get_xdata()[0] for line in band_lines] == [20, 60]
    with pytest.raises(ValueError, match="keep_energy=True"):
        split = _FakeSplit()
        split.energy = None
        viz.seam_figure(np.zeros((40, 80), np.uint8), split)


def test_seam_explorer_splits_with_the_chosen_seam_config(monkeypatch):
    pytest.importorskip("ipywidgets")
    from rheumabook import seam

    class OnePatient:
        patients = ["P0"]
        image_ = np.zeros((64, 96), np.uint8)
        image_[8:56, 8:40] = 200
        image_[8:56, 56:88] = 200

        def image(self, patient):
            return self.image_

        def boxes_of(self, patient):
            return pd.DataFrame({"hand": ["right", "left"], "joint": ["MCP2", "MCP2"], "x_min": [10.0, 60.0],
                                 "y_min": [10.0, 10.0], "x_max": [30.0, 80.0], "y_max": [30.0, 30.0]})

    configs = []
    real_split = seam.split_hands
    monkeypatch.setattr(seam, "split_hands", lambda image, config, keep_energy: configs.append(config)
                        or real_split(image, config=config, keep_energy=keep_energy))
    widget = viz.seam_explorer(OnePatient())
    assert configs == [seam.SeamConfig()]  # the controls start at the book's method (-1 = auto)
    opening = next(c for c in widget.children[2].children if c.description == "opening")
    opening.value = 0
    assert configs[-1] == seam.SeamConfig(opening=0)


def test_heat_overlay_grid_outlines_the_lesion_and_marks_each_maps_peak():
    crops = np.zeros((2, 16, 16))
    heat = np.zeros((2, 16, 16))
    heat[0, 3, 12] = heat[1, 10, 5] = 1.0  # peaks at (x 12, y 3) and (x 5, y 10)
    lesion = np.zeros((2, 16, 16), bool)
    lesion[0, 2:5, 11:14] = True  # only the first crop has a lesion
    fig = viz.heat_overlay_grid(crops, {"map": heat}, outlines=lesion, peaks=True)
    axes = np.asarray(fig.axes).reshape(2, 2)
    marks = [[tuple(np.ravel(line.get_data())) for line in ax.lines if line.get_marker() == "x"] for ax in axes[1]]
    assert marks == [[(12, 3)], [(5, 10)]] and not axes[0, 0].lines  # the crop row has no peak
    magenta = to_rgba("magenta")
    outlined = [any(np.allclose(c, magenta) for coll in ax.collections for c in np.atleast_2d(coll.get_edgecolor()))
                for ax in axes[:, 0]] + [any(np.allclose(c, magenta) for coll in ax.collections
                                             for c in np.atleast_2d(coll.get_edgecolor())) for ax in axes[:, 1]]
    assert outlined == [True, True, False, False]
    plt.close(fig)
    with pytest.raises(ValueError, match="one \\(H, W\\) mask per crop"):
        viz.heat_overlay_grid(crops, {"map": heat}, outlines=lesion[0])
