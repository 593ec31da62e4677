"""MBPP rows (original and sanitized) -> Problem with assert-list tests.

Owns the `mbpp` format. Original: task_id, text, code, test_list, test_setup_code,
challenge_test_list. Sanitized: task_id, prompt, code, test_list, test_imports.
The entry point is the first function the asserts call (else the first one `code`
defines); the statement appends the first assert as an example so the model knows the
function name and signature (common practice, as in the MBPP paper and EvalPlus).
Challenge tests are graded only with `include_challenge_tests=True`.

The hub mirror `evalplus/mbppplus` ships MBPP+ in this shape plus a `test` column: one
script holding every base+plus input and expected result. When present, that script is the
single graded "assert" (source "mbpp+"), and the original asserts stay in
metadata["base_asserts"] for base-only scoring.
"""

from __future__ import annotations

from pgrpo.data.loaders.base import LoadOptions, Record, first_called_function, function_signatures, loader
from pgrpo.data.problem import Problem, TestKind, Tests


def _detect(keys: frozenset[str]) -> bool:
    return "test_list" in keys and "task_id" in keys and bool(keys & {"text", "prompt", "code"})


def _str_list(record: Record, name: str) -> list[str]:
    return [item for item in record.get_list(name, str) if item.strip()]


@loader("mbpp", "MBPP original/sanitized: test_list asserts (+ test_setup_code)", _detect, priority=10)
def convert_mbpp(record: Record, options: LoadOptions) -> Problem:
    task_id = str(record.require("task_id", (str, int)))
    text_field = "text" if record.has("text") else "prompt"
    description = record.require_str(text_field).strip()
    asserts = _str_list(record, "test_list")
    if not asserts:
        raise record.error("test_list", "has no tests")
    if options.include_challenge_tests:
        asserts += _str_list(record, "challenge_test_list")
    setup = record.get("test_setup_code", str, default="")
    imports = _str_list(record, "test_imports")
    if imports:
        setup = "\n".join([*imports, setup]).strip() + "\n"
    code = record.get("code", str)
    entry_point = first_called_function(asserts) or next(iter(function_signatures(code or "")), "")
    if not entry_point:
        raise record.error("test_list", "calls no function (cannot tell the entry point)")
    statement = f"{description}\nYour code should pass this test:\n{asserts[0].strip()}\n"
    metadata: dict[str, object] = {"sanitized": text_field == "prompt"}
    plus_script = record.get("test", str, default="")
    graded, source = asserts, "mbpp"
    if plus_script.strip():  # EvalPlus hub mirror: grade on the full MBPP+ script
        graded, source = [plus_script], "mbpp+"
        metadata["base_asserts"] = asserts
    return Problem(
        task_id=task_id,
        statement=statement,
        entry_point=entry_point,
        tests=Tests(kind=TestKind.ASSERTS, asserts=tuple(graded), setup_code=setup),
        source=source,
        canonical_solution=code,
        metadata=metadata,
    )
