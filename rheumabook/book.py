"""Running and publishing the book.

`headline(**numbers)` is called by each chapter to show and record its
headline numbers: they are displayed as a small table and carried, invisibly,
in the output's metadata under ``"rheumabook_metrics"``, where the chapter
runner and the tests read them back from the executed notebook.

`python -m rheumabook.book run [--profile full] [--device cuda] [--chapters ...] [--out DIR]`
executes the chapters in table-of-contents order with papermill (what a reviewer or a GPU
machine runs; see `run_chapters`), and `cache_executed` hands the results to Jupyter Book's
execution cache so that the book build does not execute them again. Numbers that depend on
the machine (wall times) go through `timing(**seconds)` instead of `headline`: they land in
timings.json, so that metrics.json is byte-identical between two runs.
"""
from __future__ import annotations

import json
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

METRICS_KEY = "rheumabook_metrics"


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a number (numpy scalars -> Python, floats rounded to 6 significant digits)."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return float(f"{value:.6g}")
    return value


TIMINGS_KEY = "rheumabook_timings"


def _show_and_record(key: str, label: str, numbers: dict[str, Any]) -> dict[str, Any]:
    """Display `numbers` as a one-column table whose output metadata carries them under `key`."""
    import pandas as pd
    from IPython.display import display

    record = {name: _plain(v) for name, v in numbers.items()}
    json.dumps(record)  # fail here, not in the runner, on a value JSON cannot hold
    table = pd.DataFrame({"value": list(record.values())}, index=pd.Index(list(record), name=label))
    display(table, metadata={key: record})
    return record


def _read_recorded(notebook: Any, key: str) -> dict[str, Any]:
    """Everything recorded under `key` in the output metadata of a notebook (an `nbformat` node or a path)."""
    import nbformat

    if not hasattr(notebook, "cells"):
        notebook = nbformat.read(str(notebook), as_version=4)
    found: dict[str, Any] = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            found.update(output.get("metadata", {}).get(key, {}))
    return found


def headline(**numbers: Any) -> dict[str, Any]:
    """Display a chapter's headline numbers and record them for `metrics.json` (every chapter calls it once or more)."""
    return _show_and_record(METRICS_KEY, "headline number", numbers)


def read_headlines(notebook: Any) -> dict[str, Any]:
    """All headline numbers recorded in an executed notebook (an `nbformat` node or a path)."""
    return _read_recorded(notebook, METRICS_KEY)


def timing(**seconds: Any) -> dict[str, Any]:
    """Display and record machine-dependent numbers (wall times, throughput) for `timings.json`, not `metrics.json`.

    Headline numbers must come out the same on every run (the reproducibility test compares
    them byte for byte), so a chapter reports what it timed here instead. Used by chapters 3-4.
    """
    return _show_and_record(TIMINGS_KEY, "timing (this machine)", seconds)


def read_timings(notebook: Any) -> dict[str, Any]:
    """All numbers recorded with `timing(...)` in an executed notebook (an `nbformat` node or a path)."""
    return _read_recorded(notebook, TIMINGS_KEY)


# ---------------------------------------------------------------------------------------------
# The chapter runner: `python -m rheumabook.book run [--profile full] [--device cuda] ...`
# ---------------------------------------------------------------------------------------------
# It executes the chapters in table-of-contents order with papermill (cwd = book/, as Jupyter
# Book does), writes the executed notebooks and one metrics.json (chapter -> headline numbers,
# plus profile and device; byte-identical between two runs of a deterministic book) and
# timings.json (wall seconds, which differ between runs). Parameters reach papermill only
# when given on the command line: otherwise the executed code cells are identical to the
# source, and the results can seed Jupyter Book's execution cache (`cache_executed`).

#: The repository root when the package is installed editable from a checkout (tests, `make`).
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Where `run` writes the executed chapters and metrics.json unless told otherwise.
DEFAULT_OUT = Path("_build") / "executed"
#: Names of a chapter's papermill parameters (the cell tagged "parameters") and their defaults.
CHAPTER_PARAMETERS: dict[str, Any] = {"profile": "auto", "seed": 0, "data_root": None, "device": "auto"}

