"""APPS / TACO rows -> Problem.

Owns the `apps` format: question, input_output (JSON text: inputs, outputs, optional
fn_name), starter_code, solutions (JSON text list), difficulty, and problem_id (APPS; TACO
rows have none, so their id is "taco/<0-based row>").

With `fn_name` the tests are call cases: each input is the list of arguments. APPS wraps
each expected return value in a one-element list (`[[3], [true]]`); when *every* output
of a problem is a one-element list we unwrap them (`3`, `true`), otherwise outputs are kept
as given. A `class Solution` starter makes the call go to `Solution.<fn_name>`.
Without `fn_name` the tests are stdin/stdout; inputs/outputs given as lists of lines are
joined with newlines.
"""

from __future__ import annotations

from typing import Any

from pgrpo.data.loaders.base import LoadOptions, Record, loader
from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests


def _detect(keys: frozenset[str]) -> bool:
    return "input_output" in keys and "question" in keys


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def _call_tests(record: Record, inputs: list[Any], outputs: list[Any], starter: str) -> Tests:
    unwrap = all(isinstance(out, list) and len(out) == 1 for out in outputs)
    cases = []
    for index, (args, out) in enumerate(zip(inputs, outputs)):
        if not isinstance(args, list):
            raise record.error(f"input_output.inputs[{index}]", "must be a list of arguments for fn_name problems")
        cases.append(CallCase(inputs=tuple(args), output=out[0] if unwrap else out))
    class_name = "Solution" if "class Solution" in starter else None
    return Tests(kind=TestKind.CALL, call_cases=tuple(cases), class_name=class_name)


@loader("apps", "APPS / TACO: input_output JSON (stdin/stdout, or fn_name call cases)", _detect, priority=5)
def convert_apps(record: Record, options: LoadOptions) -> Problem:
    is_taco = not record.has("problem_id")
    task_id = f"taco/{record.index - 1}" if is_taco else str(record.require("problem_id", (str, int)))
    statement = record.require_str("question")
    starter = record.get("starter_code", str, default="")
    io_spec = record.json_field("input_output")
    if not isinstance(io_spec, dict):
        raise record.error("input_output", f"must be a JSON object, got {type(io_spec).__name__}")
    inputs, outputs = io_spec.get("inputs"), io_spec.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise record.error("input_output", "must have lists 'inputs' and 'outputs'")
    if len(inputs) != len(outputs):
        raise record.error("input_output", f"has {len(inputs)} inputs but {len(outputs)} outputs")
    if not inputs:
        raise record.error("input_output", "has no test cases")
    fn_name = io_spec.get("fn_name")
    if fn_name is not None and not isinstance(fn_name, str):
        raise record.error("input_output.fn_name", f"must be a string, got {type(fn_name).__name__}")
    if fn_name:
        tests = _call_tests(record, inputs, outputs, starter)
    else:
        tests = Tests(kind=TestKind.STDIO, stdio_cases=tuple(
            StdioCase(stdin=_as_text(i), stdout=_as_text(o)) for i, o in zip(inputs, outputs)))
    solutions = record.json_field("solutions", required=False) or []
    canonical = solutions[0] if isinstance(solutions, list) and solutions and isinstance(solutions[0], str) else None
    difficulty = record.get("difficulty", str)
    metadata = {key: record.data[key] for key in ("url", "name", "source") if isinstance(record.data.get(key), str)}
    return Problem(
        task_id=task_id,
        statement=statement,
        starter_code=starter,
        entry_point=fn_name or "",
        tests=tests,
        source="taco" if is_taco else "apps",
        difficulty=difficulty.lower() if difficulty else None,
        canonical_solution=canonical,
        metadata=metadata,
    )
