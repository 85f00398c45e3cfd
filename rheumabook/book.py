"""Running and publishing the book.

`headline(**numbers)` is called by each chapter to show and record its
headline numbers: they are displayed as a small table and carried, invisibly,
in the output's metadata under ``"rheumabook_metrics"``, where the chapter
runner and the tests read them back from the executed notebook.
"""
from __future__ import annotations

import json
import math
from typing import Any

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


def headline(**numbers: Any) -> dict[str, Any]:
    """Display a chapter's headline numbers and record them for `metrics.json` (every chapter calls it once or more)."""
    import pandas as pd
    from IPython.display import display

    record = {name: _plain(v) for name, v in numbers.items()}
    json.dumps(record)  # fail here, not in the runner, on a value JSON cannot hold
    table = pd.DataFrame({"value": list(record.values())}, index=pd.Index(list(record), name="headline number"))
    display(table, metadata={METRICS_KEY: record})
    return record


def read_headlines(notebook: Any) -> dict[str, Any]:
    """All headline numbers recorded in an executed notebook (an `nbformat` node or a path)."""
    import nbformat

    if not hasattr(notebook, "cells"):
        notebook = nbformat.read(str(notebook), as_version=4)
    found: dict[str, Any] = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            found.update(output.get("metadata", {}).get(METRICS_KEY, {}))
    return found
