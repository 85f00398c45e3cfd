"""Tests of rheumabook.seam (paper §3.2): the seam DP against brute force, the split, boxes, input checks, the config
and the survey of cut boxes."""
from __future__ import annotations

import dataclasses
import itertools
import json
import warnings

import cv2
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from rheumabook import seam as sm
from rheumabook.joints import HANDS
from rheumabook.schema import BOX_COLUMNS
from rheumabook.seam import SeamConfig


# ----------------------------------------------------------------------------- brute force reference


def all_paths(height: int, width: int):
    """Every top-to-bottom 8-connected path (one x per row) in a height x width grid."""
    for x_start in range(width):
        for steps in itertools.product((-1, 0, 1), repeat=height - 1):
            path = [x_start]
            for s in steps:
                path.append(path[-1] + s)
            if all(0 <= x < width for x in path):
                yield np.array(path)


def cost(energy: np.ndarray, path: np.ndarray) -> float:
    return float(sum(energy[y, x] for y, x in enumerate(path)))


def preferred_optimum(energy: np.ndarray) -> np.ndarray:
    """The optimal path the documented tie rule picks, found by brute force.

    Rule: smallest end x in the last row, then, walking up, straight < left < right.
    As a sort key: (x_last, rank of step H-1 -> H-2, ..., rank of step 1 -> 0).
    """
    rank = {0: 0, -1: 1, 1: 2}  # step from row y to row y-1: x[y-1] - x[y]
    paths = list(all_paths(*energy.shape))
    best = min(cost(energy, p) for p in paths)
    optimal = [p for p in paths if cost(energy, p) == best]

    def key(p):
        return (p[-1], *[rank[int(p[y - 1] - p[y])] for y in range(len(p) - 1, 0, -1)])

    return min(optimal, key=key)


def assert_valid_seam(seam: np.ndarray, height: int, width: int) -> None:
    assert seam.shape == (height,)
    assert np.all((seam >= 0) & (seam < width))
    assert np.all(np.abs(np.diff(seam)) <= 1)


# ----------------------------------------------------------------------------- the DP


