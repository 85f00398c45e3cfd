"""Where chapters keep what they make, how it is written, and how it is named.

- `artifacts_dir`: the one folder for data sets, prepared tensors and checkpoints
  (``$RHEUMABOOK_ARTIFACTS``, else ``<book>/artifacts``).
- `atomic_write`, `atomic_write_text`, `atomic_directory`: a file or folder
  appears whole or not at all; two runs that overlap never share a temporary name.
- `content_key` and `source_fingerprint`: a cache entry is named after
  everything that shaped it, the code that made it included, so changed code
  never reuses a stale entry.
- `cached_json`: a small result (one training run's numbers) kept as JSON, so that a
  chapter interrupted half-way continues where it stopped.

Used by the data layer, localisation, training checkpoints and the chapter runner.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

__all__ = [
    "ARTIFACTS_ENV", "find_book_root", "artifacts_dir", "atomic_write", "atomic_write_text",
    "atomic_directory", "content_key", "data_digest", "source_fingerprint", "display_path", "cached_json",
]

ARTIFACTS_ENV = "RHEUMABOOK_ARTIFACTS"


def find_book_root(start: Path | str | None = None) -> Optional[Path]:
    """The folder holding the book's `_toc.yml` and `_config.yml`: `start` (default: the working
    directory) or one of its parents; None when there is none (e.g. a notebook run elsewhere)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "_config.yml").is_file():
            return folder
    return None


def artifacts_dir() -> Path:
    """Where chapters cache what they make: $RHEUMABOOK_ARTIFACTS, else `<book>/artifacts`, else `./artifacts`."""
    env = os.environ.get(ARTIFACTS_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    root = find_book_root()
    return (root if root is not None else Path.cwd()) / "artifacts"


def display_path(path: Path | str) -> str:
    """`path` as the book may print it: relative to the artifacts folder (``<artifacts>/...``) or the
    book's folder, never an absolute path of the machine that ran it (it would end up in the HTML)."""
    path = Path(path).expanduser().resolve()
    for base, label in ((artifacts_dir(), "<artifacts>"), (find_book_root(), ".")):
        if base is None:
            continue
        try:
            rel = path.relative_to(Path(base).expanduser().resolve())
        except ValueError:
            continue
        return label if str(rel) == "." else f"{label}/{rel.as_posix()}"
    return path.name


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(target: Path | str, write: Callable[[str], Any], suffix: str = "") -> Path:
    """Call ``write(tmp_path)``, then rename the file into `target`; nothing half-written is left.

    The temporary file is unique (mkstemp) in `target`'s folder, so the rename is atomic and two
    writers never collide; it gets the usual permissions (0o666 minus the umask), not mkstemp's
    private 0o600. `suffix` keeps an extension that a writer insists on (e.g. ".npz").
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp",
                               dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(target: Path | str, text: str) -> Path:
    """Write a UTF-8 text file atomically (`atomic_write`)."""
    return atomic_write(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def cached_json(path: Path | str | None, compute: Callable[[], dict], *, required: Sequence[str] = ()) -> dict:
    """The JSON object stored at `path`, else ``compute()`` written there (atomically) and returned.

    path: the entry, named by a `content_key` of everything that shapes the result (None: no
    cache, just compute). A file that cannot be read, is not an object or lacks a `required` key
    is computed again and replaced: an interrupted or damaged entry is never trusted. Floats
    survive the round trip exactly (JSON keeps their shortest repr).
    """
    if path is not None and Path(path).is_file():
        try:
            found = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
        if isinstance(found, dict) and all(key in found for key in required):
            return found
    result = compute()
    if path is not None:
        atomic_write_text(path, json.dumps(result) + "\n")
    return result


@contextmanager
def atomic_directory(root: Path | str, *, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder in a hidden temporary sibling, then rename it to `root` in one step.

    Yields the temporary folder to fill. On success it replaces `root` (an existing non-empty
    `root` only with ``overwrite=True``; the old one is removed afterwards); on any error the
    temporary folder is removed and `root` is untouched. Readers see nothing or everything.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a folder; choose another path")
    if root.is_dir() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(f"{root} exists and is not empty; pass overwrite=True to replace it, "
                              f"or choose another folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private (0700); the result should not be
    try:
        yield tmp
        _move_into_place(tmp, root, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _move_into_place(tmp: Path, root: Path, overwrite: bool) -> None:
    """Rename the finished temp folder to `root` (the old one, if replaced, is removed afterwards)."""
    old = None
    if root.is_dir():
        if any(root.iterdir()):
            if not overwrite:
                raise FileExistsError(f"{root} appeared while it was being written; not replacing it")
            old = root.with_name(f".{root.name}.old-{os.getpid()}-{time.monotonic_ns()}")
            root.rename(old)
        else:
            root.rmdir()
    try:
        tmp.rename(root)  # atomic on one file system
    except OSError as exc:
        if old is not None:
            old.rename(root)
        raise FileExistsError(f"could not move the new folder to {root}: {exc}") from exc
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def content_key(*parts: Any, length: int = 12) -> str:
    """Short SHA-256 of JSON-able `parts` (sorted keys; other objects by `str`): names a cache entry."""
    text = json.dumps(list(parts), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def data_digest(*parts: Any, length: int = 16) -> str:
    """Short SHA-256 of data: arrays and tensors by their bytes, tables by their CSV text, None skipped.

    Names results computed from exactly this data (`content_key` takes it as one of its parts).
    """
    digest = hashlib.sha256()
    for part in parts:
        if part is None:
            continue
        if hasattr(part, "to_csv"):
            digest.update(part.to_csv(index=False).encode())
        else:
            array = part.numpy() if hasattr(part, "numpy") else part
            digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return digest.hexdigest()[:length]


def _source_files(module: ModuleType) -> list[Path]:
    """The .py files of a module, or of every module of a package (sorted)."""
    path = Path(module.__file__ or "")
    if path.name == "__init__.py":
        return sorted(path.parent.rglob("*.py"))
    return [path]


def source_fingerprint(*modules: ModuleType, length: int = 16) -> str:
    """Short SHA-256 of the source of `modules` (a package counts with all its modules).

    Part of every cache key whose content code makes: edit the code and the key changes.
    """
    digest = hashlib.sha256()
    for module in modules:
        for path in _source_files(module):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:length]
