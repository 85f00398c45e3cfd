"""The course around the chapters (issue 17): every chapter has learning goals at the top, questions
with collapsed answers and exercises with solutions at the end, and its glossary links resolve.

These read the notebook sources (a second); the browser test in test_book.py checks what the
rendered pages show, and the chapters' execution (tests/test_book.py) runs the solutions' code,
whose asserts fail CI when a package change breaks an exercise.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from rheumabook import book

ROOT = book.REPO_ROOT
CHAPTERS = book.toc_chapters(ROOT)
NAMES = [c.stem for c in CHAPTERS]
GLOSSARY = ROOT / "book" / "glossary.md"

GOALS = re.compile(r"```\{admonition\} In this chapter you will\n:class: learning-goals\n(.*?)```", re.S)
ANSWER = re.compile(r"```\{admonition\} Answer\n:class: dropdown\n", re.S)
EXERCISE = re.compile(r"```\{exercise\}[^\n]*\n:label: ([\w-]+)\n")
GATED_START = re.compile(r"```\{solution-start\} ([\w-]+)\n:class: dropdown\n```")
SOLUTION = re.compile(r"```\{solution\} ([\w-]+)\n:class: dropdown\n")
TERM = re.compile(r"\{term\}`([^`]+)`")


def _cells(path: Path) -> list:
    return nbformat.read(str(path), as_version=4).cells


def _markdown(path: Path) -> str:
    return "\n".join(c.source for c in _cells(path) if c.cell_type == "markdown")


def _section(cells: list, heading: str) -> list:
    """The cells from the markdown cell holding `heading` (a '## ' line) up to the next '## ' heading."""
    start = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"
                  and re.search(rf"^## {re.escape(heading)}\s*$", c.source, re.M)), None)
    if start is None:
        return []
    out = [cells[start]]
    for cell in cells[start + 1:]:
        if cell.cell_type == "markdown" and re.search(r"^## ", cell.source, re.M):
            break
        out.append(cell)
    return out


def glossary_terms() -> set[str]:
    """The terms the glossary defines (lower case, as Sphinx matches them)."""
    text = GLOSSARY.read_text(encoding="utf-8")
    block = re.search(r"```\{glossary\}\n(.*?)```", text, re.S)
    assert block, "book/glossary.md holds no {glossary} block"
    return {line.strip().lower() for line in block.group(1).splitlines() if line and not line[0].isspace()}


def test_glossary_defines_the_terms_the_course_needs():
    terms = glossary_terms()
    wanted = ["sharp/van der heijde score", "erosion", "joint space narrowing", "weighted accuracy", "dawid–skene",
              "confusion matrix", "clahe", "seam", "coordconv", "diou", "idx pooling", "focal loss",
              "label smoothing", "window attention", "attention rollout", "pointing game", "bland–altman plot",
              "phantom"]
    assert not [t for t in wanted if t not in terms], sorted(terms)
    assert "book/glossary" in book.toc_documents(ROOT)


@pytest.mark.parametrize("path", CHAPTERS, ids=NAMES)
def test_chapter_opens_with_learning_goals(path):
    cells = _cells(path)
    head = "\n".join(c.source for c in cells[:3] if c.cell_type == "markdown")
    found = GOALS.search(head)
    assert found, f"{path.name}: no 'In this chapter you will' learning-goals block in the first markdown cells"
    goals = [line for line in found.group(1).splitlines() if line.startswith("- ")]
    assert 3 <= len(goals) <= 5, f"{path.name}: {len(goals)} learning goals, expected 3-5"


@pytest.mark.parametrize("path", CHAPTERS, ids=NAMES)
def test_chapter_ends_with_questions_and_collapsed_answers(path):
    section = "\n".join(c.source for c in _section(_cells(path), "Check your understanding"))
    assert section, f"{path.name}: no '## Check your understanding' section"
    questions = re.findall(r"^\d+\. ", section, re.M)
    answers = ANSWER.findall(section)
    assert 4 <= len(questions) <= 6, f"{path.name}: {len(questions)} questions, expected 4-6"
    assert len(answers) == len(questions), f"{path.name}: {len(questions)} questions but {len(answers)} answers"


@pytest.mark.parametrize("path", CHAPTERS, ids=NAMES)
def test_chapter_exercises_have_solutions_and_hands_on_ones_assert(path):
    cells = _section(_cells(path), "Exercises")
    assert cells, f"{path.name}: no '## Exercises' section"
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    labels = EXERCISE.findall(text)
    assert 3 <= len(labels) <= 5, f"{path.name}: {len(labels)} exercises, expected 3-5"
    prefix = f"ex{path.stem[:2]}-"
    assert all(label.startswith(prefix) for label in labels), f"{path.name}: labels must start with {prefix}: {labels}"
    gated = GATED_START.findall(text)
    solved = gated + SOLUTION.findall(text)
    assert sorted(solved) == sorted(labels), f"{path.name}: exercises {labels} but solutions for {solved}"
    # A gated solution's code cells run with the chapter; each hands-on one checks its own result.
    hands_on, inside, label = {}, False, None
    for cell in cells:
        if cell.cell_type == "markdown":
            start = GATED_START.search(cell.source)
            if start:
                inside, label = True, start.group(1)
            if "```{solution-end}" in cell.source:
                inside = False
        elif inside:
            hands_on.setdefault(label, []).append(cell.source)
    assert not inside, f"{path.name}: a solution-start without its solution-end"
    checked = [label for label, sources in hands_on.items() if any(re.search(r"^\s*assert ", s, re.M) for s in sources)]
    assert len(checked) >= 2, f"{path.name}: {len(checked)} hands-on solutions that assert their result, expected >= 2"


@pytest.mark.parametrize("path", CHAPTERS, ids=NAMES)
def test_chapter_links_the_glossary(path):
    used = {t.split("<")[-1].rstrip(">").strip().lower() for t in TERM.findall(_markdown(path))}
    assert used, f"{path.name}: no {{term}} link to the glossary"
    unknown = sorted(used - glossary_terms())
    assert not unknown, f"{path.name}: {{term}} links to terms the glossary lacks: {unknown}"


@pytest.mark.parametrize("path", CHAPTERS, ids=NAMES)
def test_chapter_names_the_data_sets_right(path):
    """The paper's data is its clinic's released collection (`load_public_release`); RA2-DREAM is another
    challenge's data, which the book does not read: it may be named only as the challenge."""
    for line in _markdown(path).splitlines():
        if re.search(r"RA2[- ]?DREAM", line, re.I):
            assert not re.search(r"RA2[- ]?DREAM (data|images|radiographs|set)", line, re.I), f"{path.name}: {line}"
