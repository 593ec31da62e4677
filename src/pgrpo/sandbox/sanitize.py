"""AST pruning of a function-task solution to the entry point and what it needs (`sanitize`).

Part of program assembly (`pgrpo.sandbox.programs`): driver code a model appends (prints,
asserts, `if __name__ == "__main__":` blocks, input()) is dropped before the tests run. Pure
text: nothing here executes code, and it does NOT protect against anything (the result is
untrusted and only safe to run in the sandbox).
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterable

from pgrpo.parsing import normalize_newlines

_KEEP_CALLS = frozenset({"sys.setrecursionlimit"})  # top-level calls a solution may rely on


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _defined_names(node: ast.stmt) -> set[str]:
    """Names a top-level statement binds (defs, classes, assignment targets, nested in if/try)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Assign):
        return set().union(*(_names_in(t) for t in node.targets))
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        return _names_in(node.target)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.If, ast.Try, ast.With)) and not _is_main_guard(node):
        children: Iterable[ast.stmt] = [s for f in ("body", "orelse", "finalbody") for s in getattr(node, f, [])]
        if isinstance(node, ast.Try):
            children = [*children, *(s for h in node.handlers for s in h.body)]
        return set().union(set(), *(_defined_names(s) for s in children))
    return set()


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    return "__name__" in _names_in(node.test)


def _is_import_like(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return True
    if isinstance(node, ast.Try):  # try: import x / except ImportError: ...
        return all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) for s in node.body)
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return ast.unparse(node.value.func) in _KEEP_CALLS
    return False


def _calls_input(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "input"
        or isinstance(n, ast.Attribute) and n.attr in {"stdin", "argv"}
        for n in ast.walk(node)
    )


def _roots(body: list[ast.stmt], entry_point: str) -> list[int] | None:
    """Indices of the statements defining the entry point (or a class with that method)."""
    direct = [i for i, n in enumerate(body) if entry_point in _defined_names(n) and not _is_import_like(n)]
    if direct:
        return direct
    owners = [
        i for i, n in enumerate(body)
        if isinstance(n, ast.ClassDef)
        and any(isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and m.name == entry_point for m in n.body)
    ]
    return owners or None


def _segment(code: str, node: ast.stmt) -> str:
    source = ast.get_source_segment(code, node) or ast.unparse(node)
    decorators = getattr(node, "decorator_list", [])
    prefix = "".join(f"@{ast.get_source_segment(code, d) or ast.unparse(d)}\n" for d in decorators)
    return prefix + source


def sanitize(code: str, entry_point: str | None, *, also_keep: Collection[str] = ()) -> str:
    """Keep what a function task's tests need: imports, the entry point, and every top-level
    def / class / assignment it transitively references (by name). Drops top-level calls,
    prints, asserts, `if __name__ == "__main__":` blocks and other driver code.

    entry_point may name a top-level function/class or a method of a top-level class
    (LeetCode `class Solution`). If it is not defined, all imports and definitions are kept
    (minus driver code: statements reading input()/sys.stdin/sys.argv). With entry_point
    None or "" (stdin/stdout programs), or if the code does not parse, `code` is returned
    unchanged: the driver is the program, and the sandbox reports syntax errors.
    also_keep: more top-level names the tests use directly (HumanEval/50's tests call the
    prompt's `encode_shift`, which `decode_shift` never references); they become extra roots.
    """
    if not entry_point:
        return code
    code = normalize_newlines(code)
    try:
        body = ast.parse(code).body
    except (SyntaxError, ValueError):
        return code
    defs = {i: _defined_names(n) for i, n in enumerate(body) if not _is_import_like(n)}
    defs = {i: names for i, names in defs.items() if names}
    roots = _roots(body, entry_point)
    if roots is not None:
        roots += [i for i, names in defs.items() if names & set(also_keep)]
    if roots is None:
        keep = {i for i in defs if not _calls_input(body[i])}
    else:
        keep, frontier = set(), list(roots)
        while frontier:
            i = frontier.pop()
            if i in keep:
                continue
            keep.add(i)
            needed = _names_in(body[i])
            frontier.extend(j for j, names in defs.items() if j not in keep and names & needed)
    parts = [_segment(code, n) for i, n in enumerate(body) if i in keep or _is_import_like(n)]
    return "\n".join(parts) + ("\n" if parts else "")
