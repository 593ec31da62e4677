"""The code response format: `parse_response` (R_f's definition), `format_response`, `extract_code`.

    <think>REASONING</think>
    <answer>
    ```python
    CODE
    ```
    </answer>

`format_ok` (after CRLF -> LF; with `think_prefilled`, "<think>" is prepended) iff: each tag occurs
exactly once, in order; only whitespace outside the two blocks (special tokens fail: decode with
skip_special_tokens); non-empty reasoning; the answer is exactly one closed, non-blank CommonMark
fence tagged "", python, py, python3 or py3. Passing tests is the outcome reward, not the format.

Math (`parse_math_response`): `<think>R</think><answer>... \\boxed{A} ...</answer>`, `format_ok` iff each
tag once, in order, only whitespace around, non-empty reasoning and a \\boxed{} in the answer; the
answer region is the code's (a \\boxed{} only inside <think> is none); `extract_boxed` reads it.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
PYTHON_TAGS = frozenset({"", "python", "py", "python3", "py3"})

_OPEN_FENCE = re.compile(r"^[ \t]*(`{3,})[ \t]*([^`\n]*)$", re.MULTILINE)
# Fallback when no fence starts a line: a python-tagged opener glued to prose ("Code: ```python").
_OPEN_FENCE_RELAXED = re.compile(r"(`{3,})[ \t]*((?:python3?|py3?)[ \t]*)$", re.MULTILINE | re.IGNORECASE)
# Lines that plausibly start Python code, used to cut leading prose off unfenced answers.
_CODE_START = re.compile(
    r"^(?:def |async def |class |import |from \S+ import |@|if __name__|[A-Za-z_][\w, ]*\s*=[^=])"
)


@dataclass(frozen=True)
class ParsedResponse:
    """A completion split into parts (stripped; "" when absent); `problems`: why the format failed."""

    reasoning: str
    answer: str
    code: str
    format_ok: bool
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Fence:
    """One fenced block found in a text: `lang` lower-cased first word of the info string."""

    lang: str
    code: str
    start: int  # offset of the opening fence line
    end: int  # offset just past the closing fence (len(text) if unclosed)
    closed: bool


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def find_fences(text: str, *, relaxed: bool = False) -> list[Fence]:
    """All top-level fenced blocks in `text`, in order (an unclosed one runs to the end); `relaxed`:
    also a python-tagged opening fence in the middle of a line."""
    fences: list[Fence] = []
    pos = 0
    pattern = _OPEN_FENCE_RELAXED if relaxed else _OPEN_FENCE
    while True:
        opening = pattern.search(text, pos)
        if opening is None:
            return fences
        ticks = len(opening.group(1))
        info = opening.group(2).strip()
        lang = info.split()[0].lower() if info else ""
        body_start = min(opening.end() + 1, len(text))
        closing = re.compile(rf"^[ \t]*`{{{ticks},}}[ \t]*$", re.MULTILINE).search(text, body_start)
        if closing is not None and closing.start() >= body_start:
            body, end, closed = text[body_start:closing.start()], closing.end(), True
        else:
            body, end, closed = text[body_start:], len(text), False
        fences.append(Fence(lang, textwrap.dedent(body).rstrip("\n"), opening.start(), end, closed))
        if end >= len(text):
            return fences
        pos = end


def _replace_tags(text: str, by: str = "") -> str:
    for tag in TAGS:
        text = text.replace(tag, by.format(tag))
    return text


def answer_region(text: str) -> str | None:
    """Text after the last `<answer>` up to the next `</answer>` (or the end); None if no tag."""
    start = text.rfind(ANSWER_OPEN)
    if start < 0:
        return None
    start += len(ANSWER_OPEN)
    end = text.find(ANSWER_CLOSE, start)
    return text[start:] if end < 0 else text[start:end]


def _answer_regions(text: str) -> list[str]:
    """Where an answer is read, in order: the answer region, after the last `</think>`, a tagless text."""
    end = text.rfind(THINK_CLOSE)
    after = None if end < 0 else text[end + len(THINK_CLOSE):]
    whole = None if THINK_OPEN in text or THINK_CLOSE in text else text
    return [r for r in (answer_region(text), after, whole) if r is not None]


def _prefilled(text: str, think_prefilled: bool) -> str:
    return (THINK_OPEN if think_prefilled else "") + normalize_newlines(text)


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _choose_fence(fences: list[Fence]) -> Fence:
    """Python-tagged/untagged fences beat others; among those, the longest that parses wins
    (ties go to the later one); if none parses, the last one."""
    pool = [f for f in fences if f.lang in PYTHON_TAGS] or fences
    parsing = [f for f in pool if _parses(f.code)]
    if parsing:
        return max(reversed(parsing), key=lambda f: len(f.code.strip()))
    return pool[-1]


def _bare_code(text: str) -> str:
    """Unfenced text: whole text if it parses, else from the first code-looking line on if that
    parses, else the text (the sandbox reports the syntax error)."""
    text = _replace_tags(text).strip("\n")
    if not text.strip() or _parses(text):
        return textwrap.dedent(text).strip("\n") if text.strip() else ""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _CODE_START.match(line):
            candidate = "\n".join(lines[i:]).rstrip()
            if _parses(candidate):
                return candidate
            break
    return text.strip()


def extract_code(text: str) -> str:
    """Best-effort program from any completion text ("" if there is nothing).

    Only the answer region counts (as for math): the last `<answer>` (to `</answer>` or the end),
    else after the last `</think>`; an unclosed `<think>` has none, a text without think tags is all
    answer, so code only in the reasoning never runs. The first region with a fence (opening a line;
    then ```python glued to prose) gives `_choose_fence`'s pick; with no fence, a region as bare code.
    """
    regions = _answer_regions(_replace_tags(normalize_newlines(text), "\n{}\n"))  # fences glued to tags seen
    for relaxed in (False, True):
        for region in regions:
            # Blank blocks are skipped: a lone closing ``` would otherwise read as an empty opener.
            fences = [f for f in find_fences(region, relaxed=relaxed) if f.code.strip()]
            if fences:
                return _choose_fence(fences).code
    for region in regions:
        if _replace_tags(region).strip():
            return _bare_code(region)
    return ""


def _check_answer(answer: str) -> list[str]:
    fences = find_fences(answer)
    if not fences:
        return ["<answer> holds no fenced code block"]
    if len(fences) > 1:
        return [f"<answer> holds {len(fences)} fenced code blocks (expected exactly 1)"]
    fence = fences[0]
    problems = []
    if not fence.closed:
        problems.append("the code fence in <answer> is not closed")
    if fence.lang not in PYTHON_TAGS:
        problems.append(f"the code fence's language {fence.lang!r} is not python")
    if not fence.code.strip():
        problems.append("the code block is empty")
    if (answer[:fence.start] + answer[fence.end:]).strip():
        problems.append("<answer> holds text outside the code fence")
    return problems


def _format_problems(text: str, *, code: bool = True) -> list[str]:
    """Why `text` breaks the tag layout (both formats) or, with `code`, the answer's one-fence rule."""
    counts = {tag: text.count(tag) for tag in TAGS}
    problems = [
        f"missing {tag}" if n == 0 else f"{n} {tag} tags (expected exactly 1)"
        for tag, n in counts.items()
        if n != 1
    ]
    if problems:
        return problems
    positions = [text.index(tag) for tag in TAGS]
    if positions != sorted(positions):
        return ["tags out of order (expected <think>, </think>, <answer>, </answer>)"]
    t_open, t_close, a_open, a_close = positions
    if text[:t_open].strip():
        problems.append("text before <think>")
    if text[t_close + len(THINK_CLOSE):a_open].strip():
        problems.append("text between </think> and <answer>")
    if text[a_close + len(ANSWER_CLOSE):].strip():
        problems.append("text after </answer>")
    if not text[t_open + len(THINK_OPEN):t_close].strip():
        problems.append("empty reasoning")
    if code:
        problems.extend(_check_answer(text[a_open + len(ANSWER_OPEN):a_close]))
    return problems


def reasoning_region(text: str, *, before_fence: bool = True) -> str:
    """Inside the first <think>...</think>; without </think>, up to <answer> or the end (with
    `before_fence`, a code response with no tags at all: up to its first fence)."""
    start = text.find(THINK_OPEN)
    start = 0 if start < 0 else start + len(THINK_OPEN)
    end = text.find(THINK_CLOSE, start)
    if end < 0:
        end = text.find(ANSWER_OPEN, start)
    if end < 0:
        fences = find_fences(text[start:]) if before_fence else []
        end = start + fences[0].start if fences else len(text)
    return text[start:end].strip()


def parse_response(text: str, *, think_prefilled: bool = False) -> ParsedResponse:
    """Split a completion into reasoning / answer / code and judge its format (module docstring)."""
    text = _prefilled(text, think_prefilled)
    problems = _format_problems(text)
    answer = answer_region(text)
    return ParsedResponse(
        reasoning=reasoning_region(text),
        answer=(answer or "").strip(),
        code=extract_code(text),
        format_ok=not problems,
        problems=tuple(problems),
    )


def format_response(reasoning: str, code: str | None = None) -> str:
    """The response `parse_response` accepts: the reasoning in <think>, then `code` (if given) in one
    python fence inside <answer>."""
    think = f"{THINK_OPEN}\n{reasoning.strip()}\n{THINK_CLOSE}"
    if code is None:
        return think
    return f"{think}\n{ANSWER_OPEN}\n```python\n{code.rstrip()}\n```\n{ANSWER_CLOSE}"


@dataclass(frozen=True)
class MathParsed:
    """A math completion split into reasoning and answer region; `format_ok` is the math R_f."""

    reasoning: str
    answer: str
    format_ok: bool


def parse_math_response(text: str, *, think_prefilled: bool = False) -> MathParsed:
    """Split a math completion (module docstring); `think_prefilled`: the prompt ended with <think>."""
    text = _prefilled(text, think_prefilled)
    regions = _answer_regions(text)
    answer = (regions[0] if regions else "").strip()
    format_ok = not _format_problems(text, code=False) and "\\boxed" in answer
    return MathParsed(reasoning_region(text, before_fence=False), answer, format_ok)


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
    """Content of the last \\boxed{...} / \\fbox{...} (nested braces kept) or "\\boxed 5" token; None
    when there is none or the last box is unbalanced."""
    boxes = list(re.finditer(r"\\(?:boxed|fbox)(?![A-Za-z])", text))
    if not boxes:
        return None
    end = boxes[-1].end()
    rest = text[end:]
    stripped = rest.lstrip()
    if stripped.startswith("{"):
        content = _balanced(text, end + (len(rest) - len(stripped)))
        return content.strip() if content is not None else None
    token = re.match(r"\s+([^\s$]+)", rest)
    return token.group(1).rstrip(".") if token else None
