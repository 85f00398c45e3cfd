"""Running and publishing the book.

- `headline(**numbers)` / `timing(**seconds)`: a chapter shows and records its headline numbers
  (for metrics.json) and its machine-dependent timings (for timings.json) (`headline`).
- `show_source(obj)`: a chapter shows a piece of the package's code as a highlighted listing (`source`).
- `python -m rheumabook.book run [--profile full] [--device cuda] [--chapters ...] [--out DIR]`
  executes the chapters in table-of-contents order with papermill (`runner`, `run_chapters`);
  `cache_executed` hands the results to Jupyter Book's execution cache (`jupyter_cache`), so that
  the book build does not execute them again.
- `python -m rheumabook.book smoke [--profile full] [--device cpu]`: `smoke_run`, every stage of a profile
  with its exact models and settings for a few steps on a few phantom patients (minutes on a CPU; `smoke`).
- `python -m rheumabook.book plan [--profile colab]`: the cost model (`cost`, with `measure`): per chapter the
  training samples, FLOPs per sample, peak memory and minutes on a T4, A100 and H100. Import
  `rheumabook.book.cost` itself: it loads torch, which the Sphinx extension here does not need.
- `python -m rheumabook.book train STAGE`: one stage trained and saved for the chapters (`launch`,
  `train_stage`); under torchrun on several GPUs, process 0 prepares the data first.
- The book's layout and each chapter's opening cells: `toc_chapters`, `colab_setup_cell` (`chapters`).
- `rheumabook.book` is also the Sphinx extension named in _config.yml (`setup`, in `sphinx`).
"""
from .chapters import (
    CHAPTER_PARAMETERS, COLAB_SETUP_TAGS, REPO_ROOT, colab_setup_cell, colab_setup_source, locate_book, read_config,
    select_chapters, toc_chapters, toc_documents,
)
from .headline import METRICS_KEY, TIMINGS_KEY, headline, read_headlines, read_timings, timing
from .jupyter_cache import cache_executed
from .launch import STAGES, train_stage
from .runner import DEFAULT_OUT, ChapterFailure, RunResult, main, run_chapters
from .smoke import SMOKE_COLUMNS, SmokeError, smoke_run, smoke_stages
from .source import show_source, source_listing
from .sphinx import WIDGET_VIEW_MIME, setup

__all__ = [
    "headline", "read_headlines", "timing", "read_timings", "METRICS_KEY", "TIMINGS_KEY",
    "show_source", "source_listing",
    "run_chapters", "ChapterFailure", "RunResult", "DEFAULT_OUT", "main", "cache_executed",
    "REPO_ROOT", "CHAPTER_PARAMETERS", "COLAB_SETUP_TAGS", "colab_setup_source", "colab_setup_cell",
    "locate_book", "read_config", "toc_documents", "toc_chapters", "select_chapters",
    "WIDGET_VIEW_MIME", "setup",
    "smoke_run", "smoke_stages", "SmokeError", "SMOKE_COLUMNS", "train_stage", "STAGES",
]