def _random_energy_maps(seed: int, n: int, max_side: int):
    """`n` random energy maps of 1..max_side-1 rows and columns, seeded."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        h, w = rng.integers(1, max_side, size=2)
        yield h, w, rng.random((h, w))


def test_min_energy_seam_equals_exhaustive_search_on_random_maps():
    for h, w, energy in _random_energy_maps(0, 300, 6):
        seam = sm.min_energy_seam(energy)
        assert_valid_seam(seam, h, w)
        brute = min(cost(energy, p) for p in all_paths(h, w))
        assert sm.seam_cost(energy, seam) == pytest.approx(brute, rel=1e-12, abs=1e-12)


def test_cumulative_table_equals_brute_force_prefix_costs():
    for h, w, energy in _random_energy_maps(1, 50, 5):
        table = sm.cumulative_energy(energy)
        for y in range(h):
            for x in range(w):
                # least cost of a path over rows 0..y ending at (y, x)
                best = min(cost(energy[: y + 1], p) for p in all_paths(y + 1, w) if p[-1] == x)
                assert table[y, x] == pytest.approx(best, rel=1e-12, abs=1e-12)


def test_ties_follow_the_documented_rule():
    # Small integer energies make many exact ties.
    rng = np.random.default_rng(2)
    for _ in range(300):
        h, w = rng.integers(1, 6, size=2)
        energy = rng.integers(0, 3, size=(h, w)).astype(float)
        np.testing.assert_array_equal(sm.min_energy_seam(energy), preferred_optimum(energy))


def test_constant_energy_gives_the_straight_seam_at_x0():
    np.testing.assert_array_equal(sm.min_energy_seam(np.ones((7, 5))), np.zeros(7, dtype=int))


def test_seam_follows_a_hand_made_valley():
    energy = np.full((6, 7), 9.0)
    valley = np.array([5, 4, 3, 3, 2, 1])
    energy[np.arange(6), valley] = 0.0
    np.testing.assert_array_equal(sm.min_energy_seam(energy), valley)


def test_energy_errors():
    with pytest.raises(ValueError, match="2-D"):
        sm.min_energy_seam(np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        sm.min_energy_seam(np.array([[1.0, np.nan]]))


# ----------------------------------------------------------------------------- synthetic two-blob radiographs


def two_blobs(height=256, width=384, seed=0, dtype=np.uint8, gap=0.5, marker=False):
    """Two bright rotated ellipses ("hands") on a noisy dark background; returns image and the blobs' masks."""
    rng = np.random.default_rng(seed)
    masks = []
    for cx, angle in ((0.25, 12), (0.75, -12)):
        m = np.zeros((height, width), np.uint8)
        cv2.ellipse(m, (int(cx * width), height // 2), (int(width * 0.12), int(height * 0.42)), angle, 0, 360, 1, -1)
        masks.append(m.astype(bool))
    img = 0.12 + 0.6 * (masks[0] | masks[1]) + rng.normal(0, 0.03, (height, width))
    img += 0.25 * (rng.random((height, width)) < 0.01)  # salt: bright specks the opening removes
    if marker:
        img[10:30, int(width * 0.47) : int(width * 0.53)] = 0.95
    top = np.iinfo(dtype).max
    return (np.clip(img, 0, 1) * top).astype(dtype), masks


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_split_keeps_each_blob_whole_on_its_side(dtype):
    img, (blob_l, blob_r) = two_blobs(dtype=dtype)
    split = sm.split_hands(img)
    h, w = img.shape
    assert_valid_seam(split.seam, h, w)
    assert split.band[0] <= split.seam.min() and split.seam.max() < split.band[1]
    cols = np.arange(w)[None, :]
    left_side = cols < split.seam[:, None]
    assert np.all(left_side[blob_l]) and not np.any(left_side[blob_r])
    # the halves: same dtype, full height, blob pixels untouched, the other side filled
    assert split.image_left.dtype == dtype and split.image_right.dtype == dtype
    assert split.image_left.shape == (h, split.seam.max())
    assert split.image_right.shape == (h, w - split.seam.min())
    np.testing.assert_array_equal(split.image_left[blob_l[:, : split.image_left.shape[1]]], img[blob_l])
    x0 = split.offset("left")
    np.testing.assert_array_equal(split.image_right[blob_r[:, x0:]], img[blob_r])
    assert np.all(split.image_left[~left_side[:, : split.image_left.shape[1]]] == split.fill)
    assert np.all(split.image_right[left_side[:, x0:]] == split.fill)
    # patient naming: the patient's right hand is the image's left half
    assert split.right is split.image_left and split.left is split.image_right


def test_split_of_uint16_matches_uint8_version():
    img8, (blob_l, blob_r) = two_blobs(seed=3)
    split8 = sm.split_hands(img8)
    split16 = sm.split_hands(img8.astype(np.uint16) * 257)
    # same scene: both seams separate the blobs, and lie close to each other
    for split in (split8, split16):
        left_side = np.arange(img8.shape[1])[None, :] < split.seam[:, None]
        assert np.all(left_side[blob_l]) and not np.any(left_side[blob_r])
    assert np.abs(split8.seam - split16.seam).max() <= 0.1 * img8.shape[1]


def test_fill_is_the_background_level():
    img, _ = two_blobs(seed=4)
    split = sm.split_hands(img)
    assert split.fill == int(np.median(img[np.arange(img.shape[0]), split.seam]))
    assert abs(split.fill - 0.12 * 255) < 15  # the background, not the blobs (0.72 * 255)


def test_a_band_reaching_the_border_lets_the_seam_escape_the_gap():
    # The failure the central band guards against: a seam down the outer background strip.
    img, (blob_l, blob_r) = two_blobs(seed=5)
    img = np.pad(img, ((0, 0), (120, 0)), constant_values=int(np.median(img[:, :10])))  # wide empty strip
    blob_l = np.pad(blob_l, ((0, 0), (120, 0)))
    wide = sm.split_hands(img, config=SeamConfig(band=(0.0, 1.0)))
    left_side = np.arange(img.shape[1])[None, :] < wide.seam[:, None]
    assert not np.all(left_side[blob_l])  # escaped: the patient's right hand is not left of the seam
    central = sm.split_hands(img, config=SeamConfig(band=(0.45, 0.75)))
    left_side = np.arange(img.shape[1])[None, :] < central.seam[:, None]
    assert np.all(left_side[blob_l])


def test_hand_of_classifies_boxes_against_the_seam():
    img, _ = two_blobs(seed=6)
    split = sm.split_hands(img)
    s = split.seam
    y = 100
    boxes = np.array(
        [
            [10, y, s[y : y + 5].min(), y + 5],  # touching the seam from the image-left: right hand
            [s[y : y + 5].max(), y, s[y : y + 5].max() + 5, y + 5],  # from the image-right: left hand
            [s[y] - 2, y, s[y] + 2, y + 1],  # cut by the seam
            [10, -20, 20, -5],  # outside the image
        ],
        dtype=float,
    )
    assert list(split.hand_of(boxes)) == ["right", "left", None, None]
    # clearance: hand-computed gaps; 0 when touching, negative when cut, NaN outside the rows
    moved = boxes[:2] + np.array([[-3, 0, -3, 0], [7, 0, 7, 0]])
    np.testing.assert_allclose(split.clearance(moved, ["right", "left"]), [3, 7])
    gaps = split.clearance(boxes, ["right", "left", "right", "left"])
    assert gaps[0] == 0 and gaps[1] == 0 and gaps[2] < 0 and np.isnan(gaps[3])
    assert split.clearance(boxes[:2], ["left", "right"]).max() < 0  # each on the other hand's side


def test_clearance_agrees_with_hand_of_on_random_boxes():
    img, _ = two_blobs(seed=14)
    split = sm.split_hands(img)
    rng = np.random.default_rng(15)
    xy = rng.uniform(0, [img.shape[1] - 30, img.shape[0] - 30], size=(300, 2))
    boxes = np.hstack([xy, xy + rng.uniform(1, 30, size=(300, 2))])
    for hand in HANDS:
        on_side = split.clearance(boxes, [hand] * len(boxes)) >= 0
        np.testing.assert_array_equal(on_side, split.hand_of(boxes) == hand)


# ----------------------------------------------------------------------------- box mapping


@pytest.mark.parametrize("mirror_right", [False, True])
@pytest.mark.parametrize("hand", HANDS)
def test_box_round_trip_and_pixels_match(hand, mirror_right):
    img, _ = two_blobs(seed=7)
    split = sm.split_hands(img, mirror_right=mirror_right)
    half = split.hand(hand)
    rng = np.random.default_rng(8)
    # integer boxes wholly inside the patient's hand's side of the seam
    boxes = []
    while len(boxes) < 40:
        x_min, y_min = rng.integers(0, img.shape[1] - 10), rng.integers(0, img.shape[0] - 10)
        bw, bh = rng.integers(1, 10, size=2)
        box = np.array([x_min, y_min, x_min + bw, y_min + bh], dtype=float)
        if split.hand_of(box)[0] == hand:
            boxes.append(box)
    boxes = np.array(boxes)
    in_half = split.to_half(boxes, hand)
    np.testing.assert_allclose(split.to_radiograph(in_half, hand), boxes, atol=1e-9)
    for (a, b, c, d), (e, f, g, k) in zip(boxes.astype(int), np.round(in_half).astype(int)):
        assert 0 <= e < g <= half.shape[1] and 0 <= f < k <= half.shape[0]
        # the pixels under the box are the same pixels (mirrored when the hand is mirrored)
        patch = img[b:d, a:c]
        if split.mirrored(hand):
            patch = patch[:, ::-1]
        np.testing.assert_array_equal(half[f:k, e:g], patch)


def test_box_mapping_keeps_dataframes_and_their_columns():
    img, _ = two_blobs(seed=9)
    split = sm.split_hands(img, mirror_right=True)
    df = pd.DataFrame({"joint": ["a", "b"], "x_min": [5.0, 20.0], "y_min": [3.0, 40.0],
                       "x_max": [15.0, 30.0], "y_max": [9.0, 50.0]})
    out = split.to_half(df, "right")
    assert list(out.columns) == list(df.columns) and list(out["joint"]) == ["a", "b"]
    w = split.width("right")
    np.testing.assert_allclose(out["x_min"], w - df["x_max"])  # mirrored in the half
    pd.testing.assert_frame_equal(split.to_radiograph(out, "right"), df)
    with pytest.raises(ValueError, match="PATIENT"):
        split.to_half(df, "image_left")


# ----------------------------------------------------------------------------- preprocessing


def test_opening_matches_scipy_grey_opening_with_the_same_element():
    rng = np.random.default_rng(10)
    img = (rng.random((60, 70)) * 255).astype(np.uint8)
    k = 5
    out = sm.open_and_equalize(img, opening=k, clahe=False)
    ref = ndimage.grey_opening(img, size=(k, k))  # square element
    m = 2 * k  # borders are handled differently by the two libraries
    np.testing.assert_array_equal(out[m:-m, m:-m], ref[m:-m, m:-m])


def test_open_and_equalize_keeps_dtype_and_can_be_switched_off():
    img16, _ = two_blobs(dtype=np.uint16)
    out = sm.open_and_equalize(img16)
    assert out.dtype == np.uint16 and out.shape == img16.shape
    np.testing.assert_array_equal(sm.open_and_equalize(img16, opening=0, clahe=False), img16)
    # CLAHE steepens a faint edge: a 100 -> 110 step comes out with a larger jump
    step = np.full((64, 128), 100, np.uint8)
    step[:, 64:] = 110
    out = sm.open_and_equalize(step, opening=0, clip_limit=40).astype(int)
    assert np.all(out[:, 64] - out[:, 63] > 2 * 10)


def test_gradient_energy_band_equals_full_map_columns():
    img, _ = two_blobs(seed=11)
    full = sm.gradient_energy(img, presmooth=7, smooth=9)
    band = sm.gradient_energy(img, presmooth=7, smooth=9, columns=(100, 250))
    np.testing.assert_allclose(band, full[:, 100:250], rtol=1e-4, atol=1e-5)  # float32 running sums differ slightly


def test_gradient_energy_is_the_sobel_magnitude_without_blur():
    rng = np.random.default_rng(12)
    img = (rng.random((20, 30)) * 255).astype(np.uint8)
    f = img.astype(float) / 255
    gx = ndimage.sobel(f, axis=1, mode="reflect")
    gy = ndimage.sobel(f, axis=0, mode="reflect")
    np.testing.assert_allclose(sm.gradient_energy(img, presmooth=0, smooth=0)[1:-1, 1:-1],
                               np.hypot(gx, gy)[1:-1, 1:-1], rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((64, 64), np.float32), "float"),
        (np.zeros((64, 64), bool), "bool"),
        (np.zeros((64, 64), np.int32), "int32"),
        (np.zeros((0, 64), np.uint8), "empty"),
        (np.zeros(64, np.uint8), "2-D"),
        (np.zeros((4, 64, 64), np.uint8), "2-D"),
        (np.zeros((2, 3, 64, 64), np.uint8), "2-D"),
        (np.zeros((10, 64), np.uint8), "too small"),
        (np.zeros((64, 10), np.uint8), "too small"),
    ],
)
def test_bad_images_are_refused_with_a_clear_message(bad, message):
    with pytest.raises(ValueError, match=message):
        sm.split_hands(bad)


