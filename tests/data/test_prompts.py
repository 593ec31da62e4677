"""Prompt building and rendering for each task kind, with and without a chat template."""

from __future__ import annotations

import copy

import pytest

from pgrpo.config import ConfigError
from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests
from pgrpo.data.prompts import (
    PROMPT_STYLES,
    SYSTEM_PROMPT,
    THINK_PREFILL,
    build_messages,
    render_prompt,
)
from pgrpo.parsing import parse_response

HE_PROMPT = 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n'
HUMANEVAL = Problem(
    task_id="HumanEval/0", statement=HE_PROMPT, starter_code=HE_PROMPT, entry_point="add",
    tests=Tests(kind=TestKind.HUMANEVAL, test_code="def check(c):\n    assert c(1, 2) == 3\n"),
)
MBPP = Problem(
    task_id="2", statement="Write a function to reverse a string.\nYour code should pass this test:\n"
    "assert rev('ab') == 'ba'\n", entry_point="rev",
    tests=Tests(kind=TestKind.ASSERTS, asserts=("assert rev('ab') == 'ba'",)),
)
LEETCODE = Problem(
    task_id="lc1", statement="Given nums and target, return indices of two numbers adding to target.",
    starter_code="class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        ",
    entry_point="twoSum",
    tests=Tests(kind=TestKind.CALL, call_cases=(CallCase(([2, 7], 9), [0, 1]),), class_name="Solution"),
)
STDIO = Problem(
    task_id="cf1", statement="Read n and print 2n.",
    tests=Tests(kind=TestKind.STDIO, stdio_cases=(StdioCase("2\n", "4\n"),)),
)


def user_of(problem: Problem, style: str = "pgrpo") -> str:
    return build_messages(problem, style)[-1]["content"]


def test_registry_has_both_styles():
    assert {"pgrpo", "plain"} <= set(PROMPT_STYLES.names())  # other parts (toy) may add styles


def test_pgrpo_messages_structure():
    messages = build_messages(HUMANEVAL)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == SYSTEM_PROMPT
    for tag in ("<think>", "</think>", "<answer>", "</answer>", "```python"):
        assert tag in SYSTEM_PROMPT


def test_system_prompt_example_is_a_valid_response():
    # The format shown to the model must itself pass the format check.
    example = SYSTEM_PROMPT.split("Format:\n", 1)[1].replace("your code", "x = 1")
    assert parse_response(example).format_ok


def test_humaneval_signature_fenced_once():
    user = user_of(HUMANEVAL)
    assert user.count("def add(a: int, b: int) -> int:") == 1
    assert "```python\ndef add" in user
    assert "`add`" in user and "standard input" not in user


def test_mbpp_names_entry_point():
    user = user_of(MBPP)
    assert "reverse a string" in user and "`rev`" in user
    assert "Use this starter code" not in user


def test_leetcode_class_skeleton_kept():
    user = user_of(LEETCODE)
    assert "class Solution:" in user and "def twoSum(self" in user
    assert "class skeleton" in user
    assert "method `twoSum` of class `Solution`" in user


def test_stdio_task_says_stdin_stdout():
    user = user_of(STDIO)
    assert "standard input" in user and "standard output" in user
    assert "Do not read input" not in user


def test_plain_style_has_no_format_tags():
    messages = build_messages(STDIO, "plain")
    text = " ".join(m["content"] for m in messages)
    assert "<think>" not in text and "<answer>" not in text
    assert "```python" in text and "Write a Python program" in text
    assert user_of(HUMANEVAL, "plain").startswith("Complete the following Python function")
    assert user_of(MBPP, "plain").startswith("Write a Python function")


def test_unknown_style_names_known_ones():
    with pytest.raises(ConfigError, match="pgrpo, plain"):
        build_messages(STDIO, "fancy")


def test_render_with_chat_template(tiny_tokenizer):
    text = render_prompt(HUMANEVAL, tiny_tokenizer)
    assert text.startswith("<|im_start|>system\n" + SYSTEM_PROMPT)
    assert "<|im_start|>user\n" in text
    assert text.endswith("<|im_start|>assistant\n")
    assert render_prompt(HUMANEVAL, tiny_tokenizer, prefill_think=True).endswith("assistant\n" + THINK_PREFILL)


def test_render_without_chat_template(tiny_tokenizer):
    plain = render_prompt(STDIO, None)
    assert plain.startswith("System: " + SYSTEM_PROMPT)
    assert "\n\nUser: Read n and print 2n." in plain
    assert plain.endswith("\n\nAssistant: ")

    class NoTemplate:
        chat_template = None

        def apply_chat_template(self, *args, **kwargs):
            raise AssertionError("must not be called without a template")

    assert render_prompt(STDIO, NoTemplate()) == plain
    untemplated = copy.deepcopy(tiny_tokenizer)
    untemplated.chat_template = None
    assert render_prompt(STDIO, untemplated) == plain


def test_prefilled_completion_round_trip(tiny_tokenizer):
    prompt = render_prompt(HUMANEVAL, tiny_tokenizer, prefill_think=True)
    completion = "Add them.\n</think>\n<answer>\n```python\ndef add(a, b):\n    return a + b\n```\n</answer>"
    assert prompt.endswith("<think>\n")
    parsed = parse_response(completion, think_prefilled=True)
    assert parsed.format_ok and parsed.reasoning == "Add them."
