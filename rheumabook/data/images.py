"""Reading and writing radiograph files: PNG/JPEG/TIFF/BMP (OpenCV), MetaImage (.mha/.mhd) and DICOM.

`read_image(path)` is the one reader every part of the book calls; it returns a 2-D uint8 or
uint16 array (y, x), the book's image convention, and raises `DatasetError` naming the file
when it cannot.

- PNG, JPEG, TIFF, BMP: OpenCV (``IMREAD_UNCHANGED``; a colour file becomes gray).
- MetaImage (`read_metaimage`, no extra dependency): the ITK text header (``NDims``,
  ``DimSize``, ``ElementType``, ``ElementDataFile``, ``CompressedData`` zlib, byte order,
  ``HeaderSize``), data LOCAL (.mha) or in a side file (.mhd + .raw); a 3-D image must have one
  slice. MET_UCHAR / MET_USHORT come back as they are; other types are scaled to uint16.
- DICOM (`read_dicom`, pydicom): rescale slope / intercept applied (the modality LUT), then the
  first VOI window (WindowCenter / WindowWidth, `dicom_window`: LINEAR, LINEAR_EXACT or
  SIGMOID, DICOM PS3.3 C.11.2.1.2) mapped onto 0..65535, then MONOCHROME1 (bright = little
  attenuation) inverted so that bone is bright as in every other image; integer pixel data
  within uint8 / uint16 without rescaling, window or inversion stays as it is, anything else
  without a window is stretched to uint16.
`write_png` and `write_metaimage` write 2-D images losslessly (the tests' synthetic "real" sets).

`working_image` is the one representation every stage works on (the localiser's and the scorer's
training data, the pipeline, the real-image check): uint8, scaled so that the image's maximum is
255, so that the bit depth a film was stored in cannot change a box or a grade.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from .errors import DatasetError, MissingDatasetFileError

__all__ = ["IMAGE_SUFFIXES", "METAIMAGE_SUFFIXES", "DICOM_SUFFIXES", "READABLE_SUFFIXES", "read_image",
           "read_metaimage", "read_dicom", "dicom_window", "write_png", "write_metaimage", "to_uint16",
           "working_image"]

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpeg", ".jpg", ".tif", ".tiff", ".bmp")
"""Image files a data set in the book's layout may hold; the book writes PNG (lossless, keeps uint16)."""
METAIMAGE_SUFFIXES: tuple[str, ...] = (".mha", ".mhd")
DICOM_SUFFIXES: tuple[str, ...] = (".dcm", ".dicom")
READABLE_SUFFIXES: tuple[str, ...] = IMAGE_SUFFIXES + METAIMAGE_SUFFIXES + DICOM_SUFFIXES
"""Every file type `read_image` reads."""

PNG_COMPRESSION = 3  # zlib level: lossless either way; 3 is ~3x faster to write than 9 and ~10 % larger

_MET_TYPES = {"MET_UCHAR": np.uint8, "MET_CHAR": np.int8, "MET_USHORT": np.uint16, "MET_SHORT": np.int16,
              "MET_UINT": np.uint32, "MET_INT": np.int32, "MET_FLOAT": np.float32, "MET_DOUBLE": np.float64}


def to_uint16(values: np.ndarray) -> np.ndarray:
    """Any numeric image linearly stretched to the full uint16 range (min -> 0, max -> 65535)."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
    if hi <= lo:
        return np.zeros(v.shape, np.uint16)
    return np.clip(np.rint((v - lo) * (65535.0 / (hi - lo))), 0, 65535).astype(np.uint16)


def working_image(image: np.ndarray) -> np.ndarray:
    """A 2-D uint8/uint16 radiograph as every stage works on it: uint8, scaled so that its maximum is 255.

    Bit depth cannot change a result: a uint8 film, its 16-bit copy (x 257, as a DICOM reads back)
    and its 12-bit copy (x 16) come out byte for byte equal. The scaling is computed as
    (x * 255) / max in float64: on integers below 2**53 the product is exact, so every copy
    divides the same rational number, and IEEE division rounds it the same way. The scale keeps
    zero where it is (no offset is removed): a uint8 image that reaches 255, which every phantom
    radiograph does (its side markers are saturated), comes out unchanged, so the models' training
    data are what they were. An all-zero image stays zero (the pipeline refuses it as blank).
    """
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"a radiograph must be 2-D uint8 or uint16, got shape {image.shape} dtype {image.dtype}")
    top = int(image.max()) if image.size else 0
    if image.dtype == np.uint8 and top == 255:
        return image  # already the working representation: no copy
    if top == 0:
        return np.zeros(image.shape, np.uint8)
    return np.rint((image.astype(np.float64) * 255.0) / float(top)).astype(np.uint8)


def _raster(path: Path) -> np.ndarray:
    """PNG / JPEG / TIFF / BMP via OpenCV, colour -> gray."""
    import cv2

    # np.fromfile + imdecode instead of cv2.imread: works with non-ASCII paths too.
    buf = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if image is None:
        raise DatasetError(f"{path}: cannot decode the image (corrupt, truncated or not an image file); "
                           f"replace it with a readable {', '.join(READABLE_SUFFIXES)} file")
    if image.ndim == 3:  # a colour JPEG of a radiograph: the channels are equal, keep one gray plane
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    return image


def read_image(path: Path | str) -> np.ndarray:
    """Read a radiograph file (any of `READABLE_SUFFIXES`) as a 2-D uint8/uint16 array (y, x).

    Raises `MissingDatasetFileError` when the file is missing and `DatasetError` naming the file
    when it cannot be decoded or is not a 2-D grayscale image.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDatasetFileError(f"{path}: image file is missing")
    suffix = path.suffix.lower()
    if suffix in METAIMAGE_SUFFIXES:
        image = read_metaimage(path)
    elif suffix in DICOM_SUFFIXES:
        image = read_dicom(path)
    else:
        image = _raster(path)
    if image.ndim != 2:
        raise DatasetError(f"{path}: expected a 2-D grayscale image, got shape {image.shape}")
    if image.dtype not in (np.uint8, np.uint16):
        raise DatasetError(f"{path}: image dtype {image.dtype} is not uint8 or uint16")
    return image