def test_rgb_and_rgba_are_converted_with_a_warning():
    img, _ = two_blobs(seed=13)
    ref = sm.split_hands(img)
    for channels in (3, 4):
        rgb = np.repeat(img[:, :, None], channels, axis=2)
        if channels == 4:
            rgb[:, :, 3] = 255
        with pytest.warns(UserWarning, match="grayscale"):
            split = sm.split_hands(rgb)
        np.testing.assert_array_equal(split.seam, ref.seam)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sm.split_hands(img[:, :, None])  # (H, W, 1) is squeezed silently


def test_fill_must_fit_the_dtype():
    img, _ = two_blobs()
    with pytest.raises(ValueError, match="fill"):
        sm.split_hands(img, config=SeamConfig(fill=300))
    split = sm.split_hands(img, config=SeamConfig(fill=7))
    beyond = np.arange(split.image_left.shape[1])[None, :] >= split.seam[:, None]
    assert beyond.any() and np.all(split.image_left[beyond] == 7)


@pytest.mark.parametrize("band", [(0.7, 0.3), (-0.1, 0.5), (0.2, 1.5), (0.5, 0.501), "middle"])
def test_bad_bands_are_refused(band):
    img, _ = two_blobs()
    with pytest.raises(ValueError, match="band"):
        sm.split_hands(img, config=SeamConfig(band=band))


