"""The chapter runner: `python -m rheumabook.book run [--profile full] [--device cuda] [--chapters ...] [--out DIR]`.

The same command line also has `smoke [--profile full] [--device cpu] [--stages ...]` (`smoke.smoke_command`:
every stage of a profile a few steps on the CPU), `plan [--profile NAME] [--cpu] [--timings FILE]`
(`cost.plan_command`: samples, FLOPs, memory and minutes on a T4, A100 and H100 per chapter) and
`train STAGE [--profile NAME]` (`launch.train_command`: one stage trained and saved for the chapters to load;
under ``torchrun --nproc_per_node=N -m rheumabook.book train ...`` on N GPUs, data prepared by process 0 first).

It executes the chapters in table-of-contents order with papermill (cwd = book/, as Jupyter
Book does; what a reviewer or a GPU machine runs), writes the executed notebooks and one
metrics.json (chapter -> headline numbers, plus profile and device; byte-identical between two
runs of a deterministic book) and timings.json (wall seconds, which differ between runs).
Parameters reach papermill only when given on the command line: otherwise the executed code
cells are identical to the source, and the results can seed Jupyter Book's execution cache
(`cache_executed`).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from ..cache import atomic_write_text
from .environment import environment
from .chapters import CHAPTER_PARAMETERS, locate_book, read_config, select_chapters, toc_chapters
from .headline import read_headlines, read_timings
from .jupyter_cache import cache_executed

__all__ = ["DEFAULT_OUT", "ChapterFailure", "RunResult", "run_chapters", "main"]

#: Where `run` writes the executed chapters and metrics.json unless told otherwise (relative to the book).
DEFAULT_OUT = Path("_build") / "executed"


@dataclass
class ChapterFailure:
    """Where and why one chapter stopped: `cell_index` counts all cells of the source notebook from 0."""

    chapter: str
    cell_index: int | None
    execution_count: int | None
    error: str  # "ValueError: message"
    source: str  # the failing cell's first line
    notebook: Path  # the executed notebook holding the traceback

    def __str__(self) -> str:
        where = "before any cell ran" if self.cell_index is None else f"in cell {self.cell_index}"
        if self.execution_count is not None:
            where += f" (In [{self.execution_count}])"
        first = f" `{self.source}`" if self.source else ""
        return f"chapter {self.chapter} failed {where}{first}: {self.error}  [executed notebook: {self.notebook}]"


@dataclass
class RunResult:
    """What `run_chapters` produced: metrics.json's content, timings, failures, executed notebook paths."""

    metrics: dict[str, Any]
    timings: dict[str, Any]  # {"wall_seconds": {chapter: s, "total": s}, "chapters": {chapter: {name: value}}}
    failures: list[ChapterFailure] = field(default_factory=list)
    executed: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def _first_line(source: str) -> str:
    return source.strip().splitlines()[0] if source.strip() else ""


def _source_cell_index(executed: Any, index: int) -> int:
    """Map a cell index of the executed notebook to the source's (papermill may insert an "injected-parameters" cell)."""
    injected = sum("injected-parameters" in cell.get("metadata", {}).get("tags", []) for cell in executed.cells[:index])
    return index - injected


def _failure_from_notebook(chapter: str, path: Path, error: str) -> ChapterFailure:
    """A failure (timeout, dead kernel) that papermill did not attribute to a cell: the last cell that started is the culprit."""
    import nbformat

    index = count = None
    source = ""
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001 - the notebook may never have been written
        nb = None
    if nb is not None:
        for i, cell in enumerate(nb.cells):
            if cell.get("metadata", {}).get("papermill", {}).get("start_time"):
                index, count, source = _source_cell_index(nb, i), cell.get("execution_count"), cell.source
    return ChapterFailure(chapter, index, count, error, _first_line(source), path)


