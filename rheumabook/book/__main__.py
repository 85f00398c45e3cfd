"""`python -m rheumabook.book run ...` (the chapter runner, `rheumabook.book.runner`) and `smoke ...` (`rheumabook.book.smoke`)."""
__all__: list[str] = []  # an entry point: nothing to import from here

from .runner import main  # noqa: E402

raise SystemExit(main())
