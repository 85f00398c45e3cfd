"""A chapter's headline numbers and timings: shown as a small table, recorded in the output's metadata.

`headline(**numbers)` is called by each chapter to show and record its headline numbers: they
are displayed as a one-column table and carried, invisibly, in that output's metadata under
``"rheumabook_metrics"``, where the chapter runner and the tests read them back from the
executed notebook (`read_headlines`). Numbers that depend on the machine (wall times) go
through `timing(**seconds)` instead: they land in timings.json, so that metrics.json is
byte-identical between two runs.
"""
from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["METRICS_KEY", "TIMINGS_KEY", "headline", "read_headlines", "timing", "read_timings"]

METRICS_KEY = "rheumabook_metrics"
TIMINGS_KEY = "rheumabook_timings"


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a number (numpy scalars -> Python, floats rounded to 6 significant digits)."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return float(f"{value:.6g}")
    return value


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
