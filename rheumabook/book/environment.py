"""Environment variables set for one block and restored after it.

The chapter runner passes the profile to the kernels it starts this way (they inherit the
environment), and the smoke run points ``$RHEUMABOOK_ARTIFACTS`` at a temporary folder. Both
use `environment`, which lives here, apart from either, so that neither imports the other.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

__all__ = ["environment"]


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set the environment variables `values` for the duration of a block; afterwards each is back to
    its old value, or unset if it was unset, also when the block raised."""
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