def _new_result(parameters: dict[str, Any]) -> tuple[RunResult, str]:
    """An empty RunResult for a run with `parameters` (checked), and the resolved profile name.

    metrics.json's keys keep this order: profile, device, [parameters], chapters, [failed].
    """
    from rheumabook import profiles

    unknown = set(parameters) - set(CHAPTER_PARAMETERS)
    if unknown:
        raise ValueError(f"unknown chapter parameter(s) {sorted(unknown)}; chapters take {list(CHAPTER_PARAMETERS)}")
    profile_name = profiles.resolve_name(parameters.get("profile", "auto"))
    device = profiles.resolve_device(parameters.get("device", "auto"))  # fails early on --device cuda without a GPU
    metrics: dict[str, Any] = {"profile": profile_name, "device": device}
    if parameters:
        metrics["parameters"] = {k: parameters[k] for k in CHAPTER_PARAMETERS if k in parameters}
    metrics["chapters"] = {}
    # timings.json: wall seconds per chapter, and what chapters recorded with `timing(...)`.
    return RunResult(metrics, {"wall_seconds": {}, "chapters": {}}), profile_name


def _execute_chapter(chapter: Path, final: Path, *, parameters: dict[str, Any], timeout: float | None,
                     progress: bool) -> Optional[ChapterFailure]:
    """Execute one chapter with papermill into a hidden partial file next to `final`; None when it ran through.

    The partial notebook (with a traceback if it failed) is renamed to `final` afterwards, so
    an interrupted run never leaves a half-executed notebook under the chapter's name.
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    name = chapter.stem
    partial = final.with_name(f".{name}.partial.ipynb")
    final.unlink(missing_ok=True)  # never leave a previous run's notebook looking like this one's
    failure = None
    try:
        papermill.execute_notebook(
            str(chapter), str(partial),
            parameters=parameters or None,
            cwd=str(chapter.parent),
            progress_bar={"desc": name, "leave": False} if progress else False,
            execution_timeout=timeout,
        )
    except PapermillExecutionError as err:
        executed = nbformat.read(str(partial), as_version=4)
        failure = ChapterFailure(name, _source_cell_index(executed, err.cell_index), err.exec_count,
                                 f"{err.ename}: {err.evalue}", _first_line(err.source), final)
    except Exception as err:  # noqa: BLE001 - timeouts, dead kernels: report them like cell errors
        failure = _failure_from_notebook(name, partial, f"{type(err).__name__}: {err}".strip())
        failure.notebook = final
    if partial.exists():
        os.replace(partial, final)
    return failure


def _record(result: RunResult, name: str, final: Path, failure: Optional[ChapterFailure], seconds: float) -> None:
    """Add one chapter's outcome to `result`: wall time, executed notebook, failure or headline numbers."""
    from tqdm.auto import tqdm

    result.timings["wall_seconds"][name] = round(seconds, 1)
    if final.exists():
        result.executed[name] = final
    tqdm.write(f"{name}: {seconds:.1f} s ({'ok' if failure is None else 'FAILED'})")
    if failure is not None:
        result.failures.append(failure)
        tqdm.write(str(failure))
        return
    result.metrics["chapters"][name] = read_headlines(final)
    if recorded := read_timings(final):
        result.timings["chapters"][name] = recorded


def _write_results(out_dir: Path, result: RunResult) -> None:
    """Finish the totals and write metrics.json and timings.json (each atomically)."""
    timings, metrics = result.timings, result.metrics
    timings["wall_seconds"]["total"] = round(sum(timings["wall_seconds"].values()), 1)
    if result.failures:
        metrics["failed"] = {f.chapter: str(f) for f in result.failures}
    atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(out_dir / "timings.json", json.dumps(timings, indent=2) + "\n")


