"""How a `Problem` is put to the policy: `SYSTEM_PROMPT` (the response format pgrpo.parsing checks),
the `PROMPT_STYLES` registry ("pgrpo": training; "plain": baselines), `build_messages` and
`render_prompt` / `render_messages` (one string, through the tokenizer's chat template if any)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pgrpo.config import ConfigError
from pgrpo.data.problem import Problem
from pgrpo.registry import Registry

SYSTEM_PROMPT = (
    "You are an expert Python programmer. First think through the problem step by step inside "
    "<think> and </think>. Then give your final solution inside <answer> and </answer>: the answer "
    "must contain exactly one fenced Python code block (```python ... ```) with the complete, "
    "self-contained program (including all imports) and nothing else.\n"
    "Format:\n<think>\nyour reasoning\n</think>\n<answer>\n```python\nyour code\n```\n</answer>"
)

PLAIN_SYSTEM_PROMPT = "You are a helpful Python programming assistant."

THINK_PREFILL = "<think>\n"


@dataclass(frozen=True)
class PromptStyle:
    """A prompt style: an optional system message and the user message built from a problem."""

    name: str
    system: str | None
    user: Callable[[Problem], str]


PROMPT_STYLES: Registry[PromptStyle] = Registry("prompt style")


def prompt_style(name: str, system: str | None) -> Callable[[Callable[[Problem], str]], Callable[[Problem], str]]:
    """Register the decorated `user(problem) -> str` as style `name` with `system`."""

    def decorator(user: Callable[[Problem], str]) -> Callable[[Problem], str]:
        PROMPT_STYLES.add(name, PromptStyle(name, system, user))
        return user

    return decorator


def _fenced(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


def _statement_is_code(problem: Problem) -> bool:
    # HumanEval-style: the statement *is* the starter code (signature + docstring).
    starter = problem.starter_code.strip()
    return bool(starter) and problem.statement.strip() == starter


def _task_description(problem: Problem) -> str:
    """The statement, the code to keep, and what the program must do with its I/O."""
    if _statement_is_code(problem):
        parts = [f"Complete the following Python function:\n{_fenced(problem.starter_code)}"]
    else:
        parts = [problem.statement.strip()]
        starter = problem.starter_code.strip()
        if starter and starter not in problem.statement:
            kept = "class skeleton" if problem.tests.class_name else "function signature"
            parts.append(f"Use this starter code and keep its {kept}:\n{_fenced(starter)}")
    if not problem.is_function_task:
        parts.append(
            "Write a complete program: read the input from standard input and write the answer "
            "to standard output."
        )
    elif problem.entry_point:
        what = f"Your code must define the function `{problem.entry_point}`"
        if problem.tests.class_name:
            what = f"Implement the method `{problem.entry_point}` of class `{problem.tests.class_name}`"
        parts.append(f"{what}. Do not read input or print the result.")
    return "\n\n".join(parts)


@prompt_style("pgrpo", SYSTEM_PROMPT)
def _pgrpo_user(problem: Problem) -> str:
    return (
        f"{_task_description(problem)}\n\n"
        "Reason inside <think></think>, then put the complete solution in one ```python block "
        "inside <answer></answer>."
    )


@prompt_style("plain", PLAIN_SYSTEM_PROMPT)
def _plain_user(problem: Problem) -> str:
    if _statement_is_code(problem):
        lead = ""  # the description already opens with "Complete the following Python function"
    elif problem.is_function_task:
        lead = "Write a Python function that solves this task.\n\n"
    else:
        lead = "Write a Python program that solves this problem.\n\n"
    return (
        f"{lead}{_task_description(problem)}\n\n"
        "Return the complete solution (including imports) in a single ```python code block."
    )


def get_style(style: str) -> PromptStyle:
    """The registered style (a plugin's once plugins are loaded); ConfigError naming the known styles otherwise."""
    try:
        return PROMPT_STYLES.lookup(style)
    except KeyError as exc:
        raise ConfigError(f"prompt style: {exc.args[0]}") from None


def build_messages(problem: Problem, style: str = "pgrpo") -> list[dict[str, str]]:
    """Chat messages ([system,] user) asking `problem` in `style`."""
    spec = get_style(style)
    messages = [{"role": "system", "content": spec.system}] if spec.system else []
    messages.append({"role": "user", "content": spec.user(problem)})
    return messages


def render_prompt(problem: Problem, tokenizer: Any = None, style: str = "pgrpo", *,
                  prefill_think: bool = False) -> str:
    """The prompt string: the tokenizer's chat template (with the generation prompt) if it has one,
    else "System: ...\\n\\nUser: ...\\n\\nAssistant: ". prefill_think: end with "<think>\\n" (parse such
    completions with `parse_response(text, think_prefilled=True)`)."""
    return render_messages(build_messages(problem, style), tokenizer, prefill_think=prefill_think)


def render_messages(messages: list[dict[str, str]], tokenizer: Any = None, *, prefill_think: bool = False) -> str:
    """Chat messages (of any task kind) as one prompt string; see `render_prompt`."""
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        text: str = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    else:  # no chat template (base models): role-labelled blocks, ending where the assistant speaks
        text = "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages) + "\n\nAssistant: "
    return text + THINK_PREFILL if prefill_think else text
