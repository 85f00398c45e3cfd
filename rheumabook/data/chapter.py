"""What chapters 1-4 call to get their data: `chapter_dataset`, and the phantom's cache folder.

Without a `data_root` a chapter works on the profile's phantom, written once to
`phantom_dir(profile, seed)` under the artifacts folder (`cache.artifacts_dir`) and reused while
its dataset.json matches what the profile asks for, the code that generated it included
(`phantom_writer.generator_fingerprint`). With a `data_root` it reads the real data, in the
book's layout or the public release's. What it prints names folders with `cache.display_path`,
never an absolute path of the machine that ran it (it would end up in the rendered book).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from ..cache import artifacts_dir, display_path
from ..schema import SCORES_COLUMNS
from .dataset import LAYOUT_VERSION, Dataset, load_dataset
from .errors import DatasetError, MissingDatasetFileError
from .phantom_writer import generator_fingerprint, write_phantom_dataset
from .release import RELEASE_BOX_COLUMNS, RELEASE_SCORE_COLUMNS, find_public_release, load_public_release
from .tables import csv_header

__all__ = ["phantom_dir", "chapter_dataset", "dataset_identity", "stream_seed", "stream_dataset"]


def phantom_dir(profile_name: str, seed: int) -> Path:
    """Cache folder of a profile's phantom data set: `<artifacts>/phantom/<profile>-seed<seed>`."""
    return artifacts_dir() / "phantom" / f"{profile_name}-seed{seed}"


def chapter_dataset(data_root: Path | str | None = None, profile: Any = "auto", seed: int = 0, *,
                    progress: bool = True) -> Dataset:
    """The data set of chapters 1-4.

    - `data_root` given: the real data, in the book's layout (`load_dataset`) or the public
      release's (`find_public_release` + `load_public_release`), detected from the files.
    - else: the profile's phantom (`profile.data.n_patients` radiographs at
      `profile.data.image_size` px), written once to `phantom_dir(profile.name, seed)` and reused
      while it matches. Prints which.
    `profile` is a `profiles.Profile` or a name ("auto", "quick", "full").
    """
    from ..profiles import Profile, get_profile

    if data_root is not None:
        return _real_dataset(Path(data_root).expanduser())
    cfg = profile if isinstance(profile, Profile) else get_profile(profile)
    return _phantom_dataset(phantom_dir(cfg.name, seed), cfg.data.n_patients, seed, cfg.data.image_size, progress)


def stream_seed(seed: int, stream: str) -> int:
    """The seed of a named phantom stream beside a chapter's (`stream_dataset`): independent of the
    chapter's patients and of every other stream, the same on every machine."""
    import zlib

    import numpy as np

    return int(np.random.SeedSequence([int(seed), zlib.crc32(stream.encode())]).generate_state(1)[0])


def stream_dataset(profile: Any, seed: int, stream: str, n_patients: int, *, progress: bool = True) -> Dataset:
    """`n_patients` more phantom patients from the named seed stream `stream` (e.g. "scoring": the
    scorer's training patients), rendered at the profile's image size and scored by the three
    simulated radiologists exactly as the chapter's own, cached beside it in
    `<artifacts>/phantom/<profile>-seed<seed>-<stream>` and reused while it matches. A smaller
    count is a prefix of a larger one (`phantom_writer.phantom_streams`)."""
    from ..profiles import Profile, get_profile

    cfg = profile if isinstance(profile, Profile) else get_profile(profile)
    root = phantom_dir(cfg.name, seed).with_name(f"{cfg.name}-seed{seed}-{stream}")
    return _phantom_dataset(root, int(n_patients), stream_seed(seed, stream), cfg.data.image_size, progress)


def _real_dataset(data_root: Path) -> Dataset:
    """The real data set in `data_root`: the book's layout if it has one, else the public release's files."""
    if not data_root.is_dir():
        raise MissingDatasetFileError(f"data_root {data_root} is not a folder; point it at the real data set "
                                      f"(the book's layout or the public release's CSVs and images)")
    if (data_root / "dataset.json").is_file() or set(SCORES_COLUMNS) <= csv_header(data_root / "scores.csv"):
        ds = load_dataset(data_root)
        print(f"Real data set from {display_path(data_root)}: {ds!r}")
        return ds
    found = find_public_release(data_root)
    if found is None:
        raise MissingDatasetFileError(
            f"{data_root}: neither the book's layout (scores.csv, boxes.csv, images/) nor the public release "
            f"(a CSV with columns {', '.join(RELEASE_SCORE_COLUMNS)}, one with {', '.join(RELEASE_BOX_COLUMNS)}, "
            f"and a folder of images)")
    ds = load_public_release(*found)
    print(f"Public release from {display_path(data_root)} (scores {found[0].name}, boxes {found[1].name}, "
          f"images {display_path(found[2])}): {ds!r}")
    return ds


def _phantom_recipe(n_patients: int, seed: int, size: int) -> dict:
    """What makes a phantom data set: its size, seed, layout and the generator's code fingerprint."""
    return {"kind": "phantom", "n_patients": n_patients, "seed": seed, "size": size,
            "layout_version": LAYOUT_VERSION, "generator_fingerprint": generator_fingerprint()}


def dataset_identity(dataset: Optional[Dataset] = None, *, profile: Any = "auto", seed: int = 0) -> dict:
    """What identifies a model's training data, for the provenance a saved model is checked against.

    dataset None: the profile's phantom as `chapter_dataset(profile=profile, seed=seed)` makes
    it (its recipe, generator fingerprint included; nothing is loaded). A phantom data set: the
    same recipe read from its dataset.json. A real one: its info and its patients.
    """
    from ..profiles import Profile, get_profile

    if dataset is None:
        cfg = profile if isinstance(profile, Profile) else get_profile(profile)
        return _phantom_recipe(cfg.data.n_patients, seed, cfg.data.image_size)
    if dataset.is_phantom:
        return {key: dataset.info.get(key) for key in _phantom_recipe(0, 0, 0)}
    return {"info": dict(dataset.info), "patients": [str(p) for p in dataset.patients]}


def _cache_matches(ds: Dataset, n_patients: int, seed: int, size: int) -> Optional[str]:
    """None if a cached phantom is what the profile asks for, else why not."""
    want = _phantom_recipe(n_patients, seed, size)
    for key, value in want.items():
        if ds.info.get(key) != value:
            return f"{key} is {ds.info.get(key)!r}, want {value!r}"
    return None


def _phantom_dataset(root: Path, n_patients: int, seed: int, size: int, progress: bool) -> Dataset:
    """The phantom data set cached in `root`: reused while it matches, else (re)written."""
    shown = display_path(root)
    if (root / "dataset.json").is_file():
        try:
            ds = load_dataset(root)
            why = _cache_matches(ds, n_patients, seed, size)
        except DatasetError as exc:
            why = f"it is unreadable ({exc})"
        if why is None:
            print(f"Reusing the phantom data set in {shown} ({n_patients} radiographs, written earlier).")
            return ds
        print(f"Rewriting the phantom data set in {shown}: {why}.")
    start = time.perf_counter()
    try:
        write_phantom_dataset(root, n_patients, seed, size=size, overwrite=root.exists(), progress=progress)
    except FileExistsError:
        if not (root / "dataset.json").is_file():  # another process did not win the race either
            raise
        print(f"Another process wrote {shown} meanwhile; using it.")
    else:
        print(f"Wrote the phantom data set to {shown}: {n_patients} radiographs at {size} px "
              f"in {time.perf_counter() - start:.0f} s.")
    return load_dataset(root)