@pytest.mark.parametrize("work_width", [None, 200])
def test_split_separates_blobs_at_any_working_resolution(work_width):
    img, (blob_l, blob_r) = two_blobs(height=300, width=600, seed=16)
    split = sm.split_hands(img, config=SeamConfig(work_width=work_width))
    left_side = np.arange(img.shape[1])[None, :] < split.seam[:, None]
    assert np.all(left_side[blob_l]) and not np.any(left_side[blob_r])


def test_seam_energy_at_working_resolution_equals_resizing_the_small_energy_map():
    # Reference: compute the energy on the shrunk image, resize the whole map back with cv2.resize.
    img, _ = two_blobs(height=240, width=640, seed=17)
    h, w = img.shape
    small = cv2.resize(img, (320, 120), interpolation=cv2.INTER_AREA)
    energy_small = sm.gradient_energy(sm.open_and_equalize(small, opening=5), presmooth=7, smooth=11)
    ref = cv2.resize(energy_small, (w, h), interpolation=cv2.INTER_LINEAR)
    # kernel widths are given in radiograph pixels: 9, 13, 21 -> 4.5, 6.5, 10.5 -> 5, 7, 11 at half the width
    got = sm.seam_energy(img, columns=(150, 470),
                         config=SeamConfig(opening=9, presmooth=13, smooth=21, work_width=320))
    np.testing.assert_allclose(got, ref[:, 150:470], rtol=1e-4, atol=1e-5)
    # at full resolution it is exactly open_and_equalize + gradient_energy
    full = sm.seam_energy(img, columns=(150, 470), config=SeamConfig(work_width=None))
    np.testing.assert_allclose(full, sm.gradient_energy(sm.open_and_equalize(img), columns=(150, 470)),
                               rtol=1e-4, atol=1e-5)  # float32 running sums over different crops


