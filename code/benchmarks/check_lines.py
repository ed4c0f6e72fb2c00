"""Share of function-body lines that are input checks, per module (issue 17: <= 20 % in the core modules).

    python code/benchmarks/check_lines.py [module.py ...]   (default: attention, positional, transformer)

A function's body is every line of its statements, docstring excluded. A line is a check if it belongs to
an ``if`` statement whose body only raises (the condition and the ``raise``), to a ``raise`` of its own,
to a call of a checking helper (a function whose name starts with ``check_`` or ``_check``), or to the
body of such a helper defined in the module itself. Blank and comment lines are not counted.
"""

from __future__ import annotations

import ast
import pathlib
import sys

CORE = ("attention.py", "positional.py", "transformer.py")
PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "attnbook"


def _is_check_name(name: str) -> bool:
    return name.startswith(("check_", "_check"))


def _lines(node: ast.AST) -> set[int]:
    return set(range(node.lineno, node.end_lineno + 1))


def _check_lines(stmt: ast.stmt) -> set[int]:
    """Lines of ``stmt`` (recursively) that are checks."""
    if isinstance(stmt, ast.Raise):
        return _lines(stmt)
    if (
        isinstance(stmt, ast.If)
        and all(isinstance(s, ast.Raise) for s in stmt.body)
        and not stmt.orelse
    ):
        return _lines(stmt)
    calls = [n for n in ast.walk(stmt) if isinstance(n, ast.Call)]
    if (
        isinstance(stmt, ast.Expr)
        and calls
        and all(
            _is_check_name(getattr(c.func, "id", getattr(c.func, "attr", "")))
            for c in calls
        )
    ):
        return _lines(stmt)
    found: set[int] = set()
    for child in ast.iter_child_nodes(stmt):
        if isinstance(child, ast.stmt) and not isinstance(
            child, (ast.FunctionDef, ast.AsyncFunctionDef)
        ):
            found |= _check_lines(child)
    return found


def count(path: pathlib.Path) -> tuple[int, int]:
    """(check lines, body lines) over every function of ``path``."""
    source = path.read_text(encoding="utf-8")
    code_lines = {
        i
        for i, line in enumerate(source.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#")
    }
    body: set[int] = set()
    checks: set[int] = set()
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        stmts = fn.body
        if (
            stmts
            and isinstance(stmts[0], ast.Expr)
            and isinstance(getattr(stmts[0], "value", None), ast.Constant)
        ):
            stmts = stmts[1:]  # the docstring
        for stmt in stmts:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue  # counted as a function of its own
            lines = _lines(stmt) & code_lines
            body |= lines
            checks |= (
                lines if _is_check_name(fn.name) else _check_lines(stmt)
            ) & code_lines
    return len(checks), len(body)


def main() -> None:
    paths = [pathlib.Path(p) for p in sys.argv[1:]] or [
        PACKAGE / name for name in CORE
    ]
    for path in paths:
        n_checks, n_body = count(path)
        print(
            f"{path.name:16s} {n_checks:4d} check lines / {n_body:4d} body lines = {100 * n_checks / n_body:5.1f} %"
        )


if __name__ == "__main__":
    main()
