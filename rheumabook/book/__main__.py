"""`python -m rheumabook.book run ...`: the chapter runner's command line (see `rheumabook.book.runner`)."""
__all__: list[str] = []  # an entry point: nothing to import from here

from .runner import main  # noqa: E402

raise SystemExit(main())