def run_chapters(
    chapters: Sequence[Path],
    out_dir: Path | str = DEFAULT_OUT,
    *,
    parameters: dict[str, Any] | None = None,
    timeout: float | None = None,
    keep_going: bool = False,
    progress: bool = True,
) -> RunResult:
    """Execute `chapters` (.ipynb paths, in this order) with papermill, cwd = each notebook's folder.

    `parameters` (a subset of CHAPTER_PARAMETERS) are injected only when given; without them
    the kernel gets ``RHEUMABOOK_PROFILE`` set to the resolved profile and the executed code
    cells equal the source. `timeout` is seconds per cell (None: no limit). Writes
    ``<chapter>.ipynb``, ``metrics.json`` and ``timings.json`` into `out_dir`; a failed
    chapter's notebook is kept (with its traceback) and listed in ``RunResult.failures``.
    Stops at the first failure unless `keep_going`.
    """
    from tqdm.auto import tqdm

    from rheumabook import profiles

    parameters = dict(parameters or {})
    result, profile_name = _new_result(parameters)
    out_dir = Path(out_dir).resolve()  # papermill changes the working directory while it runs
    out_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(list(chapters), unit="chapter", desc="Chapters", disable=not progress)
    with environment(**{profiles.ENV_VAR: profile_name}):
        for chapter in bar:
            chapter = Path(chapter).resolve()
            bar.set_postfix_str(chapter.stem)
            final = out_dir / f"{chapter.stem}.ipynb"
            start = time.perf_counter()
            failure = _execute_chapter(chapter, final, parameters=parameters, timeout=timeout, progress=progress)
            _record(result, chapter.stem, final, failure, time.perf_counter() - start)
            if failure is not None and not keep_going:
                break
    bar.close()
    _write_results(out_dir, result)
    return result


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------

def _parse_args(argv: Sequence[str] | None) -> Any:
    """The command line of `python -m rheumabook.book`."""
    import argparse

    from rheumabook import profiles

    from . import launch

    parser = argparse.ArgumentParser(prog="python -m rheumabook.book", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the chapters with papermill and collect their headline numbers",
                         description="Execute the book's chapters in table-of-contents order (cwd = book/), write "
                                     "the executed notebooks, metrics.json (headline numbers) and timings.json.")
    names = ["auto", *profiles.PROFILES]
    run.add_argument("--profile", choices=names,
                     help="passed to every chapter as a parameter (default: none passed; $RHEUMABOOK_PROFILE or "
                          "auto-detection decides, and the kernel is told the result)")
    run.add_argument("--device", help='passed as a parameter, e.g. "cuda", "cuda:1", "cpu" (default: none passed)')
    run.add_argument("--seed", type=int, help="passed as a parameter (default: none passed; chapters use 0)")
    run.add_argument("--data-root", help="passed as a parameter: a folder with the real data set (default: phantom)")
    run.add_argument("--chapters", nargs="+", metavar="CHAPTER",
                     help='run only these: "02_aggregation", "02", or a path (default: all, in TOC order)')
    run.add_argument("--out", type=Path, help=f"where to write the results (default: <book>/{DEFAULT_OUT})")
    run.add_argument("--root", type=Path, help="the book's folder, with _toc.yml (default: found from the cwd)")
    run.add_argument("--timeout", type=float,
                     help="seconds per cell (default: _config.yml's execute.timeout for the quick profile, "
                          "no limit for full)")
    run.add_argument("--keep-going", action="store_true", help="run the remaining chapters after a failure")
    run.add_argument("--jupyter-cache", type=Path, metavar="DIR",
                     help="also store each executed chapter in this Jupyter Book execution cache "
                          "(e.g. _build/.jupyter_cache) so `jupyter-book build` reuses it; not with parameters")
    smoke = sub.add_parser("smoke", help="every stage of a profile with its exact models, a few steps each (CPU minutes)",
                           description="The smoke run (rheumabook.book.smoke): every stage of the profile with its "
                                       "exact models and settings, a few optimisation steps each on a few phantom "
                                       "patients, in a temporary folder; prints one row per stage.")
    smoke.add_argument("--profile", choices=list(profiles.PROFILES), default="full",
                       help="the profile to check (default: full)")
    smoke.add_argument("--device", default="cpu", help='where to run, e.g. "cpu" (default) or "cuda"')
    smoke.add_argument("--stages", nargs="+", metavar="STAGE",
                       help='run only these stages (and those they need), e.g. "scorer" "Table 3: VGG"')
    plan = sub.add_parser("plan", help="what a profile costs: samples, FLOPs, memory, minutes on a T4/A100/H100",
                          description="The cost model (rheumabook.book.cost): per training job and per chapter, the "
                                      "samples, FLOPs per sample (forward, backward), peak memory of a training step "
                                      "(measured on this CPU) and the minutes each GPU would take.")
    plan.add_argument("--profile", choices=names, default="auto", help="the profile to cost (default: auto)")
    plan.add_argument("--cpu", action=argparse.BooleanOptionalAction, default=None,
                      help="also time the training steps on this CPU (default: only for quick)")
    plan.add_argument("--timings", metavar="FILE", help="a runner's timings.json, shown beside the estimate")
    train = sub.add_parser("train", help="train one stage and save it for the chapters (torchrun: several GPUs)",
                           description=launch.__doc__.split("\n\n")[0])
    train.add_argument("stage", choices=list(launch.STAGES))
    train.add_argument("--profile", choices=names, default="auto", help="default: auto")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto", help='"auto" (this process\'s GPU, else the CPU), "cuda", "cpu"')
    return parser.parse_args(argv)