def _metaimage_header(path: Path, raw: bytes) -> tuple[dict[str, str], int]:
    """(header fields, offset of the pixel data in `raw`) of a MetaImage file."""
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        end = len(raw) if end < 0 else end
        line = raw[pos:end].decode("latin-1").strip()
        pos = end + 1
        if not line:
            continue
        if "=" not in line:
            raise DatasetError(f"{path}: not a MetaImage header line: {line[:60]!r}")
        key, value = (part.strip() for part in line.split("=", 1))
        fields[key] = value
        if key == "ElementDataFile":  # always the last header field
            return fields, pos
    raise DatasetError(f"{path}: MetaImage header without ElementDataFile")


def read_metaimage(path: Path | str) -> np.ndarray:
    """A 2-D MetaImage (.mha with LOCAL data, or .mhd + data file), raw or zlib-compressed; see the module docstring."""
    path = Path(path)
    raw = path.read_bytes()
    fields, offset = _metaimage_header(path, raw)
    try:
        dims = [int(v) for v in fields["DimSize"].split()]
        dtype = np.dtype(_MET_TYPES[fields.get("ElementType", "")])
    except KeyError:
        raise DatasetError(f"{path}: MetaImage needs DimSize and an ElementType of {sorted(_MET_TYPES)}, "
                           f"got {fields.get('DimSize')!r}, {fields.get('ElementType')!r}") from None
    if int(fields.get("ElementNumberOfChannels", "1")) != 1 or len(dims) < 2 or any(d != 1 for d in dims[2:]):
        raise DatasetError(f"{path}: only single-channel 2-D MetaImages (or 3-D with one slice) are read; "
                           f"DimSize {dims}")
    n = dims[0] * dims[1]
    source = fields["ElementDataFile"]
    if source != "LOCAL":
        data_path = path.parent / source
        if not data_path.is_file():
            raise MissingDatasetFileError(f"{path}: its data file {source!r} is missing")
        raw = data_path.read_bytes()
        skip = int(fields.get("HeaderSize", "0"))  # -1: the data are the file's last bytes
        offset = len(raw) - n * dtype.itemsize if skip == -1 else max(skip, 0)
    data = raw[offset:]
    if fields.get("CompressedData", "False").lower() == "true":
        try:
            data = zlib.decompress(data)
        except zlib.error as exc:
            raise DatasetError(f"{path}: corrupt zlib-compressed MetaImage data ({exc})") from None
    msb = fields.get("ElementByteOrderMSB", fields.get("BinaryDataByteOrderMSB", "False")).lower() == "true"
    if len(data) < n * dtype.itemsize:
        raise DatasetError(f"{path}: MetaImage data holds {len(data)} bytes, {n * dtype.itemsize} expected "
                           f"(truncated file?)")
    image = np.frombuffer(data, dtype=dtype.newbyteorder(">" if msb else "<"), count=n).reshape(dims[1], dims[0])
    if image.dtype.kind == "u" and image.dtype.itemsize <= 2:
        return image.astype(image.dtype.newbyteorder("="))
    return to_uint16(image)


