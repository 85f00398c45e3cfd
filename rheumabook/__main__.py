"""`python -m rheumabook score ...`: the book's command line (see `rheumabook.cli`)."""
__all__: list[str] = []  # an entry point: nothing to import from here

from .cli import main  # noqa: E402

raise SystemExit(main())