@dataclass
class _Plan:
    """What the command line asks `run_chapters` to do, checked before anything long starts."""

    chapters: list[Path]
    out: Path
    parameters: dict[str, Any]
    timeout: float | None


def _plan(args: Any) -> _Plan:
    """Check the command line against the book; raises ValueError (exit status 2) on bad usage."""
    from rheumabook import profiles

    root = locate_book(args.root)
    chapters = select_chapters(toc_chapters(root), args.chapters)
    if not chapters:
        raise ValueError(f"no notebook chapters listed in {root / '_toc.yml'}")
    data_root = None
    if args.data_root is not None:  # the chapters run in book/: hand them an absolute path
        data_root = str(Path(args.data_root).resolve())
        if not Path(data_root).is_dir():
            raise ValueError(f"--data-root {args.data_root!r} is not a folder")
    parameters = {name: value for name, value in (("profile", args.profile), ("seed", args.seed),
                                                  ("data_root", data_root), ("device", args.device))
                  if value is not None}
    if args.jupyter_cache and parameters:
        raise ValueError("--jupyter-cache needs the chapters' code exactly as written: drop the parameters "
                         f"({', '.join('--' + k.replace('_', '-') for k in parameters)}) and set "
                         f"${profiles.ENV_VAR} instead")
    timeout = args.timeout
    if timeout is None and profiles.resolve_name(parameters.get("profile", "auto")) == "quick":
        timeout = read_config(root).get("execute", {}).get("timeout")
    out = args.out if args.out is not None else root / DEFAULT_OUT
    profiles.resolve_device(parameters.get("device", "auto"))  # validate the device before starting anything long
    return _Plan(chapters, out, parameters, timeout)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m rheumabook.book` (`run`, `smoke`, `plan`, `train`); returns the exit status (0 ok, 1 a chapter
    or smoke stage failed, 2 bad usage)."""
    import sys

    args = _parse_args(argv)
    if args.command == "smoke":
        from .smoke import smoke_command

        return smoke_command(args.profile, device=args.device, stages=args.stages)
    if args.command == "plan":
        from .cost import plan_command

        return plan_command(args.profile, cpu=args.cpu, timings=args.timings)
    if args.command == "train":
        from .launch import train_command

        return train_command(args.stage, args.profile, seed=args.seed, device=args.device)
    try:
        plan = _plan(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result = run_chapters(plan.chapters, plan.out, parameters=plan.parameters, timeout=plan.timeout,
                          keep_going=args.keep_going)
    if args.jupyter_cache:
        sources = {chapter.stem: chapter for chapter in plan.chapters}
        failed = {failure.chapter for failure in result.failures}
        for name, path in result.executed.items():
            if name not in failed:
                cache_executed(sources[name], path, args.jupyter_cache)
    print(f"wrote {plan.out / 'metrics.json'} ({result.metrics['profile']} profile, device {result.metrics['device']}); "
          f"{result.timings['wall_seconds']['total']:.0f} s in all")
    for failure in result.failures:
        print(f"error: {failure}", file=sys.stderr)
    return 0 if result.ok else 1
