"""Test-case fingerprints for `pgrpo data build-rl`: when two problems share a test case.

Owns `CaseKey`, `case_keys(problem)` and `assert_case_keys(code, entry_point)`: one key per test
case, whatever form the tests take, so a copy of a problem is recognized in another test form.
- Call cases (APPS/TACO `fn_name`, pgrpo JSONL): `exact` = JSON of (arguments, expected result),
  `inputs` = JSON of the arguments alone. EvalPlus rows ship inputs only
  (`Tests.outputs_from_canonical`): they have `inputs` and no `exact`.
- Asserts (MBPP lists, HumanEval `check`, BigCodeBench `self.assertEqual`), read with `ast`:
  `assert f(ARGS) == OUT` (or `OUT == f(ARGS)`, `assert f(ARGS)`, `assert not f(ARGS)`,
  `assertEqual(f(ARGS), OUT)`) with literal ARGS and OUT is the same (arguments, result) pair as
  a call case, whatever the function is called. An assert that calls the function with literal
  ARGS inside something else (`set(f(ARGS)) == set(OUT)`, `abs(f(ARGS) - OUT) < 1e-6`) keys its
  text (whitespace removed, the function called `f`) and its inputs. EvalPlus test scripts
  (`inputs = [...]`, `results = [...]`, `assertion(f(*inp), exp, atol)`: the hub's HumanEval+ and
  MBPP+) give one case per input. Asserts that do not call the function are not test cases.
- stdin/stdout cases: the whitespace-collapsed text of both.

Two cases are the same when their `exact` keys are equal, or when their `inputs` are equal and
at least one of them has no (arguments, result) pair (its result is unknown or not literal).
Arguments too short to tell problems apart (JSON under MIN_INPUT_CHARS characters, like `[1]`
or `["ab"]`) get no `inputs` key. Pure data: test code is parsed, never run.
"""

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


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def assert_case_keys(code: str, entry_point: str) -> list[CaseKey]:
    """Keys of the asserts in `code` (a test script, one assert, or unittest methods)."""
    names = frozenset(n for n in (entry_point, "candidate") if n)
    tree = _parse(code)
    if tree is None:  # not Python as a whole: each assert line as text
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
    """One key per distinct test case of `problem` (see the module docstring)."""
    return frozenset(_case_keys(problem))
