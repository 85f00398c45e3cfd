"""The book's chapters: where the book is, which notebooks it holds in which order, and how each opens.

Every chapter opens with a markdown title, the Colab set-up cell (`colab_setup_cell`: tagged
"colab-setup", and "remove-cell" so Jupyter Book leaves it out of the HTML while the notebook,
and so Colab, keeps it) and a papermill parameters cell assigning `CHAPTER_PARAMETERS`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

from ..cache import find_book_root

__all__ = [
    "REPO_ROOT", "CHAPTER_PARAMETERS", "COLAB_SETUP_TAGS", "colab_setup_source", "colab_setup_cell",
    "locate_book", "read_config", "toc_documents", "toc_chapters", "select_chapters",
]

#: The repository root when the package is installed editable from a checkout (tests, `make`).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Names of a chapter's papermill parameters (the cell tagged "parameters") and their defaults.
CHAPTER_PARAMETERS: dict[str, Any] = {"profile": "auto", "seed": 0, "data_root": None, "device": "auto"}
#: Tags of the Colab set-up cell: how tests find it, and Jupyter Book's tag that keeps it out of the HTML.
COLAB_SETUP_TAGS: tuple[str, ...] = ("colab-setup", "remove-cell")

_COLAB_SETUP = '''\
# Set-up on Google Colab only: install the book's package from its repository. Elsewhere this does nothing.
import sys
if "google.colab" in sys.modules:
    import subprocess
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "rheumabook @ git+{url}@{branch}"], check=True)'''


def colab_setup_source(url: str = "https://github.com/rheumabook/rheumabook", branch: str = "main") -> str:
    """The exact source of every chapter's first code cell (tags `COLAB_SETUP_TAGS`), for a repository URL and branch."""
    return _COLAB_SETUP.format(url=url.rstrip("/"), branch=branch)


def colab_setup_cell(url: str = "https://github.com/rheumabook/rheumabook", branch: str = "main") -> Any:
    """A chapter's first code cell as an `nbformat` node: `colab_setup_source` with `COLAB_SETUP_TAGS`."""
    import nbformat

    return nbformat.v4.new_code_cell(colab_setup_source(url, branch), metadata={"tags": list(COLAB_SETUP_TAGS)})


def locate_book(start: Path | str | None = None) -> Path:
    """The book's folder (`_toc.yml` + `_config.yml`): `start` (default: the cwd) or a parent, else this checkout.

    Raises ValueError when neither holds a book (e.g. an installed package run from elsewhere).
    """
    root = find_book_root(start)
    if root is None and find_book_root(REPO_ROOT) == REPO_ROOT:
        root = REPO_ROOT
    if root is None:
        here = Path(start or Path.cwd()).resolve()
        raise ValueError(f"no _toc.yml and _config.yml in {here} or its parents; pass --root with the book's folder")
    return root


def read_config(root: Path | str) -> dict[str, Any]:
    """The book's `_config.yml` as a dict."""
    import yaml

    return yaml.safe_load((Path(root) / "_config.yml").read_text(encoding="utf-8")) or {}


def _toc_files(node: Any) -> Iterator[str]:
    """Every `root`/`file` entry of a parsed `_toc.yml`, in reading order."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("root", "file") and isinstance(value, str):
                yield value
            else:
                yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def toc_documents(root: Path | str) -> list[str]:
    """The book's documents in table-of-contents order, as docnames relative to `root` (e.g. "book/01_data")."""
    import yaml

    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text(encoding="utf-8"))
    # A docname may be written with its suffix; Jupyter Book accepts both.
    return [str(Path(f).with_suffix("")) if Path(f).suffix in (".md", ".ipynb") else f for f in _toc_files(toc)]


def toc_chapters(root: Path | str) -> list[Path]:
    """The notebook chapters (absolute .ipynb paths) in table-of-contents order; pages that do not exist yet are left out."""
    root = Path(root).resolve()
    found = [root / f"{doc}.ipynb" for doc in toc_documents(root)]
    return [path for path in found if path.is_file()]


def _chapter_number(stem: str) -> int | None:
    """The number a chapter's file name starts with ("02_aggregation" -> 2), or None."""
    head = stem.split("_", 1)[0]
    return int(head) if head.isdigit() else None


def select_chapters(chapters: Sequence[Path], wanted: Sequence[str] | None) -> list[Path]:
    """The chapters named in `wanted` (stem "02_aggregation", number "02" or "2", or a path), in TOC order."""
    if not wanted:
        return list(chapters)
    chosen: set[Path] = set()
    for name in wanted:
        stem = Path(name).stem
        hits = [c for c in chapters if c.stem == stem
                or (stem.isdigit() and _chapter_number(c.stem) == int(stem))]
        if len(hits) != 1:
            known = ", ".join(c.stem for c in chapters) or "none"
            raise ValueError(f"--chapters {name!r} matches {len(hits)} chapters; name one of: {known}")
        chosen.add(hits[0])
    return [c for c in chapters if c in chosen]
