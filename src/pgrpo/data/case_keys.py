"""Test-case keys (`case_keys(problem)`): one per case, whatever its form, so a copy of a problem is
recognized in another test form. A call case, or an assert / `assertEqual` comparing a call on literal
arguments with a literal (read with `ast`, never run), is its (arguments, result) pair; an assert that
wraps such a call otherwise keys its text and arguments; an EvalPlus script gives one case per input;
a stdio case is its whitespace-collapsed text. Two cases are the same when their pairs are equal, or
their arguments are (MIN_INPUT_CHARS or longer as JSON) and one side has no pair (result unknown)."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pgrpo.data.problem import Problem, TestKind

MIN_INPUT_CHARS = 8
_SPACE = re.compile(r"\s+")
_NOT_LITERAL = object()


@dataclass(frozen=True)
class CaseKey:
    """One test case: `exact` identifies it with its expected result (None when the result is
    unknown), `inputs` by its arguments alone; `paired` says `exact` is an (arguments, result) pair."""

    exact: str | None = None
    inputs: str | None = None
    paired: bool = False

    def sort_key(self) -> str:
        return self.exact or f"inputs:{self.inputs}"


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):  # in a fixed order, whatever the hash seed
        return {"set": sorted(_json(item) for item in value)}
    return repr(value)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=_default)
    except TypeError:  # dict keys of mixed types cannot be sorted
        return json.dumps(value, default=_default)


def call_key(inputs: Iterable[Any], output: Any = None, has_output: bool = True) -> CaseKey:
    args = _json(list(inputs))
    inputs_key = args if len(args) >= MIN_INPUT_CHARS else None
    if not has_output:
        return CaseKey(None, inputs_key)
    return CaseKey(_json(["io", list(inputs), output]), inputs_key, paired=True)


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


def _is_target(node: ast.AST, names: frozenset[str]) -> bool:
    func = node.func if isinstance(node, ast.Call) else None
    return (isinstance(func, ast.Name) and func.id in names) or (isinstance(func, ast.Attribute)
                                                                 and func.attr in names)


def _literal_args(call: ast.Call) -> list[Any] | None:
    if call.keywords or any(isinstance(a, ast.Starred) for a in call.args):
        return None
    args = [_literal(a) for a in call.args]
    return None if any(a is _NOT_LITERAL for a in args) else args


def _compared(node: ast.AST) -> tuple[ast.AST, ast.AST] | None:
    """(left, right) of `left == right` / `left is right`, or of `assertEqual(left, right)`."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.Is)):
        return node.left, node.comparators[0]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and len(node.args) >= 2 \
            and node.func.attr in ("assertEqual", "assertEquals"):
        return node.args[0], node.args[1]
    return None


def _text_key(text: str, entry_point: str) -> str:
    if entry_point:
        text = re.sub(rf"\b{re.escape(entry_point)}\b", "f", text)
    return "assert:" + _SPACE.sub("", text.replace("candidate", "f"))


def _check_key(node: ast.AST, source: str, names: frozenset[str], entry_point: str) -> CaseKey | None:
    """The key of one assert (its test expression) that calls the function under test."""
    calls = [n for n in ast.walk(node) if isinstance(n, ast.Call) and _is_target(n, names)]
    if not calls:
        return None
    sides = _compared(node)
    if sides is None and isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        sides = (node.operand, ast.Constant(False))
    elif sides is None and node is calls[0]:
        sides = (node, ast.Constant(True))
    if sides is not None:
        for call, expected in (sides, sides[::-1]):
            if call is calls[0] and len(calls) == 1:
                args, output = _literal_args(calls[0]), _literal(expected)
                if args is not None and output is not _NOT_LITERAL:
                    return call_key(args, output)
    args = _literal_args(calls[0]) if len(calls) == 1 else None
    inputs = call_key(args, has_output=False).inputs if args is not None else None
    text = ast.get_source_segment(source, node) or ast.unparse(node)
    return CaseKey(_text_key(text, entry_point), inputs)


def _script_keys(tree: ast.AST, names: frozenset[str]) -> list[CaseKey]:
    """EvalPlus scripts: `inputs = [...]`, `results = [...]`, `assertion(f(*inp), exp, ...)`."""
    values: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id in ("inputs", "results"):
            values[node.targets[0].id] = _literal(node.value)
    inputs, results = values.get("inputs"), values.get("results")
    if not isinstance(inputs, list) or not all(isinstance(i, (list, tuple)) for i in inputs):
        return []
    direct = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "assertion"
                 and n.args and _is_target(n.args[0], names) for n in ast.walk(tree))
    if direct and isinstance(results, list) and len(results) == len(inputs):
        return [call_key(args, out) for args, out in zip(inputs, results, strict=True)]
    return [call_key(args, has_output=False) for args in inputs]


def assert_case_keys(code: str, entry_point: str) -> list[CaseKey]:
    """Keys of the asserts in `code` (a test script, one assert, or unittest methods)."""
    names = frozenset(n for n in (entry_point, "candidate") if n)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):  # not Python as a whole: each assert line
        return [CaseKey(_text_key(line.strip(), entry_point)) for line in code.splitlines()
                if line.strip().startswith(("assert", "self.assert"))]
    keys = _script_keys(tree, names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            test: ast.AST = node.test
        elif isinstance(node, ast.Call) and _compared(node) is not None:  # self.assertEqual(...)
            test = node
        else:
            continue
        if not entry_point:  # nothing tells which calls are under test: the text of every assert
            keys.append(CaseKey(_text_key(ast.get_source_segment(code, test) or ast.unparse(test), "")))
            continue
        key = _check_key(test, code, names, entry_point)
        if key is not None:
            keys.append(key)
    return keys


def _case_keys(problem: Problem) -> Iterator[CaseKey]:
    tests = problem.tests
    if tests.kind is TestKind.CALL:
        for case in tests.call_cases:
            yield call_key(case.inputs, case.output, has_output=not tests.outputs_from_canonical)
    elif tests.kind is TestKind.STDIO:
        for stdio in tests.stdio_cases:
            yield CaseKey(_json(["stdio", _SPACE.sub(" ", stdio.stdin).strip(), _SPACE.sub(" ", stdio.stdout).strip()]))
    elif tests.kind is TestKind.ASSERTS:
        base = problem.metadata.get("base_asserts")  # the MBPP+ hub mirror: original asserts + one script
        for text in (*tests.asserts, *(base if isinstance(base, list) else ())):
            yield from assert_case_keys(str(text), problem.entry_point)
    else:
        yield from assert_case_keys(tests.test_code, problem.entry_point)


def case_keys(problem: Problem) -> frozenset[CaseKey]:
    return frozenset(_case_keys(problem))