_COLAB_SETUP = '''\
# Set-up on Google Colab only: install the book's package from its repository. Elsewhere this does nothing.
import sys
if "google.colab" in sys.modules:
    import subprocess
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "rheumabook @ git+{url}@{branch}"], check=True)'''


def colab_setup_source(url: str = "https://github.com/rheumabook/rheumabook", branch: str = "main") -> str:
    """The exact source of every chapter's first code cell (tag "colab-setup"), for a repository URL and branch."""
    return _COLAB_SETUP.format(url=url.rstrip("/"), branch=branch)


def find_book_root(start: Path | str | None = None) -> Path:
    """The folder holding `_toc.yml` and `_config.yml`: `start` or one of its parents, else the checkout."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents, REPO_ROOT):
        if (folder / "_toc.yml").is_file() and (folder / "_config.yml").is_file():
            return folder
    raise ValueError(f"no _toc.yml and _config.yml in {here} or its parents; pass --root with the book's folder")


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


def select_chapters(chapters: Sequence[Path], wanted: Sequence[str] | None) -> list[Path]:
    """The chapters named in `wanted` (stem "02_aggregation", number "02" or "2", or a path), in TOC order."""
    if not wanted:
        return list(chapters)
    chosen: set[Path] = set()
    for name in wanted:
        stem = Path(name).stem
        hits = [c for c in chapters if c.stem == stem
                or (stem.isdigit() and c.stem.split("_", 1)[0].isdigit() and int(c.stem.split("_", 1)[0]) == int(stem))]
        if len(hits) != 1:
            known = ", ".join(c.stem for c in chapters) or "none"
            raise ValueError(f"--chapters {name!r} matches {len(hits)} chapters; name one of: {known}")
        chosen.add(hits[0])
    return [c for c in chapters if c in chosen]


@dataclass
class ChapterFailure:
    """Where and why one chapter stopped: `cell_index` counts all cells of the source notebook from 0."""

    chapter: str
    cell_index: int | None
    execution_count: int | None
    error: str  # "ValueError: message"
    source: str  # the failing cell's first line
    notebook: Path  # the executed notebook holding the traceback

    def __str__(self) -> str:
        where = "before any cell ran" if self.cell_index is None else f"in cell {self.cell_index}"
        if self.execution_count is not None:
            where += f" (In [{self.execution_count}])"
        first = f" `{self.source}`" if self.source else ""
        return f"chapter {self.chapter} failed {where}{first}: {self.error}  [executed notebook: {self.notebook}]"


@dataclass
class RunResult:
    """What `run_chapters` produced: metrics.json's content, timings, failures, executed notebook paths."""

    metrics: dict[str, Any]
    timings: dict[str, Any]  # {"wall_seconds": {chapter: s, "total": s}, "chapters": {chapter: {name: value}}}
    failures: list[ChapterFailure] = field(default_factory=list)
    executed: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by the kernels papermill starts) for the duration of a block."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _write_atomic(path: Path, text: str) -> None:
    """Write a text file via a temporary file and a rename, so no half-written file is ever left."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _source_cell_index(executed: Any, index: int) -> int:
    """Map a cell index of the executed notebook to the source's (papermill may insert an "injected-parameters" cell)."""
    injected = sum("injected-parameters" in cell.get("metadata", {}).get("tags", []) for cell in executed.cells[:index])
    return index - injected


def _failure_from_notebook(chapter: str, path: Path, error: str) -> ChapterFailure:
    """A failure (timeout, dead kernel) that papermill did not attribute to a cell: the last cell that started is the culprit."""
    import nbformat

    index = count = None
    source = ""
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001 - the notebook may never have been written
        nb = None
    if nb is not None:
        for i, cell in enumerate(nb.cells):
            if cell.get("metadata", {}).get("papermill", {}).get("start_time"):
                index, count, source = _source_cell_index(nb, i), cell.get("execution_count"), cell.source
    return ChapterFailure(chapter, index, count, error, source.strip().splitlines()[0] if source.strip() else "", path)


