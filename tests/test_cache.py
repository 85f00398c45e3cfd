"""rheumabook.cache.cached_json: a finished run's numbers are kept; a damaged entry is computed again."""
from __future__ import annotations

import json

from rheumabook.cache import cached_json


def test_cached_json_computes_once_and_reads_back_exactly(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"iou": 0.1 + 0.2, "n": 3}  # 0.30000000000000004: a float whose repr must survive

    path = tmp_path / "sub" / "run.json"
    first = cached_json(path, compute, required=["iou"])
    again = cached_json(path, compute, required=["iou"])
    assert first == again == {"iou": 0.1 + 0.2, "n": 3} and len(calls) == 1
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_cached_json_recomputes_a_damaged_or_incomplete_entry(tmp_path):
    path = tmp_path / "run.json"
    for bad in ('{"iou": ', "[1, 2]", json.dumps({"n": 3})):  # cut short, not an object, a key missing
        path.write_text(bad)
        assert cached_json(path, lambda: {"iou": 0.5}, required=["iou"]) == {"iou": 0.5}
        assert json.loads(path.read_text()) == {"iou": 0.5}
    assert cached_json(None, lambda: {"iou": 0.7}) == {"iou": 0.7}  # no cache: just computed


def test_data_digest_follows_the_bytes_and_tables_and_skips_none():
    import numpy as np
    import pandas as pd
    import torch

    from rheumabook.cache import data_digest

    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    table = pd.DataFrame({"patient_id": ["P1", "P2"], "x": [1.0, 2.0]})
    same = data_digest(torch.from_numpy(a.copy()), table, None)
    assert same == data_digest(a, table) == data_digest(np.asfortranarray(a), table)  # layout does not matter
    assert data_digest(a[:, ::-1], table) != same  # other pixels, another digest
    assert data_digest(a, table.assign(x=[1.0, 2.5])) != same and len(same) == 16
