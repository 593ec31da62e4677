"""The "math" task type, `MathTask`: the final \\boxed{} of the answer region (`pgrpo.parsing`)
against the gold answer (`answers_match`: math-verify equivalence, else normalized strings).

math-verify's timeouts use signal.alarm (main thread only); elsewhere it runs in a daemon watchdog
thread. Does NOT protect against: a runaway sympy computation off the main thread keeps running after
we give up (returning False); answers over `MAX_ANSWER_CHARS` skip symbolic checking. Runs no
untrusted code.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pgrpo.data.math import MathProblem, load_math_problems, math_messages
from pgrpo.parsing.response import extract_boxed, parse_math_response
from pgrpo.verify.verdict import NO_ANSWER, WRONG_ANSWER, JobRunner, TaskType, Verdict

T = TypeVar("T")

MAX_ANSWER_CHARS = 2000
DEFAULT_TIMEOUT_S = 5.0

# math-verify logs a warning on every call made with timeouts disabled; we guard ourselves.
logging.getLogger("math_verify").setLevel(logging.ERROR)


_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mbox|operatorname)\{([^{}]*)\}")
_DROP = ("\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\ ", "$", "^\\circ", "^{\\circ}", "\\%", "%")


def normalize_answer(answer: str) -> str:
    """A canonical string for answers math-verify could not parse: the boxed content, without
    delimiters, spacing, units wrappers, whitespace or a trailing period, lower-cased."""
    boxed = extract_boxed(answer)
    text = boxed if boxed is not None else answer
    text = _TEXT_WRAPPERS.sub(r"\1", text)
    for token in _DROP:
        text = text.replace(token, "")
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = re.sub(r"\s+", "", text).rstrip(".")
    return text.lower()


_DELIMITED = re.compile(r"\$|\\boxed|\\fbox|\\\(|\\\[")
_PROSE = re.compile(r"(?<!\\)\b[A-Za-z]{2,}\s+[A-Za-z]{2,}\b")


def _as_latex(answer: str) -> str:
    # math-verify only reads LaTeX inside delimiters or \boxed: a bare answer ("\dfrac{1}{2}",
    # "10^{3}") gets $...$; prose ("the answer is 5") is left for its plain-text extractor.
    if _DELIMITED.search(answer) or _PROSE.search(answer):
        return answer
    return f"${answer.strip()}$"


def _verify(prediction: str, gold: str, timeout: int | None) -> bool:
    from math_verify import parse, verify

    gold_parsed = parse(_as_latex(gold), parsing_timeout=timeout)
    pred_parsed = parse(_as_latex(prediction), parsing_timeout=timeout)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=timeout))


def _run_with_deadline(fn: Callable[[], T], timeout_s: float, default: T) -> T:
    """fn() in a daemon thread; `default` if it takes longer than timeout_s or raises."""
    box: list[T] = []

    def target() -> None:
        try:
            box.append(fn())
        except Exception:  # noqa: BLE001 (any parser crash means "no symbolic verdict")
            logging.getLogger(__name__).debug("math-verify failed", exc_info=True)

    worker = threading.Thread(target=target, name="math-verify", daemon=True)
    worker.start()
    worker.join(timeout_s)
    return box[0] if box else default


def _symbolic_match(prediction: str, gold: str, timeout_s: float) -> bool:
    if threading.current_thread() is threading.main_thread():
        try:
            return _verify(prediction, gold, max(1, round(timeout_s)))
        except Exception:  # noqa: BLE001 (math-verify/sympy raise many types on odd input)
            return False
    return _run_with_deadline(lambda: _verify(prediction, gold, None), timeout_s, False)


def answers_match(prediction: str, gold: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """True iff `prediction` (a bare answer or a solution: its last \\boxed{} counts) states the same
    answer as `gold`: symbolically equivalent (1/2, \\frac{1}{2}, 0.5), else equal normalized strings.
    Safe from any thread; an empty prediction never matches."""
    if not prediction.strip() or not gold.strip():
        return False
    if normalize_answer(prediction) == normalize_answer(gold):
        return True
    # Only the final answers go to sympy: less work, and no stray math in the reasoning.
    pred_answer, gold_answer = _final_answer(prediction), _final_answer(gold)
    if not pred_answer or not gold_answer or max(len(pred_answer), len(gold_answer)) > MAX_ANSWER_CHARS:
        return False
    return _symbolic_match(pred_answer, gold_answer, timeout_s)


def _final_answer(text: str) -> str:
    """The last box's content, else the whole text (math-verify then finds the answer in its math)."""
    boxed = extract_boxed(text)
    return (boxed if boxed is not None else text).strip()


def grade_math_one(task: MathProblem, response: str, think_prefilled: bool = False) -> Verdict:
    parsed = parse_math_response(response, think_prefilled=think_prefilled)
    predicted = extract_boxed(parsed.answer)
    if not predicted:
        return Verdict(False, NO_ANSWER, 0.0, parsed.format_ok, parsed.reasoning, "", "",
                       "no \\boxed{} answer in the answer", tests_total=1)
    passed = answers_match(predicted, task.answer)
    detail = "" if passed else f"predicted {predicted[:100]!r}, gold {task.answer[:100]!r}"
    return Verdict(passed, "passed" if passed else WRONG_ANSWER, float(passed), parsed.format_ok, parsed.reasoning,
                   "", predicted, detail, tests_passed=int(passed), tests_total=1)


class MathTask(TaskType[MathProblem]):
    """Math questions with a gold final answer (MATH500, AIME, Minerva), compared by equivalence."""

    kind = "math"
    sandboxed = False
    record_format = None

    @staticmethod
    def load(source: str, *, split: str | None = None, limit: int | None = None, name: str = "",
             **options: Any) -> list[MathProblem]:
        return load_math_problems(source, split=split, limit=limit, name=name)

    @staticmethod
    def messages(task: MathProblem, style: str) -> list[dict[str, str]]:
        return math_messages(task, style)

    @staticmethod
    def record(task: MathProblem) -> dict[str, Any]:
        return {"task_id": task.task_id, "problem": task.statement, "answer": task.answer}

    @staticmethod
    def grade(items: Sequence[tuple[MathProblem, str]], run_jobs: JobRunner, think_prefilled: bool) -> list[Verdict]:
        del run_jobs  # math answers are compared, never executed
        return [grade_math_one(task, response, think_prefilled) for task, response in items]
