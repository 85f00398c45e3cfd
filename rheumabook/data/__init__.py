"""Data sets on disk and in memory: the book's layout, the phantom data set, the public release (paper §3.1).

- `dataset`: the in-memory `Dataset` and `load_dataset`, which reads the book's layout (described there);
- `images`: image files, `read_image` (PNG, JPEG, TIFF, MetaImage .mha/.mhd, DICOM) and `write_png`;
  `working_image`, the one uint8 representation every stage works on (bit depth changes no result);
- `tables`: reading and validating the CSV tables, errors naming the file and line;
- `phantom_writer`: `write_phantom_dataset` renders the phantom data set in that layout; `dataset_lesions`
  re-draws its radiographs' lesion geometry (chapter 6's pointing game);
- `release`: the public release of the clinic's annotations (AIRINIIReumHands);
- `chapter`: `chapter_dataset`, what chapters 1-4 call to get their data (and its cache folder);
  `stream_dataset`, more phantom patients from a seed stream of their own (the scorer's training patients).

Column tuples and the patient order live in `rheumabook.schema`, folders and atomic writes in
`rheumabook.cache`. Statistics that describe a data set are in `rheumabook.stats`.
"""
from .chapter import chapter_dataset, dataset_identity, phantom_dir, stream_dataset, stream_seed
from .dataset import IMAGE_SUFFIXES, LAYOUT_VERSION, Dataset, load_dataset, read_image, write_png
from .errors import DatasetError, MissingDatasetFileError
from .images import READABLE_SUFFIXES, read_dicom, read_metaimage, working_image, write_metaimage
from .phantom_writer import (dataset_lesions, generator_fingerprint, patient_ids, phantom_streams,
                             write_phantom_dataset)
from .release import (RELEASE_BOX_COLUMNS, RELEASE_DISEASES, RELEASE_DX_IS_FULL_WIDTH, RELEASE_HANDS,
                      RELEASE_JOINT_MAP, RELEASE_SCORE_COLUMNS, convert_public_release, find_public_release,
                      load_public_release, map_release_names, release_boxes_to_corners)
from .tables import to_long, uniform_truth

__all__ = [
    "Dataset", "load_dataset", "read_image", "write_png", "LAYOUT_VERSION", "IMAGE_SUFFIXES",
    "DatasetError", "MissingDatasetFileError",
    "READABLE_SUFFIXES", "read_metaimage", "read_dicom", "write_metaimage", "working_image",
    "patient_ids", "phantom_streams", "generator_fingerprint", "write_phantom_dataset", "dataset_lesions",
    "RELEASE_SCORE_COLUMNS", "RELEASE_BOX_COLUMNS", "RELEASE_DX_IS_FULL_WIDTH", "RELEASE_JOINT_MAP",
    "RELEASE_DISEASES", "RELEASE_HANDS", "map_release_names", "release_boxes_to_corners",
    "load_public_release", "convert_public_release", "find_public_release",
    "chapter_dataset", "dataset_identity", "phantom_dir", "stream_dataset", "stream_seed", "to_long", "uniform_truth",
]