def run_chapters(
    chapters: Sequence[Path],
    out_dir: Path | str = DEFAULT_OUT,
    *,
    parameters: dict[str, Any] | None = None,
    timeout: float | None = None,
    keep_going: bool = False,
    progress: bool = True,
) -> RunResult:
    """Execute `chapters` (.ipynb paths, in this order) with papermill, cwd = each notebook's folder.

    `parameters` (a subset of CHAPTER_PARAMETERS) are injected only when given; without them
    the kernel gets ``RHEUMABOOK_PROFILE`` set to the resolved profile and the executed code
    cells equal the source. `timeout` is seconds per cell (None: no limit). Writes
    ``<chapter>.ipynb``, ``metrics.json`` and ``timings.json`` into `out_dir`; a failed
    chapter's notebook is kept (with its traceback) and listed in ``RunResult.failures``.
    Stops at the first failure unless `keep_going`.
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError
    from tqdm.auto import tqdm

    from rheumabook import profiles

    parameters = dict(parameters or {})
    unknown = set(parameters) - set(CHAPTER_PARAMETERS)
    if unknown:
        raise ValueError(f"unknown chapter parameter(s) {sorted(unknown)}; chapters take {list(CHAPTER_PARAMETERS)}")
    profile_name = profiles.resolve_name(parameters.get("profile", "auto"))
    device = profiles.resolve_device(parameters.get("device", "auto"))  # fails early on --device cuda without a GPU
    out_dir = Path(out_dir).resolve()  # papermill changes the working directory while it runs
    out_dir.mkdir(parents=True, exist_ok=True)

    metrics: dict[str, Any] = {"profile": profile_name, "device": device}
    if parameters:
        metrics["parameters"] = {k: parameters[k] for k in CHAPTER_PARAMETERS if k in parameters}
    metrics["chapters"] = {}
    # timings.json: wall seconds per chapter, and what chapters recorded with `timing(...)`.
    timings: dict[str, Any] = {"wall_seconds": {}, "chapters": {}}
    result = RunResult(metrics, timings)

    bar = tqdm(list(chapters), unit="chapter", desc="Chapters", disable=not progress)
    with _environment(**{profiles.ENV_VAR: profile_name}):
        for chapter in bar:
            chapter = Path(chapter).resolve()
            name = chapter.stem
            bar.set_postfix_str(name)
            final = out_dir / f"{name}.ipynb"
            partial = out_dir / f".{name}.partial.ipynb"
            final.unlink(missing_ok=True)  # never leave a previous run's notebook looking like this one's
            start = time.perf_counter()
            failure = None
            try:
                papermill.execute_notebook(
                    str(chapter), str(partial),
                    parameters=parameters or None,
                    cwd=str(chapter.parent),
                    progress_bar={"desc": name, "leave": False} if progress else False,
                    execution_timeout=timeout,
                )
            except PapermillExecutionError as err:
                executed = nbformat.read(str(partial), as_version=4)
                first = err.source.strip().splitlines()[0] if err.source.strip() else ""
                failure = ChapterFailure(name, _source_cell_index(executed, err.cell_index), err.exec_count,
                                         f"{err.ename}: {err.evalue}", first, final)
            except Exception as err:  # noqa: BLE001 - timeouts, dead kernels: report them like cell errors
                failure = _failure_from_notebook(name, partial, f"{type(err).__name__}: {err}".strip())
                failure.notebook = final
            seconds = time.perf_counter() - start
            timings["wall_seconds"][name] = round(seconds, 1)
            if partial.exists():
                os.replace(partial, final)
                result.executed[name] = final
            status = "ok" if failure is None else "FAILED"
            tqdm.write(f"{name}: {seconds:.1f} s ({status})")
            if failure is not None:
                result.failures.append(failure)
                tqdm.write(str(failure))
                if not keep_going:
                    break
            else:
                metrics["chapters"][name] = read_headlines(final)
                if recorded := read_timings(final):
                    timings["chapters"][name] = recorded
    bar.close()
    timings["wall_seconds"]["total"] = round(sum(timings["wall_seconds"].values()), 1)
    if result.failures:
        metrics["failed"] = {f.chapter: str(f) for f in result.failures}
    _write_atomic(out_dir / "metrics.json", json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    _write_atomic(out_dir / "timings.json", json.dumps(timings, indent=2) + "\n")
    return result


def cache_executed(source: Path | str, executed: Path | str, cache_path: Path | str) -> int:
    """Store an executed chapter in Jupyter Book's execution cache, so that the book build reuses it.

    jupyter-cache matches a notebook by an md5 over its code cells' source and metadata plus
    the notebook's kernelspec. papermill adds run metadata to every cell, so the outputs of
    `executed` are grafted onto the `source` notebook's code cells (same source, same
    metadata) before caching. `executed` must come from a run without injected parameters.
    Returns the cache record's primary key.
    """
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    source, executed = Path(source).resolve(), Path(executed)
    src = nbformat.read(str(source), as_version=4)
    run = nbformat.read(str(executed), as_version=4)
    src_code = [c for c in src.cells if c.cell_type == "code"]
    run_code = [c for c in run.cells if c.cell_type == "code"]
    if [c.source for c in src_code] != [c.source for c in run_code]:
        raise ValueError(f"{executed} is not an execution of {source} as it is now (its code cells differ: "
                         "changed since, or run with injected parameters); re-run it without parameters")
    for cell_src, cell_run in zip(src_code, run_code):
        cell_src.outputs = cell_run.outputs
        cell_src.execution_count = cell_run.execution_count
    for key in ("language_info", "widgets"):  # merged into the page by myst-nb; not part of the hash
        if key in run.metadata:
            src.metadata[key] = run.metadata[key]
    cache = get_cache(str(cache_path))
    seconds = run.metadata.get("papermill", {}).get("duration")
    record = cache.cache_notebook_bundle(
        CacheBundleIn(src, str(source), data={"execution_seconds": seconds} if seconds else {}),
        check_validity=True,  # execution counts 1, 2, 3, ...: every code cell ran, in order
        overwrite=True,
    )
    return record.pk


# ---------------------------------------------------------------------------------------------
# Sphinx extension (listed under sphinx.extra_extensions in _config.yml)
# ---------------------------------------------------------------------------------------------
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


def setup(app: Any) -> dict[str, Any]:
    """Make `rheumabook.book` a Sphinx extension: widget outputs leave the static HTML, scripts load once.

    An ipywidgets view (a control, or the notebook progress bar that `tqdm.auto` draws in a
    kernel) needs a live kernel, or saved state plus JavaScript from a CDN, to draw; in a
    static page it is an empty box or "Loading widget...", and its text fallback is stale
    (a tqdm bar's says 0%). So each such output loses its widget view and text fallback,
    keeping any other rendering (an image) it carried; an output left with nothing is
    removed. Chapters put a static figure beside any interactive control (common brief),
    and tests/test_book.py checks the rendered pages in a browser.
    """
    from docutils import nodes
    from sphinx.transforms.post_transforms import SphinxPostTransform

    def is_bundle(node: Any) -> bool:
        return isinstance(node, nodes.container) and node.get("nb_element") == "mime_bundle"

    class DropWidgetViews(SphinxPostTransform):
        """Remove widget views (and their text fallback) from notebook outputs."""

        default_priority = 3  # before myst-nb's SelectMimeType (4) would pick the text fallback

        def run(self, **kwargs: Any) -> None:
            for bundle in list(self.document.findall(is_bundle)):
                mimes = [child.get("mime_type") for child in bundle.children]
                if WIDGET_VIEW_MIME not in mimes:
                    continue
                for child in list(bundle.children):
                    if child.get("mime_type") in (WIDGET_VIEW_MIME, "text/plain"):
                        bundle.remove(child)
                parent = bundle.parent
                if not bundle.children:
                    parent.remove(bundle)
                # A cell output left empty would still draw an empty box.
                while (isinstance(parent, nodes.container) and not parent.children
                       and parent.parent is not None and "cell_output" in parent.get("classes", [])):
                    grand = parent.parent
                    grand.remove(parent)
                    parent = grand

    def drop_duplicate_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
        # sphinx-thebe 0.3.1 adds its inline configuration script after the HTML builder has
        # started, and Sphinx 7.4 then emits it twice: the second copy re-declares a `const`
        # and every page logs "Identifier 'THEBE_JS_URL' has already been declared".
        # The copies differ only in filename None vs "" (inline scripts), so compare without it.
        scripts = context.get("script_files")
        if scripts:
            seen: set[str] = set()
            unique: list[Any] = []
            for script in scripts:
                key = repr((getattr(script, "filename", script) or "", getattr(script, "priority", 0),
                            sorted(getattr(script, "attributes", {}).items())))
                if key not in seen:
                    seen.add(key)
                    unique.append(script)
            scripts[:] = unique  # in place: the builder resets this list for every page

    app.add_post_transform(DropWidgetViews)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)  # after other extensions add theirs
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def _parse_args(argv: Sequence[str] | None) -> Any:
    """The command line of `python -m rheumabook.book`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rheumabook.book", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the chapters with papermill and collect their headline numbers",
                         description="Execute the book's chapters in table-of-contents order (cwd = book/), write "
                                     "the executed notebooks, metrics.json (headline numbers) and timings.json.")
    run.add_argument("--profile", choices=["auto", "quick", "full"],
                     help="passed to every chapter as a parameter (default: none passed; $RHEUMABOOK_PROFILE or "
                          "auto-detection decides, and the kernel is told the result)")
    run.add_argument("--device", help='passed as a parameter, e.g. "cuda", "cuda:1", "cpu" (default: none passed)')
    run.add_argument("--seed", type=int, help="passed as a parameter (default: none passed; chapters use 0)")
    run.add_argument("--data-root", help="passed as a parameter: a folder with the real data set (default: phantom)")
    run.add_argument("--chapters", nargs="+", metavar="CHAPTER",
                     help='run only these: "02_aggregation", "02", or a path (default: all, in TOC order)')
    run.add_argument("--out", type=Path, help=f"where to write the results (default: <book>/{DEFAULT_OUT})")
    run.add_argument("--root", type=Path, help="the book's folder, with _toc.yml (default: found from the cwd)")
    run.add_argument("--timeout", type=float,
                     help="seconds per cell (default: _config.yml's execute.timeout for the quick profile, "
                          "no limit for full)")
    run.add_argument("--keep-going", action="store_true", help="run the remaining chapters after a failure")
    run.add_argument("--jupyter-cache", type=Path, metavar="DIR",
                     help="also store each executed chapter in this Jupyter Book execution cache "
                          "(e.g. _build/.jupyter_cache) so `jupyter-book build` reuses it; not with parameters")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m rheumabook.book`; returns the exit status (0 ok, 1 a chapter failed, 2 bad usage)."""
    import sys

    from rheumabook import profiles

    args = _parse_args(argv)
    try:
        root = find_book_root(args.root)
        chapters = select_chapters(toc_chapters(root), args.chapters)
        if not chapters:
            raise ValueError(f"no notebook chapters listed in {root / '_toc.yml'}")
        data_root = None
        if args.data_root is not None:  # the chapters run in book/: hand them an absolute path
            data_root = str(Path(args.data_root).resolve())
            if not Path(data_root).is_dir():
                raise ValueError(f"--data-root {args.data_root!r} is not a folder")
        parameters = {name: value for name, value in (("profile", args.profile), ("seed", args.seed),
                                                      ("data_root", data_root), ("device", args.device))
                      if value is not None}
        if args.jupyter_cache and parameters:
            raise ValueError("--jupyter-cache needs the chapters' code exactly as written: drop the parameters "
                             f"({', '.join('--' + k.replace('_', '-') for k in parameters)}) and set "
                             f"${profiles.ENV_VAR} instead")
        timeout = args.timeout
        if timeout is None and profiles.resolve_name(parameters.get("profile", "auto")) == "quick":
            timeout = read_config(root).get("execute", {}).get("timeout")
        out = args.out if args.out is not None else root / DEFAULT_OUT
        # Validate the device before starting anything long.
        profiles.resolve_device(parameters.get("device", "auto"))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result = run_chapters(chapters, out, parameters=parameters, timeout=timeout, keep_going=args.keep_going)
    if args.jupyter_cache:
        sources = {chapter.stem: chapter for chapter in chapters}
        failed = {failure.chapter for failure in result.failures}
        for name, path in result.executed.items():
            if name not in failed:
                cache_executed(sources[name], path, args.jupyter_cache)
    print(f"wrote {out / 'metrics.json'} ({result.metrics['profile']} profile, device {result.metrics['device']}); "
          f"{result.timings['wall_seconds']['total']:.0f} s in all")
    for failure in result.failures:
        print(f"error: {failure}", file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
