"""The ONE pass/fail judgement every stage calls: `verify(task, response) -> Verdict`.

Training, `pgrpo evaluate`, `check`, `bench build` and `rm pairs` judge here, so "reward 1" and
"passed" are the same fact. Batch with `with Verifier(SandboxConfig()) as v: v([(task, response)])`.
Each task kind's `TaskType` loads, asks and grades: `CodeTask` parses a response once, builds its
program and runs it in the sandbox (R_o = 1 iff every test passes); `MathTask` compares the final
\\boxed{} of the answer region with the gold answer (`answers_match`: math-verify, else normalized
strings). math-verify's timeouts use signal.alarm (main thread only); elsewhere it runs in a daemon
watchdog thread. Does NOT protect against: a runaway sympy computation off the main thread keeps
running after we give up (returning False); answers over `MAX_ANSWER_CHARS` skip symbolic checking.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar, Union

from pgrpo.data.loaders import load_problems
from pgrpo.data.math import MathProblem, load_math_problems, math_messages
from pgrpo.data.problem import Problem
from pgrpo.data.prompts import build_messages, render_messages
from pgrpo.data.schema import problem_to_dict
from pgrpo.errors import DataError
from pgrpo.parsing import ParsedResponse, parse_response
from pgrpo.parsing.response import extract_boxed, parse_math_response
from pgrpo.sandbox.programs import program_from_code
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.types import ExecResult, Job, SandboxEngine, check_isolation

__all__ = ["TASK_TYPES", "BatchVerify", "CodeTask", "JobRunner", "MathTask", "Task", "TaskType", "Verdict",
           "Verifier", "answers_match", "task_type", "verdict_from_exec", "verify"]


# A task of any kind: each says `kind`, `task_id` and `statement` (the text the model and the RM read).
Task = Union[Problem, MathProblem]
T = TypeVar("T", Problem, MathProblem)

NO_CODE = "no_code"  # statuses decided before (or instead of) running anything
NO_ANSWER = "no_answer"
WRONG_ANSWER = "wrong_answer"
DETAIL_CHARS = 500  # enough to see the failing test; keeps logs and result files small


@dataclass(frozen=True)
class Verdict:
    """The judgement of one response to one task: `passed` (every test / the gold answer), the sandbox
    `Status` value or "no_code" / "no_answer" / "wrong_answer", R_f, the reasoning the RM reads, the code
    ("" for math) and the answer (code: the `<answer>` text, else the code; math: the final answer)."""

    passed: bool
    status: str
    pass_fraction: float
    format_ok: bool
    reasoning: str
    code: str
    answer: str
    detail: str = ""
    runtime_s: float = 0.0
    tests_passed: int = 0
    tests_total: int = 0


# (task, full model response) pairs -> one Verdict each, same order.
BatchVerify = Callable[[Sequence[tuple["Task", str]]], list[Verdict]]
# Runs sandbox jobs in order (a started Sandbox's `run`).
JobRunner = Callable[[Sequence["Job"]], list["ExecResult"]]


@dataclass(frozen=True)
class TaskType(Generic[T]):
    """One task kind in one place (`pgrpo.verify.TASK_TYPES`): its problems, prompts and grading."""

    kind: str
    sandboxed: bool  # grading runs programs (the Verifier starts its sandbox up front)
    record_format: str | None  # the `format` that reads `record`s back (None: the kind's only one)
    # load(source, *, split=None, limit=None, name="", **options): the problems of `source` (a local file
    # or a hub id; `name`: the benchmark's, for default ids)
    load: Callable[..., list[T]]
    messages: Callable[[T, str], list[dict[str, str]]]  # (task, prompt style "pgrpo" | "plain") -> chat
    # a task as a row of a problem file `load` reads back (`record_format`)
    record: Callable[[T], dict[str, Any]]
    # (items, run_jobs, think_prefilled): one verdict per (task, full response), same order; never raises
    # per item
    grade: Callable[[Sequence[tuple[T, str]], JobRunner, bool], list[Verdict]]

    def prompt(self, task: T, tokenizer: Any, style: str, *, prefill_think: bool = False) -> str:
        """The prompt text (the tokenizer's chat template over `messages`; `pgrpo.data.prompts.render_messages`)."""
        return render_messages(self.messages(task, style), tokenizer, prefill_think=prefill_think)


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


def _symbolic_match(prediction: str, gold: str, timeout_s: float) -> bool:
    if threading.current_thread() is threading.main_thread():
        try:
            return _verify(prediction, gold, max(1, round(timeout_s)))
        except Exception:  # noqa: BLE001 (math-verify/sympy raise many types on odd input)
            return False
    box: list[bool] = []

    def target() -> None:
        try:
            box.append(_verify(prediction, gold, None))
        except Exception:  # noqa: BLE001 (off the main thread too: a crash means "no symbolic verdict")
            logging.getLogger(__name__).debug("math-verify failed", exc_info=True)

    worker = threading.Thread(target=target, name="math-verify", daemon=True)
    worker.start()
    worker.join(timeout_s)
    return bool(box and box[0])


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


def _load_math(source: str, *, split: str | None = None, limit: int | None = None, name: str = "",
               **options: Any) -> list[MathProblem]:
    given = sorted(k for k, v in options.items() if v is not None)
    if given:  # not ignored silently: math problems have one layout (problem, answer)
        raise DataError(f"{source}: math problems take no loader options, got {', '.join(given)}")
    return load_math_problems(source, split=split, limit=limit, name=name)


def _math_record(task: MathProblem) -> dict[str, Any]:
    return {"task_id": task.task_id, "problem": task.statement, "answer": task.answer}


def _grade_math(items: Sequence[tuple[MathProblem, str]], run_jobs: JobRunner,
                think_prefilled: bool) -> list[Verdict]:
    del run_jobs  # math answers are compared, never executed
    return [grade_math_one(task, response, think_prefilled) for task, response in items]


# Math questions with a gold final answer (MATH500, AIME, Minerva), compared by equivalence.
MathTask: TaskType[MathProblem] = TaskType("math", sandboxed=False, record_format=None, load=_load_math,
                                           messages=math_messages, record=_math_record, grade=_grade_math)


def verdict_from_exec(result: ExecResult, *, format_ok: bool = False, reasoning: str = "", code: str = "",
                      answer: str = "") -> Verdict:
    """A sandbox result as a Verdict (also for `pgrpo check`'s completion/solution samples)."""
    return Verdict(result.passed, result.status.value, result.pass_fraction, format_ok, reasoning, code, answer,
                   result.detail[:DETAIL_CHARS], result.runtime_s, result.tests_passed, result.tests_total)


def _load_code(source: str, *, split: str | None = None, limit: int | None = None, name: str = "",
               **options: Any) -> list[Problem]:
    return load_problems(source, split=split, limit=limit, **options)


def _grade_code(items: Sequence[tuple[Problem, str]], run_jobs: JobRunner,
                think_prefilled: bool) -> list[Verdict]:
    verdicts: list[Verdict | None] = [None] * len(items)
    jobs: list[Job] = []
    pending: list[tuple[int, ParsedResponse, str]] = []
    for i, (task, response) in enumerate(items):
        parsed = parse_response(response, think_prefilled=think_prefilled)
        answer = parsed.answer or parsed.code
        program = program_from_code(task, parsed.code)
        if not program.strip():
            verdicts[i] = Verdict(False, NO_CODE, 0.0, parsed.format_ok, parsed.reasoning, "", answer,
                                  "no code found in the response", tests_total=task.tests.count)
            continue
        jobs.append(Job(task, program))
        pending.append((i, parsed, answer))
    for (i, parsed, answer), result in zip(pending, run_jobs(jobs) if jobs else [], strict=True):
        verdicts[i] = verdict_from_exec(result, format_ok=parsed.format_ok, reasoning=parsed.reasoning,
                                        code=parsed.code, answer=answer)
    return [v for v in verdicts if v is not None]


# Programming problems (HumanEval(+), MBPP(+), LiveCodeBench, APPS, BigCodeBench...), graded in the sandbox.
CodeTask: TaskType[Problem] = TaskType("code", sandboxed=True, record_format="pgrpo", load=_load_code,
                                       messages=build_messages, record=problem_to_dict, grade=_grade_code)


# The task kinds (a recipe's `task:`, a benchmark's kind) and their one type each.
TASK_TYPES: dict[str, TaskType[Any]] = {t.kind: t for t in (CodeTask, MathTask)}


def task_type(kind: str) -> TaskType[Any]:
    """The task type of `kind`; ValueError naming the known kinds otherwise."""
    try:
        return TASK_TYPES[kind]
    except KeyError:
        raise ValueError(f"unknown task kind {kind!r}; known: {', '.join(TASK_TYPES)}") from None


class Verifier(AbstractContextManager["Verifier"]):
    """Judges (task, response) pairs (a `BatchVerify`) in one sandbox (a local pool or `sandbox.url`
    services), started on the first code item, until `close()`. `think_prefilled`: the prompts ended
    with "<think>"; `runner`: runs jobs instead of a sandbox (tests)."""

    def __init__(self, sandbox_config: SandboxConfig | None = None, *, think_prefilled: bool = False,
                 progress: bool = False, runner: JobRunner | None = None) -> None:
        self.sandbox_config = sandbox_config
        self.think_prefilled = think_prefilled
        self.progress = progress
        self.runner = runner
        self._sandbox: SandboxEngine | None = None

    def run_jobs(self, jobs: Sequence[Job]) -> list[ExecResult]:
        """Run programs in the shared sandbox (same order)."""
        if self.runner is not None:
            return self.runner(jobs)
        return self._engine().run(list(jobs), progress=self.progress)

    def _engine(self) -> SandboxEngine:
        if self._sandbox is None:
            from pgrpo.sandbox import open_sandbox

            self._sandbox = open_sandbox(self.sandbox_config or SandboxConfig())
        return self._sandbox

    def preflight(self) -> str:
        """Start the sandbox now; the isolation in use (IsolationError if weaker than the config demands)."""
        if self.runner is not None:
            return "runner"
        config = self.sandbox_config or SandboxConfig()
        engine = self._engine()
        check_isolation(config.isolation, engine.isolation, ", ".join(config.urls) or "this host")
        return engine.isolation

    def __call__(self, items: Sequence[tuple[Task, str]]) -> list[Verdict]:
        by_kind: dict[str, list[int]] = {}
        for i, (task, _) in enumerate(items):
            by_kind.setdefault(task.kind, []).append(i)
        out: list[Verdict | None] = [None] * len(items)
        for kind, where in by_kind.items():
            verdicts = task_type(kind).grade([items[i] for i in where], self.run_jobs, self.think_prefilled)
            for i, verdict in zip(where, verdicts, strict=True):
                out[i] = verdict
        return [v for v in out if v is not None]

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def verify(task: Task, response: str, *, sandbox_config: SandboxConfig | None = None,
           think_prefilled: bool = False) -> Verdict:
    """Judge one response (starts and stops a sandbox for code; batch with `Verifier` for throughput)."""
    with Verifier(sandbox_config, think_prefilled=think_prefilled) as verifier:
        return verifier([(task, response)])[0]
