"""`python -m rheumabook.evaluate landmarks ...`: the real-image checks' command line (see `rheumabook.evaluate.cli`)."""
__all__: list[str] = []  # an entry point: nothing to import from here

from .cli import main  # noqa: E402

raise SystemExit(main())
