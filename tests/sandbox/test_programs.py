"""Program assembly (pgrpo.sandbox.programs): completions, solutions and full model responses."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests
from pgrpo.parsing import extract_code
from pgrpo.sandbox.programs import (
    PRELUDE_IMPORTS,
    program_from_code,
    program_from_completion,
    starter_prelude,
)

HE_PROMPT = '''from typing import List


def encode(s: str) -> str:
    """helper the tests need"""
    return s[::-1]


def decode(s: str) -> str:
    """Inverse of encode.
    >>> decode(encode("ab"))
    'ab'
    """
'''

HE = Problem(
    task_id="T/0",
    statement=HE_PROMPT,
    starter_code=HE_PROMPT,
    entry_point="decode",
    tests=Tests(kind=TestKind.HUMANEVAL, test_code="def check(candidate):\n    assert candidate('ba') == 'ab'\n"),
)

LC_STARTER = "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        "
LC = Problem(
    task_id="lc/1",
    statement="two sum",
    starter_code=LC_STARTER,
    entry_point="twoSum",
    tests=Tests(kind=TestKind.CALL, call_cases=(CallCase(([2, 7, 11], 9), [0, 1]),), class_name="Solution"),
)

STDIO = Problem(task_id="io/1", statement="sum", tests=Tests(kind=TestKind.STDIO, stdio_cases=(StdioCase("1 2\n", "3\n"),)))


def program_from_response(problem, response):
    """The verify path's program: the parser's extracted code, assembled for the problem."""
    return program_from_code(problem, extract_code(response))


def respond(code: str, reasoning: str = "I reverse the string.") -> str:
    return f"<think>{reasoning}</think>\n<answer>\n```python\n{code}\n```\n</answer>"


def run(program: str, driver: str, stdin: str = "") -> str:
    """Run a (trusted, test-made) program plus a driver in a subprocess; return stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", program + "\n" + driver], input=stdin, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_completion_is_prompt_plus_completion() -> None:
    body = "    return encode(s)\n"
    assert program_from_completion(HE, body) == HE_PROMPT + body
    assert program_from_completion(STDIO, "print(3)") == "print(3)"


def test_starter_prelude_keeps_imports_and_helpers() -> None:
    prelude = starter_prelude(HE)
    assert "from typing import List" in prelude and "def encode" in prelude
    assert "def decode" not in prelude
    assert starter_prelude(STDIO) == ""
    # a starter whose text before the target does not parse gives no prelude
    broken = Problem("x", "s", HE.tests, starter_code="@decorator\ndef decode(s):\n    pass\n", entry_point="decode")
    assert starter_prelude(broken) == ""


def test_response_with_full_function_gets_helpers_from_starter() -> None:
    code = 'def decode(s: str) -> str:\n    return encode(s)\n\nprint(decode("xy"))\nassert decode("a") == "a"'
    program = program_from_response(HE, respond(code))
    assert program.startswith(PRELUDE_IMPORTS)
    assert "print(decode" not in program and "assert decode" not in program  # driver code dropped
    assert run(program, "print(decode('ba'))") == "ab\n"


def test_response_redefining_helper_overrides_starter() -> None:
    code = "def encode(s):\n    return s + '!'\n\ndef decode(s):\n    return encode(s)\n"
    program = program_from_response(HE, respond(code))
    assert run(program, "print(decode('a'))") == "a!\n"


@pytest.mark.parametrize("body", ["    return encode(s)", "return encode(s)"])
def test_response_with_body_only_continues_the_starter(body: str) -> None:
    program = program_from_response(HE, respond(body))
    assert run(program, "print(decode('ba'))") == "ab\n"


def test_response_without_code_is_empty() -> None:
    assert program_from_response(HE, "<think>hmm</think><answer></answer>") == ""
    assert program_from_response(HE, "") == ""


def test_response_with_only_helpers_does_not_define_the_entry_point() -> None:
    code = "def helper(x):\n    return x\n\nhelper(1)"
    program = program_from_response(HE, respond(code))
    # read as the body of decode: it compiles, but decode then returns None
    out = run(program, "print(decode('ba'))")
    assert out == "None\n"


def test_leetcode_class_task() -> None:
    code = (
        "class Solution:\n"
        "    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
        "        seen = {}\n"
        "        for i, x in enumerate(nums):\n"
        "            if target - x in seen:\n"
        "                return [seen[target - x], i]\n"
        "            seen[x] = i\n"
        "\n"
        "sol = Solution()\nprint(sol.twoSum([1, 2], 3))\n"
    )
    program = program_from_response(LC, respond(code))
    assert "print(sol" not in program
    assert run(program, "print(Solution().twoSum([2, 7, 11], 9))") == "[0, 1]\n"  # List from the prelude


def test_leetcode_body_only() -> None:
    body = "d = Counter(nums)\nreturn [0, 1] if d else []"
    program = program_from_response(LC, respond(body))
    assert run(program, "print(Solution().twoSum([2, 7, 11], 9))") == "[0, 1]\n"


def test_stdio_program_kept_whole() -> None:
    code = 'import sys\n\ndef main():\n    a, b = map(int, sys.stdin.read().split())\n    print(a + b)\n\nif __name__ == "__main__":\n    main()'
    program = program_from_response(STDIO, respond(code))
    assert program == PRELUDE_IMPORTS + code + "\n"
    proc = subprocess.run([sys.executable, "-c", program], input="1 2\n", capture_output=True, text=True, timeout=30)
    assert proc.stdout == "3\n"


def test_future_import_hoisted() -> None:
    code = "from __future__ import annotations\nprint(sum(map(int, input().split())))"
    program = program_from_response(STDIO, respond(code))
    assert program.startswith("from __future__ import annotations\n")
    assert program.count("from __future__") == 1
    compile(program, "<program>", "exec")


def test_prelude_does_not_shadow_builtins() -> None:
    out = run(PRELUDE_IMPORTS, "print(pow(3, 2, 5), compile.__module__, inf > 1, gcd(4, 6))")
    assert out == "4 builtins True 2\n"


def test_unfenced_response_still_yields_code() -> None:
    program = program_from_response(HE, "def decode(s):\n    return s[::-1]\n")
    assert run(program, "print(decode('ba'))") == "ab\n"
