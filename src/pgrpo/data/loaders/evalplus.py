"""EvalPlus HumanEval+ / MBPP+ rows -> Problem.

Owns the `evalplus` format: task_id, prompt, entry_point, canonical_solution, base_input,
plus_input, atol (+ optional test, contract, test_list, code). EvalPlus ships inputs only,
so tests are call cases with `outputs_from_canonical=True`: the sandbox computes expected
outputs by running the canonical solution (kept as a self-contained program).

HumanEval+ prompts hold the signature + docstring (starter code = prompt, canonical =
prompt + body). MBPP+ prompts are plain descriptions and the canonical solution is a full
program: the starter code is empty and the statement gains the first original assert (or
the signature) so the model knows the function name, as EvalPlus itself does.
"""

from __future__ import annotations

import re

from pgrpo.data.loaders.base import LoadOptions, Record, function_signatures, loader
from pgrpo.data.problem import CallCase, Problem, TestKind, Tests


def _detect(keys: frozenset[str]) -> bool:
    return "base_input" in keys and "entry_point" in keys


def _source_of(task_id: str) -> str:
    if task_id.lower().startswith("humaneval"):
        return "humaneval+"
    if task_id.lower().startswith("mbpp"):
        return "mbpp+"
    return "evalplus"


def _mbpp_statement(record: Record, prompt: str, entry_point: str, program: str) -> str:
    description = prompt.strip().strip('"').strip()
    if "assert" in description:  # mirrors that already embed the example
        return prompt
    tests = record.get("test_list", list, default=[])
    if tests and isinstance(tests[0], str):
        return f'"""\n{description}\n{tests[0].strip()}\n"""\n'
    signature = function_signatures(program).get(entry_point) or f"def {entry_point}(...):"
    return f'"""\n{description}\nThe function must be `{signature}`\n"""\n'


@loader("evalplus", "EvalPlus HumanEval+/MBPP+: base_input + plus_input, outputs from canonical", _detect,
        priority=40)
def convert_evalplus(record: Record, options: LoadOptions) -> Problem:
    task_id = str(record.require("task_id", (str, int)))
    prompt = record.require_str("prompt")
    entry_point = record.require_str("entry_point")
    body = record.require_str("canonical_solution")
    atol = record.get("atol", (int, float))
    base_inputs = record.get_list("base_input", list)  # each item: one call's argument list
    cases = [CallCase(inputs=tuple(args)) for args in base_inputs + record.get_list("plus_input", list)]
    if not cases:
        raise record.error("base_input", "has no test inputs")
    defines_entry = re.search(rf"def\s+{re.escape(entry_point)}\s*\(", prompt) is not None
    if defines_entry:  # HumanEval+: prompt is the signature + docstring, body completes it
        statement, starter, canonical = prompt, prompt, prompt + body
    else:  # MBPP+: canonical is already a full program
        canonical = body
        statement, starter = _mbpp_statement(record, prompt, entry_point, body), ""
    metadata = {"base_count": len(base_inputs)}
    for key in ("test", "contract"):
        value = record.get(key, str)
        if value:
            metadata["test_code" if key == "test" else key] = value
    return Problem(
        task_id=task_id,
        statement=statement,
        starter_code=starter,
        entry_point=entry_point,
        tests=Tests(kind=TestKind.CALL, call_cases=tuple(cases), atol=float(atol) if atol is not None else None,
                    outputs_from_canonical=True),
        source=_source_of(task_id),
        canonical_solution=canonical,
        metadata=metadata,
    )
