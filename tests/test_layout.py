"""The package's shape (ARCHITECTURE.md): small modules, short functions, no import cycles.

These read the source with `ast`; they import nothing of the package, so they run first and fast.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rheumabook"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
MAX_MODULE_LINES = 650  # "about 600"
MAX_FUNCTION_LINES = 60  # lines of code: docstrings, comments and blank lines do not count


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _code_lines(node: ast.AST, source_lines: list[str]) -> int:
    """Lines of a function that hold code (not blank, not comments, not the docstring)."""
    body = node.body
    skip: set[int] = set()
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        skip.update(range(body[0].lineno, body[0].end_lineno + 1))
    count = 0
    for lineno in range(node.lineno, node.end_lineno + 1):
        text = source_lines[lineno - 1].strip()
        if lineno in skip or not text or text.startswith("#"):
            continue
        count += 1
    return count


def _imports(path: Path) -> set[str]:
    """The package modules that `path` imports (anywhere in the file, local imports included)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        found.update(c for c in candidates if c.split(".")[0] == "rheumabook")
    return found


def _graph() -> dict[str, set[str]]:
    names = {_module_name(p) for p in MODULES}
    graph = {}
    for path in MODULES:
        me = _module_name(path)
        # an import of a sub-package's name resolves to that package's __init__; importing a
        # module of a package also runs the packages above it, but those edges say nothing about
        # who uses whom, so only the imported module itself counts.
        graph[me] = {t for t in _imports(path) if t in names and t != me and not me.startswith(t + ".")}
    return graph


def test_no_module_is_too_long():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in MODULES
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them where the seams show): {long}"


def test_no_function_is_too_long():
    long = {}
    for path in MODULES:
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = _code_lines(node, lines)
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines of code: {long}"


def test_no_import_cycles():
    graph = _graph()
    cycles = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, f"import cycles: {cycles}"


def test_cycle_finder_finds_a_planted_cycle(tmp_path, monkeypatch):
    """The check above can fail: two modules that import each other are reported."""
    pkg = tmp_path / "rheumabook"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import x\n")
    me = sys.modules[__name__]
    monkeypatch.setattr(me, "PACKAGE", pkg)
    monkeypatch.setattr(me, "MODULES", sorted(pkg.glob("*.py")))
    with pytest.raises(AssertionError, match="import cycles"):
        test_no_import_cycles()


@pytest.mark.parametrize("path", [p for p in MODULES if p.name == "__init__.py" and p.parent != PACKAGE],
                         ids=lambda p: p.parent.name)
def test_every_sub_package_declares_its_public_names(path):
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path}: a sub-package's __init__ opens with a docstring"
    assert any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
               for n in tree.body), f"{path}: no __all__"
