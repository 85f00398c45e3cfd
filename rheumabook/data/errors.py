"""The data layer's errors: a data set on disk (or a table in memory) that breaks the book's data contract.

Every reader of `rheumabook.data` raises these, with a message naming the file, the line and what
to fix. Both are ValueErrors; a missing file is also a FileNotFoundError.
"""
from __future__ import annotations

__all__ = ["DatasetError", "MissingDatasetFileError"]


class DatasetError(ValueError):
    """A data set on disk (or a table given in memory) breaks the book's data contract."""


class MissingDatasetFileError(DatasetError, FileNotFoundError):
    """A file or folder the data set needs is missing."""

