"""The math response format `<think>R</think><answer>... \\boxed{A} ...</answer>` and `extract_boxed`.

`format_ok`: each tag once, in order, only whitespace around, non-empty reasoning, a \\boxed{} in
the answer. The answer region is `pgrpo.parsing.response`'s: a \\boxed{} only inside <think> is none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pgrpo.parsing.response import (
    TAGS,
    THINK_OPEN,
    after_think_region,
    answer_region,
    normalize_newlines,
    reasoning_region,
)

_MATH_FORMAT = re.compile(r"\A\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*\Z", re.DOTALL)


@dataclass(frozen=True)
class MathParsed:
    """A math completion split into reasoning and answer region; `format_ok` is the math R_f."""

    reasoning: str
    answer: str
    format_ok: bool


def parse_math_response(text: str, *, think_prefilled: bool = False) -> MathParsed:
    """Split a math completion (module docstring); `think_prefilled`: the prompt ended with <think>."""
    text = normalize_newlines(text)
    if think_prefilled:
        text = THINK_OPEN + text
    region = answer_region(text)
    if region is None:
        region = after_think_region(text)
    if region is None:
        region = "" if THINK_OPEN in text else text
    answer = region.strip()
    reasoning = reasoning_region(text, before_fence=False)
    well_formed = _MATH_FORMAT.match(text) is not None and all(text.count(tag) == 1 for tag in TAGS)
    return MathParsed(reasoning, answer, well_formed and bool(reasoning) and "\\boxed" in answer)


def _balanced(text: str, open_at: int) -> str | None:
    """Content of the brace group opening at text[open_at] == "{", or None if unbalanced."""
    depth = 0
    for i in range(open_at, len(text)):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
            continue  # \{ and \} are literal braces (sets), not grouping
        if char == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif char == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[open_at + 1:i]
    return None


def extract_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...} in `text` (nested braces kept), or None.

    Also accepts the brace-less form "\\boxed 5" (content = the next whitespace-free token).
    An unbalanced last box yields None rather than a guess.
    """
    starts = [(m.start(), m.end()) for m in re.finditer(r"\\(?:boxed|fbox)(?![A-Za-z])", text)]
    if not starts:
        return None
    _, end = starts[-1]
    rest = text[end:]
    stripped = rest.lstrip()
    if stripped.startswith("{"):
        content = _balanced(text, end + (len(rest) - len(stripped)))
        return content.strip() if content is not None else None
    token = re.match(r"\s+([^\s$]+)", rest)
    return token.group(1).rstrip(".") if token else None