# ----------------------------------------------------------------------------- the phantom (200 radiographs)

PHANTOM_SIZE = 512  # the test renders 200 radiographs: 512 px wide keeps it to ~15 s (the book uses 1400-2048)
PHANTOM_N = 200


@pytest.fixture(scope="module")
def phantoms():
    phantom = pytest.importorskip("rheumabook.phantom")
    # every other radiograph 16-bit, so both dtypes go through the split
    return [phantom.render(seed, size=PHANTOM_SIZE, dtype=np.uint16 if seed % 2 else np.uint8)
            for seed in range(PHANTOM_N)]


def test_every_true_joint_box_lies_on_its_own_side_of_the_seam(phantoms):
    poses = set()
    worst = np.inf
    for rad in phantoms:
        split = sm.split_hands(rad.image)
        assert len(rad.boxes) == 42
        gaps = split.clearance(rad.boxes)
        assert np.all(gaps >= 0), (rad.meta.get("seed"), rad.boxes[gaps < 0][["hand", "joint"]].values.tolist())
        np.testing.assert_array_equal(split.hand_of(rad.boxes), rad.boxes["hand"].to_numpy())
        worst = min(worst, gaps.min())
        poses.add(round(rad.meta["pose"]["right"]["rotation_deg"]))
    assert len(poses) > 5  # the poses did vary
    assert worst > 0.01 * PHANTOM_SIZE  # and not by a hair: at least 1 % of the width to spare