def read_dicom(path: Path | str) -> np.ndarray:
    """A 2-D grayscale DICOM image via pydicom: rescale slope/intercept, the VOI window, MONOCHROME1 inverted."""
    try:
        import pydicom
        from pydicom.errors import InvalidDicomError
    except ImportError:  # pragma: no cover - pydicom is a dependency
        raise DatasetError(f"{path}: reading DICOM needs pydicom (pip install 'pydicom>=2.4')") from None
    path = Path(path)
    try:
        ds = pydicom.dcmread(str(path))
        pixels = ds.pixel_array
    except (InvalidDicomError, AttributeError, ValueError, TypeError, OSError) as exc:
        raise DatasetError(f"{path}: not a readable DICOM image ({type(exc).__name__}: {exc})") from None
    if pixels.ndim != 2:
        raise DatasetError(f"{path}: expected a 2-D grayscale DICOM image, got pixel data of shape {pixels.shape}")
    slope, intercept = float(getattr(ds, "RescaleSlope", 1) or 1), float(getattr(ds, "RescaleIntercept", 0) or 0)
    inverted = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper() == "MONOCHROME1"
    window = _window_of(ds)
    if slope == 1 and intercept == 0 and window is None and not inverted and pixels.dtype in (np.uint8, np.uint16):
        return pixels
    values = pixels.astype(np.float64) * slope + intercept
    if window is not None:
        try:
            unit = dicom_window(values, *window, function=str(getattr(ds, "VOILUTFunction", "LINEAR") or "LINEAR"))
        except ValueError as exc:
            raise DatasetError(f"{path}: {exc}") from None
        return np.rint((1.0 - unit if inverted else unit) * 65535.0).astype(np.uint16)
    if inverted:
        values = values.max() + values.min() - values
    return to_uint16(values)


def _first(value: object) -> float:
    """The first number of a DICOM value that may be multi-valued (several windows)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return float(value)
    return float(value[0])


def _window_of(ds: object) -> tuple[float, float] | None:
    """(center, width) of a DICOM data set's first VOI window, or None when it has none (or width < 1)."""
    center, width = getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)
    if center is None or width is None:
        return None
    center, width = _first(center), _first(width)
    return (center, width) if width >= 1 else None


def dicom_window(values: np.ndarray, center: float, width: float, *, function: str = "LINEAR") -> np.ndarray:
    """The VOI window of DICOM PS3.3 C.11.2.1.2 applied to (rescaled) `values`, as float64 in 0..1.

    LINEAR: 0 below c - 0.5 - (w - 1) / 2, 1 above c - 0.5 + (w - 1) / 2, linear in between
    ((x - (c - 0.5)) / (w - 1) + 0.5); LINEAR_EXACT: (x - c) / w + 0.5, clipped; SIGMOID:
    1 / (1 + exp(-4 (x - c) / w)).
    """
    x = np.asarray(values, dtype=np.float64)
    function = function.strip().upper()
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    if function == "LINEAR_EXACT":
        return np.clip((x - center) / width + 0.5, 0.0, 1.0)
    if function != "LINEAR":
        raise ValueError(f"unknown VOILUTFunction {function!r}; DICOM defines LINEAR, LINEAR_EXACT and SIGMOID")
    if width <= 1:
        return (x > center - 0.5).astype(np.float64)
    return np.clip((x - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def write_png(path: Path | str, image: np.ndarray) -> None:
    """Write a 2-D uint8/uint16 image losslessly as PNG (same image -> same bytes)."""
    import cv2

    image = np.asarray(image)
    if image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"a radiograph must be a 2-D uint8 or uint16 array, got shape {image.shape} dtype {image.dtype}")
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:  # pragma: no cover - cv2 encodes any 2-D uint8/uint16 array
        raise OSError(f"cv2 could not encode {Path(path).name} as PNG")
    Path(path).write_bytes(buf.tobytes())


def write_metaimage(path: Path | str, image: np.ndarray, *, compress: bool = False,
                    spacing_mm: float = 1.0) -> Path:
    """Write a 2-D uint8/uint16 image as a MetaImage .mha (LOCAL data, optionally zlib-compressed)."""
    image = np.ascontiguousarray(image)
    if image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"a radiograph must be a 2-D uint8 or uint16 array, got shape {image.shape} dtype {image.dtype}")
    data = image.astype(image.dtype.newbyteorder("<")).tobytes()
    if compress:
        data = zlib.compress(data)
    kind = "MET_UCHAR" if image.dtype == np.uint8 else "MET_USHORT"
    header = [("ObjectType", "Image"), ("NDims", "2"), ("BinaryData", "True"), ("BinaryDataByteOrderMSB", "False"),
              ("CompressedData", str(compress))]
    if compress:
        header.append(("CompressedDataSize", str(len(data))))
    header += [("ElementSpacing", f"{spacing_mm} {spacing_mm}"), ("DimSize", f"{image.shape[1]} {image.shape[0]}"),
               ("ElementType", kind), ("ElementDataFile", "LOCAL")]
    path = Path(path)
    path.write_bytes("".join(f"{k} = {v}\n" for k, v in header).encode("ascii") + data)
    return path
