"""Hand an executed chapter to Jupyter Book's execution cache, so that `jupyter-book build` does not run it again."""
from __future__ import annotations

from pathlib import Path

__all__ = ["cache_executed"]


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