@pytest.mark.parametrize("mirror_right", [False, True])
def test_phantom_boxes_travel_to_the_halves_and_back(phantoms, mirror_right):
    for rad in phantoms[:20]:
        split = sm.split_hands(rad.image, mirror_right=mirror_right)
        for hand in HANDS:
            boxes = rad.boxes[rad.boxes["hand"] == hand]
            half = split.hand(hand)
            in_half = split.to_half(boxes, hand)
            pd.testing.assert_frame_equal(split.to_radiograph(in_half, hand), boxes)
            xy = in_half[list(BOX_COLUMNS)].to_numpy()
            assert np.all(xy[:, [0, 2]] >= 0) and np.all(xy[:, [0, 2]] <= half.shape[1])  # never cut off
            # the pixels under each (outward-rounded) box are the radiograph's, mirrored if asked
            for (a, b, c, d) in np.column_stack([np.floor(boxes[["x_min", "y_min"]]),
                                                  np.ceil(boxes[["x_max", "y_max"]])]).astype(int):
                (e, f, g, k), = np.round(split.to_half(np.array([[a, b, c, d]]), hand)).astype(int)
                patch = rad.image[b:d, a:c]
                np.testing.assert_array_equal(half[f:k, e:g], patch[:, ::-1] if split.mirrored(hand) else patch)


# ----------------------------------------------------------------------------- SeamConfig


def test_seam_config_defaults_are_the_book_method():
    # the defaults split_hands had as keywords before SeamConfig; chapter 3's numbers depend on them
    config = SeamConfig()
    assert config.band == (0.3, 0.7) == sm.DEFAULT_BAND
    assert (config.opening, config.presmooth, config.smooth, config.fill) == (None, None, None, None)
    assert config.clahe is True and config.clip_limit == 2.0 and config.tiles == 8
    assert config.work_width == 1024 == sm.WORK_WIDTH


def test_seam_config_is_frozen_normalised_and_round_trips():
    config = SeamConfig(band=[0.2, 0.8], opening=np.int64(5), tiles=np.int32(4))
    assert config.band == (0.2, 0.8) and isinstance(config.band, tuple)
    assert type(config.opening) is int and type(config.tiles) is int
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.opening = 3
    assert config.replace(smooth=0) == SeamConfig(band=(0.2, 0.8), opening=5, tiles=4, smooth=0)
    assert SeamConfig(**config.to_json()) == config
    json.dumps(config.to_json())  # JSON-ready: what a cache key hashes


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(band=(0.7, 0.3)), "band"),
        (dict(band="middle"), "band"),
        (dict(band=(0.1, 0.2, 0.3)), "band"),
        (dict(opening=-1), "opening"),
        (dict(presmooth=2.5), "presmooth"),
        (dict(smooth=True), "smooth"),
        (dict(clahe="yes"), "clahe"),
        (dict(clip_limit=0), "clip_limit"),
        (dict(tiles=0), "tiles"),
        (dict(work_width=16), "work_width"),
        (dict(work_width=512.0), "work_width"),
        (dict(fill=-1), "fill"),
    ],
)
def test_bad_seam_configs_are_refused_with_a_clear_message(changes, message):
    with pytest.raises(ValueError, match=message):
        SeamConfig(**changes)
    with pytest.raises(ValueError, match=message):
        SeamConfig().replace(**changes)


def test_config_reaches_the_energy_and_the_fill():
    img, _ = two_blobs(seed=18)
    config = SeamConfig(opening=0, presmooth=0, smooth=0, fill=3)
    split = sm.split_hands(img, config=config, keep_energy=True)
    x0, x1 = split.band
    np.testing.assert_array_equal(split.energy, sm.seam_energy(img, columns=(x0, x1), config=config))
    np.testing.assert_array_equal(
        split.energy, sm.gradient_energy(sm.open_and_equalize(img, opening=0), presmooth=0, smooth=0, columns=(x0, x1)))
    assert split.fill == 3
    assert sm.split_hands(img).energy is None  # kept only when asked


# ----------------------------------------------------------------------------- the survey of cut boxes


