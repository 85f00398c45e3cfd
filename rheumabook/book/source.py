"""Show the package's own code in a chapter: one helper instead of `inspect.getsource` and string slicing.

`show_source(obj)` displays the source of a function, class, method or module as a highlighted
listing under a caption naming where it lives (``rheumabook/seam.py, lines 40-61``: a path
inside the package, never the machine's). The output is a Markdown code block, so Jupyter,
Colab and the book (myst-nb renders it with the book's own highlighting) all show it the same,
plus a plain-text copy for terminals. `start`/`end` pick the lines that matter by their text,
and a listing whose marker has gone away fails loudly instead of showing the wrong lines.
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path
from typing import Any, Optional

__all__ = ["source_listing", "show_source"]


def _docstring_lines(lines: list[str], is_module: bool) -> set[int]:
    """0-based indices of the lines holding the docstring of the module, function or class whose source is `lines`."""
    tree = ast.parse(textwrap.dedent("".join(lines)))
    body = tree.body if is_module else getattr(tree.body[0], "body", []) if tree.body else []
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return set(range(body[0].lineno - 1, body[0].end_lineno))
    return set()


def _find(lines: list[str], text: str, first: int, name: str, what: str) -> int:
    """Index of the first line at or after `first` that contains `text`; ValueError naming `obj` if none."""
    for i in range(first, len(lines)):
        if text in lines[i]:
            return i
    raise ValueError(f"{name}: no line of its source contains {what}={text!r} (the code changed?); "
                     f"choose a marker that is still there")


def _qualified_name(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "")
    qualname = getattr(obj, "__qualname__", None)
    return f"{module}.{qualname}" if qualname and not inspect.ismodule(obj) else str(module)


def _where(obj: Any, first_line: int, last_line: int) -> str:
    """'rheumabook/seam.py, lines 40-61': the file relative to the folder holding the top-level package."""
    path = Path(inspect.getsourcefile(obj) or inspect.getfile(obj)).resolve()
    top = (getattr(obj, "__module__", None) or getattr(obj, "__name__", "")).split(".")[0]
    shown = path.name
    for parent in path.parents:
        if parent.name == top:
            shown = path.relative_to(parent.parent).as_posix()
            break
    return f"{shown}, line {first_line}" if first_line == last_line else f"{shown}, lines {first_line}-{last_line}"


def _selected(obj: Any, start: Optional[str], end: Optional[str], docstring: bool) -> tuple[list[str], int, int]:
    """The chosen source lines of `obj` (with line ends) and the file line numbers of the first and the last."""
    obj = inspect.unwrap(obj)
    lines, offset = inspect.getsourcelines(obj)
    offset = max(offset, 1)  # a module's source starts at line 0
    name = _qualified_name(obj)
    numbered = list(enumerate(lines))
    if not docstring:
        skip = _docstring_lines(lines, inspect.ismodule(obj))
        numbered = [(i, line) for i, line in numbered if i not in skip]
    texts = [line for _, line in numbered]
    first = 0 if start is None else _find(texts, start, 0, name, "start")
    stop = len(texts) if end is None else _find(texts, end, first + 1, name, "end")
    chosen = numbered[first:stop]
    if not chosen:
        raise ValueError(f"{name}: the listing from start={start!r} to end={end!r} is empty")
    return [line for _, line in chosen], offset + chosen[0][0], offset + chosen[-1][0]


def source_listing(obj: Any, *, start: Optional[str] = None, end: Optional[str] = None,
                   docstring: bool = True) -> str:
    """The source of `obj` (function, class, method or module) as `show_source` shows it, dedented.

    `start`: begin at the first line containing this text (default: the first line, the `def`).
    `end`: stop before the first later line containing this text (default: the end of `obj`).
    `docstring=False` leaves `obj`'s docstring out (its signature and body stay).
    Raises ValueError when a marker is not found, so a chapter cannot silently show other lines.
    """
    lines, _, _ = _selected(obj, start, end, docstring)
    return textwrap.dedent("".join(lines)).rstrip("\n")


def show_source(obj: Any, *, start: Optional[str] = None, end: Optional[str] = None, docstring: bool = True,
                caption: bool = True) -> None:
    """Display the source of `obj` as a highlighted listing (see `source_listing` for `start`, `end`, `docstring`).

    `caption` writes the qualified name and the file and lines it comes from above the listing,
    e.g. ``rheumabook.seam.cumulative_energy`` -- ``rheumabook/seam.py, lines 40-61``.
    Displays in place (call it anywhere in a cell, like `print`) and returns None.
    """
    from IPython.display import display

    lines, first_line, last_line = _selected(obj, start, end, docstring)
    code = textwrap.dedent("".join(lines)).rstrip("\n")
    fence = "`" * max(3, _longest_backtick_run(code) + 1)
    head = f"`{_qualified_name(inspect.unwrap(obj))}` ({_where(inspect.unwrap(obj), first_line, last_line)})"
    markdown = (f"{head}\n\n" if caption else "") + f"{fence}python\n{code}\n{fence}"
    plain = (f"# {head.replace('`', '')}\n" if caption else "") + code
    display({"text/markdown": markdown, "text/plain": plain}, raw=True)


def _longest_backtick_run(text: str) -> int:
    """Length of the longest run of backticks in `text` (the code fence must be longer)."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest
