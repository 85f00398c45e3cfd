"""The pointing game (`explain.pointing`) on planted maps: hits inside the lesion, misses outside, the tie rules."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rheumabook.explain import POINTING_MODES, centre_prior, pointing_hits, pointing_table

SIZE = 40


def blob(cx: float, cy: float, sigma: float = 2.0, size: int = SIZE) -> np.ndarray:
    d = np.arange(size) + 0.5
    return np.exp(-((d[None, :] - cx) ** 2 + (d[:, None] - cy) ** 2) / (2 * sigma**2))


def lesion(x0: int, y0: int, x1: int, y1: int, size: int = SIZE) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[y0:y1, x0:x1] = True
    return mask


LESION = lesion(24, 8, 32, 16)  # an 8 x 8 lesion up and right of the centre


@pytest.mark.parametrize("mode", POINTING_MODES)
def test_a_map_peaking_inside_hits_and_outside_misses(mode):
    maps = np.stack([blob(28, 12), blob(10, 30), blob(28, 12) + 0.5 * blob(10, 30)])
    hits = pointing_hits(maps, LESION, mode=mode)
    assert hits.dtype == bool and hits.tolist() == [True, False, True]
    torch_hits = pointing_hits(torch.as_tensor(maps), torch.as_tensor(np.broadcast_to(LESION, maps.shape).copy()),
                               mode=mode)
    assert torch_hits.tolist() == hits.tolist()


def test_peak_and_mass_differ_on_a_lone_spike():
    """One hot pixel outside decides the peak; the top 5 % of pixels still lie on the lesion."""
    spiky = blob(28, 12, sigma=3.0)
    spiky[35, 3] = 2.0
    assert pointing_hits(spiky, LESION, "peak").tolist() == [False]
    assert pointing_hits(spiky, LESION, "mass").tolist() == [True]


def test_mass_mode_counts_the_top_share_of_pixels():
    """Top 5 % of 1600 pixels = 80 pixels; at least half of them inside the mask hits."""
    values = np.zeros((SIZE, SIZE))
    values[24:34, 0:8] = 1.0  # 80 pixels, none on the lesion
    assert pointing_hits(values, LESION, "mass").tolist() == [False]
    values[8:13, 24:32] = 1.0  # 40 tied pixels join the top set: 40 of 120 inside, under half
    assert pointing_hits(values, LESION, "mass").tolist() == [False]
    values[8:13, 24:32] = 2.0  # the 40 on the lesion lead
    assert pointing_hits(values, LESION, "mass", top=40 / SIZE**2).tolist() == [True]  # the top 40: all inside
    # top 80: the 40 leaders and all 80 pixels tied at the threshold (ties all count): 40 of 120 inside
    assert pointing_hits(values, LESION, "mass", top=0.05).tolist() == [False]
    assert pointing_hits(values, LESION, "mass", top=1.0).tolist() == [False]  # every pixel: 64 of 1600


def test_ties_flat_maps_hit_only_large_masks():
    flat = np.ones((SIZE, SIZE))
    left_half, small = lesion(0, 0, SIZE // 2, SIZE), LESION
    for mode in POINTING_MODES:
        assert pointing_hits(flat, small, mode).tolist() == [False]
        assert pointing_hits(flat, left_half, mode).tolist() == [True]  # exactly half of the tied pixels
    two = np.zeros((SIZE, SIZE))
    two[12, 28] = two[30, 10] = 1.0  # two equal maxima, one inside: half inside counts as a hit
    assert pointing_hits(two, LESION, "peak").tolist() == [True]
    two[31, 10] = 1.0  # one of three inside: a miss
    assert pointing_hits(two, LESION, "peak").tolist() == [False]


def test_centre_prior_hits_a_central_mask_and_misses_a_corner():
    for size in (40, 41):
        prior = centre_prior(size, sigma=size / 6)
        assert prior.shape == (size, size) and abs(prior.sum() - 1.0) < 1e-12
        np.testing.assert_allclose(prior, prior[::-1, :])
        np.testing.assert_allclose(prior, prior.T)
        centre = lesion(size // 2 - 4, size // 2 - 4, size // 2 + 4, size // 2 + 4, size)
        corner = lesion(0, 0, 10, 10, size)
        for mode in POINTING_MODES:
            assert pointing_hits(prior, centre, mode).tolist() == [True]
            assert pointing_hits(prior, corner, mode).tolist() == [False]
    assert centre_prior(40).argmax() in {19 * 40 + 19, 19 * 40 + 20, 20 * 40 + 19, 20 * 40 + 20}


def test_pointing_table_rates_and_patient_intervals():
    maps = np.stack([blob(28, 12)] * 6 + [blob(10, 30)] * 4)  # 6 hits, 4 misses
    patients = ["p1", "p1", "p2", "p2", "p3", "p3", "p4", "p4", "p5", "p5"]
    table = pointing_table({"planted": maps, "prior": np.broadcast_to(centre_prior(SIZE), maps.shape)}, LESION,
                           patients, n_boot=200)
    assert list(table.columns) == ["maps", "mode", "hit_rate", "hit_rate_low", "hit_rate_high", "n_crops",
                                   "n_patients", "chance"]
    assert table[["maps", "mode"]].values.tolist() == [["planted", "peak"], ["planted", "mass"],
                                                      ["prior", "peak"], ["prior", "mass"]]
    planted = table[table.maps == "planted"]
    assert (planted.hit_rate == 0.6).all() and (planted.n_crops == 10).all() and (planted.n_patients == 5).all()
    assert (planted.hit_rate_low <= 0.6).all() and (planted.hit_rate_high >= 0.6).all()
    assert (planted.hit_rate_low < planted.hit_rate_high).all()
    assert (table[table.maps == "prior"].hit_rate == 0.0).all()  # the lesion is off-centre
    np.testing.assert_allclose(table.chance, LESION.mean())


@pytest.mark.parametrize("maps, masks, kwargs, words", [
    (np.zeros((2, 8, 8)), np.zeros((2, 8, 9), bool), {}, "do not fit"),
    (np.zeros((3, 8, 8)), np.ones((2, 8, 8), bool), {}, "do not fit"),
    (np.zeros((0, 8, 8)), np.ones((8, 8), bool), {}, "empty"),
    (np.zeros((8,)), np.ones((8,), bool), {}, r"\(N, H, W\)"),
    (np.zeros((8, 8)), np.ones((8, 8)), {}, "boolean"),
    (np.zeros((2, 8, 8)), np.stack([np.ones((8, 8), bool), np.zeros((8, 8), bool)]), {}, "mask 1 has no pixel"),
    (np.full((8, 8), np.nan), np.ones((8, 8), bool), {}, "missing or infinite"),
    (np.zeros((8, 8)), np.ones((8, 8), bool), {"mode": "max"}, "mode"),
    (np.zeros((8, 8)), np.ones((8, 8), bool), {"mode": "mass", "top": 0.0}, "top"),
    (np.zeros((8, 8)), np.ones((8, 8), bool), {"mode": "mass", "top": 1.5}, "top"),
])
def test_errors(maps, masks, kwargs, words):
    with pytest.raises(ValueError, match=words):
        pointing_hits(maps, masks, **kwargs)


def test_prior_and_table_errors():
    for size, sigma in ((0, None), (10, 0.0), (10, float("inf")), (2.5, None)):
        with pytest.raises(ValueError):
            centre_prior(size, sigma)
    with pytest.raises(ValueError, match="one id per crop"):
        pointing_table({"m": np.zeros((3, 8, 8))}, np.ones((8, 8), bool), ["a", "b"])
    with pytest.raises(ValueError, match="maps is empty"):
        pointing_table({}, np.ones((8, 8), bool), [])


def test_verdicts_come_from_the_intervals_alone():
    from rheumabook.explain import pointing_verdicts

    table = pd.DataFrame([
        {"maps": "ours", "mode": "peak", "hit_rate": 0.8, "hit_rate_low": 0.7, "hit_rate_high": 0.9},
        {"maps": "random", "mode": "peak", "hit_rate": 0.3, "hit_rate_low": 0.2, "hit_rate_high": 0.4},
        {"maps": "centre", "mode": "peak", "hit_rate": 0.75, "hit_rate_low": 0.6, "hit_rate_high": 0.85},
        {"maps": "ours", "mode": "mass", "hit_rate": 0.2, "hit_rate_low": 0.1, "hit_rate_high": 0.3},
        {"maps": "random", "mode": "mass", "hit_rate": 0.5, "hit_rate_low": 0.4, "hit_rate_high": 0.6},
        {"maps": "centre", "mode": "mass", "hit_rate": 0.3, "hit_rate_low": 0.3, "hit_rate_high": 0.5},
    ])
    v = pointing_verdicts(table, "ours", ["random", "centre"]).set_index(["mode", "baseline"])["verdict"]
    assert v[("peak", "random")] == "higher" and v[("mass", "random")] == "lower"
    assert v[("peak", "centre")] == v[("mass", "centre")] == "no difference measured at this scale"  # touching counts
    with pytest.raises(ValueError, match="no pointing-table row"):
        pointing_verdicts(table, "ours", ["saliency"])