class BlobData:
    """A data set (`.patients`, `.image`, `.boxes_of`) of two-blob images with a 21 x 21 box at each blob's centre."""

    def __init__(self, seeds, pad=0):
        self.items = {}
        for seed in seeds:
            img, masks = two_blobs(seed=seed)
            img = np.pad(img, ((0, 0), (pad, 0)), constant_values=int(np.median(img[:, :10])))
            rows = []
            for hand, mask in zip(("right", "left"), masks):  # the image's left blob is the patient's right hand
                ys, xs = np.nonzero(np.pad(mask, ((0, 0), (pad, 0))))
                x, y = np.median(xs), np.median(ys)
                rows.append({"patient_id": f"P{seed}", "hand": hand, "joint": "blob", "x_min": x - 10,
                             "y_min": y - 10, "x_max": x + 11, "y_max": y + 11})
            self.items[f"P{seed}"] = (img, pd.DataFrame(rows))

    @property
    def patients(self):
        return list(self.items)

    def image(self, pid):
        return self.items[pid][0]

    def boxes_of(self, pid):
        return self.items[pid][1]


def test_cuts_is_negative_clearance():
    img, _ = two_blobs(seed=19)
    split = sm.split_hands(img)
    s = split.seam
    boxes = np.array([[s[50] - 2, 50, s[50] + 2, 51], [5, 50, 10, 51], [5, -9, 10, -2]], dtype=float)
    hands = ["right", "right", "right"]
    np.testing.assert_array_equal(split.cuts(boxes, hands), split.clearance(boxes, hands) < 0)
    assert split.cuts(boxes, hands).tolist() == [True, False, False]  # outside the rows: not cut


def test_survey_counts_boxes_cut_and_clearance_per_radiograph():
    data = BlobData([20, 21, 22])
    survey = sm.survey_splits(data)
    assert list(survey.columns) == list(sm.SURVEY_COLUMNS) and list(survey["patient_id"]) == data.patients
    for row in survey.itertuples():
        img, boxes = data.image(row.patient_id), data.boxes_of(row.patient_id)
        gaps = sm.split_hands(img).clearance(boxes)
        assert (row.width, row.boxes, row.cut) == (img.shape[1], 2, int((gaps < 0).sum()))
        assert row.min_clearance_px == gaps.min() and row.seconds > 0
    assert survey["cut"].sum() == 0  # the central band separates the blobs
    summary = sm.summarize_survey(survey)
    assert summary["radiographs"] == 3 and summary["joint_boxes"] == 6 and summary["boxes_cut"] == 0
    assert summary["boxes_on_own_side"] == 1.0 and summary["radiographs_without_cut"] == 1.0
    assert summary["radiographs_cut"] == 0 and summary["first_cut"] is None
    assert summary["min_clearance_frac_width"] == pytest.approx((survey["min_clearance_px"] / survey["width"]).min())
    assert sm.survey_splits(data, ["P22"])["patient_id"].tolist() == ["P22"]


def test_compare_variants_counts_radiographs_with_a_cut():
    # a wide empty strip at the image-left: with the band over the whole width the seam escapes into it
    data = BlobData([23, 24], pad=120)
    variants = {"default": SeamConfig(), "whole width": SeamConfig(band=(0.0, 1.0))}
    table = sm.compare_variants(data, variants)
    assert list(table.index) == ["default", "whole width"] and table.index.name == "variant"
    assert table.loc["default", "radiographs_cut"] == 0 and pd.isna(table.loc["default", "first_cut"])
    assert table.loc["whole width", "radiographs_cut"] == 2 and table.loc["whole width", "first_cut"] == "P23"
    assert table.loc["whole width", "boxes_cut"] >= 2
    assert sm.first_cut(data, variants["whole width"]) == "P23"
    assert sm.first_cut(data, variants["whole width"], ["P24"]) == "P24"
    assert sm.first_cut(data) is None
    assert set(sm.SEAM_VARIANTS) >= {"book default", "band = whole width (0, 1)", "CLAHE without opening, plain Sobel"}


def test_survey_errors():
    data = BlobData([25])
    with pytest.raises(ValueError, match="no radiographs"):
        sm.survey_splits(data, [])
    with pytest.raises(ValueError, match="SeamConfig"):
        sm.compare_variants(data, {"bad": {"band": (0.0, 1.0)}})
    with pytest.raises(ValueError, match="survey_splits"):
        sm.summarize_survey(pd.DataFrame())
