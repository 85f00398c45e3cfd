"""Inputs of the pipeline: PNG, JPEG, 8/16-bit TIFF and DICOM files (built here, no downloads) read by
`data.read_image`, the DICOM VOI window against hand-computed values, and `seam.split_hands` refusing a blank image."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rheumabook import data
from rheumabook.data.images import dicom_window
from rheumabook.pipeline import InputError, load_input
from rheumabook.seam import split_hands

from dicom_files import write_dicom


RAMP = np.tile(np.arange(0, 4000, 100, dtype=np.uint16), (8, 1))  # 8 x 40 stored values 0..3900


def window_by_hand(x: float, c: float, w: float) -> float:
    """DICOM PS3.3 C.11.2.1.2.1 LINEAR, written out as the standard's three cases, in 0..1."""
    if x <= c - 0.5 - (w - 1) / 2:
        return 0.0
    if x > c - 0.5 + (w - 1) / 2:
        return 1.0
    return (x - (c - 0.5)) / (w - 1) + 0.5


def test_dicom_window_is_the_standards_linear_function():
    x = np.arange(-10, 4100, 7, dtype=np.float64)
    got = dicom_window(x, 2000, 1001)
    np.testing.assert_allclose(got, [window_by_hand(v, 2000, 1001) for v in x])
    np.testing.assert_allclose(dicom_window(np.array([1000.0, 1500, 2000]), 1500, 1000, function="linear_exact"),
                               [0.0, 0.5, 1.0])
    np.testing.assert_allclose(dicom_window(np.array([1500.0]), 1500, 1000, function="SIGMOID"), [0.5])
    with pytest.raises(ValueError, match="VOILUTFunction"):
        dicom_window(x, 1, 2, function="CUBIC")


def test_dicom_rescale_window_and_monochrome1(tmp_path):
    plain = data.read_image(write_dicom(tmp_path / "plain.dcm", RAMP))
    assert plain.dtype == np.uint16 and np.array_equal(plain, RAMP)  # no rescale, window or inversion: as stored
    # rescale (modality LUT) first, then the window on the rescaled values: slope 2, intercept -1000
    rescaled = 2.0 * RAMP - 1000
    win = data.read_image(write_dicom(tmp_path / "win.dcm", RAMP, RescaleSlope=2, RescaleIntercept=-1000,
                                      WindowCenter=3000, WindowWidth=4001))
    expected = np.rint(np.vectorize(window_by_hand)(rescaled, 3000.0, 4001.0) * 65535).astype(np.uint16)
    np.testing.assert_array_equal(win, expected)
    assert win.min() == 0 and win.max() == 65535  # the window clips both ends of this ramp
    # MONOCHROME1: inverted after the window (bright = little attenuation on the film)
    mono1 = data.read_image(write_dicom(tmp_path / "m1.dcm", RAMP, PhotometricInterpretation="MONOCHROME1",
                                        RescaleSlope=2, RescaleIntercept=-1000, WindowCenter=3000, WindowWidth=4001))
    np.testing.assert_array_equal(mono1, 65535 - expected)
    # several windows: the first one counts
    multi = data.read_image(write_dicom(tmp_path / "multi.dcm", RAMP, WindowCenter=[2000, 100], WindowWidth=[1001, 50]))
    np.testing.assert_array_equal(multi, np.rint(np.vectorize(window_by_hand)(RAMP.astype(float), 2000.0, 1001.0)
                                                 * 65535).astype(np.uint16))
    # MONOCHROME1 without a window: inverted, stretched to uint16
    inv = data.read_image(write_dicom(tmp_path / "inv.dcm", RAMP, PhotometricInterpretation="MONOCHROME1"))
    assert (np.diff(inv[0].astype(int)) < 0).all()
    bad = write_dicom(tmp_path / "bad.dcm", RAMP, WindowCenter=10, WindowWidth=20, VOILUTFunction="CUBIC")
    with pytest.raises(data.DatasetError, match="bad.dcm.*VOILUTFunction"):
        data.read_image(bad)


@pytest.mark.parametrize("suffix, dtype", [(".png", np.uint8), (".png", np.uint16), (".tif", np.uint8),
                                           (".tif", np.uint16), (".jpg", np.uint8)])
def test_raster_files_read_back(tmp_path, suffix, dtype):
    rng = np.random.default_rng(1)
    top = 255 if dtype == np.uint8 else 4095
    image = cv2.GaussianBlur(rng.integers(0, top, (60, 80)).astype(np.float32), (0, 0), 3)
    image = np.clip(np.rint(image), 0, top).astype(dtype)
    path = tmp_path / f"film{suffix}"
    assert cv2.imwrite(str(path), image)
    got = data.read_image(path)
    assert got.dtype == dtype and got.shape == image.shape
    if suffix == ".jpg":  # lossy
        assert np.abs(got.astype(int) - image.astype(int)).mean() < 2
    else:
        np.testing.assert_array_equal(got, image)
    colour = tmp_path / f"colour{suffix}"  # a colour file of a gray radiograph reads as gray
    if dtype == np.uint8:
        cv2.imwrite(str(colour), np.dstack([image] * 3))
        assert data.read_image(colour).ndim == 2


def test_load_input_names_the_file_and_the_fix(tmp_path):
    (tmp_path / "scan.dcm").write_bytes(b"DICM? no")
    (tmp_path / "x.tif").write_bytes(b"")
    for name, message in (("scan.dcm", "scan.dcm: not a readable DICOM.*Fix: give a radiograph file"),
                          ("x.tif", "x.tif: cannot decode"), ("gone.png", "gone.png: image file is missing")):
        with pytest.raises(InputError, match=message):
            load_input(tmp_path / name)
    with pytest.raises(InputError, match="array\\[0\\]: image dtype float64"):
        load_input(np.zeros((200, 200)))
    with pytest.raises(InputError, match="array\\[0\\]: image must be 2-D"):
        load_input(np.zeros((4, 200, 200), np.uint8))


def test_split_hands_refuses_a_constant_image():
    for image in (np.zeros((64, 96), np.uint8), np.full((64, 96), 4095, np.uint16)):
        with pytest.raises(ValueError, match="constant .*blank film"):
            split_hands(image)
    step = np.zeros((64, 96), np.uint8)
    step[:, 60:] = 1  # one gray level of difference is not constant: it splits
    assert split_hands(step).shape == (64, 96)


@pytest.mark.parametrize("seed", [7, 16, 34])  # films with collimation bands, labels and a ruler along the top
def test_orientation_reads_the_hands_not_the_bands_and_labels(seed):
    from rheumabook.phantom import render
    from rheumabook.pipeline import InputError, checks
    from rheumabook.seam import split_hands

    image = render(seed, size=1400).image
    checks.check_radiograph(image, "film", "both", split_hands(image).seam)  # upright: accepted
    flipped = np.ascontiguousarray(np.rot90(image, 2))
    with pytest.raises(InputError, match="upside down"):
        checks.check_radiograph(flipped, "film", "both", split_hands(flipped).seam)
