"""The one input template the reasoning reward model reads, and its tokenisation.

Owns `rm_input_text` (the text form, used for display and by judges) and `encode_rm_input`
(the token ids the RM actually sees). Training (`pgrpo rm train`), scoring
(`RewardScorer`, hence the RL reward) and evaluation (`pgrpo rm eval`) all go through
`encode_rm_input`, so the model is always scored on exactly the layout it was trained on.

Template (code section only when `code` is given)::

    ### Problem
    {statement}

    ### Reasoning
    {reasoning}

    ### Code
    ```python
    {code}
    ```

Pairs JSONL maps onto it as: `prompt` = the problem statement, `chosen` / `rejected` = the
reasoning text (which may already contain a code section, e.g. LCB-RB pairs rendered with
`response_text`). The RM text of a pair side is `rm_input_text(prompt, chosen)`.

Token ids = [bos if the tokenizer has one] + problem part + reasoning header + response part
+ [eos]. Each part is tokenised on its own, so truncating one never changes the tokens of
another, and the final eos is where a last-token reward head reads the score.

Truncation policy (when the ids would exceed `max_length`):
  * the problem keeps its START (the task is stated first; examples/constraints trail), and
    is cut first, but never below half of the budget while the response needs the room;
  * the response (reasoning [+ code]) keeps its END: the conclusion and the code the
    reasoning led to sit there, next to the token the score is read from.
Nothing is ever dropped silently: the caller can see `EncodedInput.truncated`.
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
    if not text:
        return []
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def truncate_parts(n_problem: int, n_response: int, budget: int) -> tuple[int, int]:
    """How many problem tokens (from the start) and response tokens (from the end) to keep.

    Pure policy: total <= budget; the problem is cut first, but keeps at least
    min(n_problem, budget // 2) tokens while the response is also over its share.
    """
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
