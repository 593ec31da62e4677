"""The one input template the reasoning reward model reads (`rm_input_text`) and its tokenisation
(`encode_rm_input`), shared by training, scoring and evaluation so an RM is always scored on the
layout it was trained on: "### Problem", "### Reasoning" and (with code) a "### Code" section;
token ids = [bos] + problem + reasoning header + response + [eos], cut by `truncate_parts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Bump when what an RM reads changes (this template, its truncation, or the implicit head's
# prompt/response encoding): RMs trained on another version are refused (pgrpo.rm.manifest).
TEMPLATE_VERSION = 1
PROBLEM_HEADER = "### Problem\n"
REASONING_HEADER = "\n\n### Reasoning\n"
CODE_HEADER = "\n\n### Code\n```python\n"
CODE_FOOTER = "\n```"


def response_text(reasoning: str, code: str | None = None) -> str:
    """The response part of the template: the reasoning, then the code section if any."""
    if code is None:
        return reasoning.strip()
    return reasoning.strip() + CODE_HEADER + code.strip("\n") + CODE_FOOTER


def split_response(text: str) -> tuple[str, str | None]:
    """Inverse of `response_text`: (reasoning, code) when `text` is exactly a reasoning followed
    by one code section (`response_text(*split_response(t)) == t.strip()`); otherwise
    (text.strip(), None), so a text that merely mentions the header stays whole."""
    head, sep, tail = text.strip().partition(CODE_HEADER)
    if sep and tail.endswith(CODE_FOOTER) and CODE_HEADER not in tail:
        reasoning, code = head, tail[:-len(CODE_FOOTER)]
        if response_text(reasoning, code) == text.strip():
            return reasoning, code
    return text.strip(), None


def rm_input_text(statement: str, reasoning: str, code: str | None = None) -> str:
    """The single text the reward model reads for (problem, reasoning[, code])."""
    return PROBLEM_HEADER + statement.strip() + REASONING_HEADER + response_text(reasoning, code)


@dataclass(frozen=True)
class EncodedInput:
    """Token ids for one RM input; `truncated` says whether the policy cut anything."""

    input_ids: list[int]
    truncated: bool
    start: int = 0  # first token a head scores from; the scalar head reads only the last


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def truncate_parts(n_problem: int, n_response: int, budget: int) -> tuple[int, int]:
    """How many problem tokens (from the start: the task is stated first) and response tokens (from
    the end: the conclusion and code sit next to the scored token) to keep within `budget`; the
    problem is cut first, but keeps min(n_problem, budget // 2) while the response is over its share."""
    if budget <= 0:
        raise ValueError(f"max_length leaves no room for text (budget {budget} tokens)")
    if n_problem + n_response <= budget:
        return n_problem, n_response
    keep_problem = min(n_problem, max(budget // 2, budget - n_response))
    return keep_problem, min(n_response, budget - keep_problem)


def encode_rm_input(tokenizer: Any, statement: str, reasoning: str, code: str | None = None,
                    max_length: int | None = None) -> EncodedInput:
    """Token ids of `rm_input_text(statement, reasoning, code)` under the truncation policy."""
    problem = _ids(tokenizer, PROBLEM_HEADER + statement.strip())
    header = _ids(tokenizer, REASONING_HEADER)
    response = _ids(tokenizer, response_text(reasoning, code))
    prefix = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    suffix = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    truncated = False
    if max_length is not None:
        budget = max_length - len(prefix) - len(header) - len(suffix)
        keep_p, keep_r = truncate_parts(len(problem), len(response), budget)
        truncated = keep_p < len(problem) or keep_r < len(response)
        problem = problem[:keep_p]
        response = response[len(response) - keep_r:] if keep_r else []
    return EncodedInput(prefix + problem + header + response + suffix, truncated)
