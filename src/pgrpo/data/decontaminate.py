"""Decontamination and deduplication keys: statement n-grams and test-case fingerprints.

Owns what "the same problem" means for `pgrpo data build-rl`:
- `statement_words` / `statement_hash`: a statement normalized to lower-case alphanumeric words
  (punctuation, code syntax and whitespace do not count), and its hash (duplicate statements);
- `case_keys` / `cases_hash`: one normalized key per test case (call: JSON of inputs and output;
  stdin/stdout: whitespace-collapsed text; asserts and HumanEval checks: the assert text without
  whitespace, the function name replaced by `f`), and the hash of the whole set (duplicate tests);
- `EvalSpec` (`--eval NAME[=PATH][:START..END]`; without PATH, EVAL_DEFAULT_SOURCES), `EVAL_READERS` (how an evaluation set is read;
  BigCodeBench has its own reader, every other set goes through `pgrpo.data.loaders`), and
  `EvalIndex`: an inverted index of every evaluation item's statement n-grams and test keys.
  `EvalIndex.match(problem)` names the evaluation item a training problem overlaps, if any.

A training problem is contaminated by an evaluation item when the share of shared statement
n-grams (over the shorter of the two statements' n-gram sets) reaches `ngram_threshold`, or when
its tests overlap the item's: identical test sets, or at least `min_shared_tests` shared cases
making up at least half of the training problem's tests. Pure data: nothing runs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pgrpo.data.problem import Problem, TestKind, parse_date
from pgrpo.errors import DataError
from pgrpo.registry import Registry

_WORD = re.compile(r"[a-z0-9]+")
_SPACE = re.compile(r"\s+")
# where `--eval NAME` reads from when no PATH is given (the sources `pgrpo evaluate` uses)
EVAL_DEFAULT_SOURCES = {"humaneval": "humaneval", "humaneval_plus": "evalplus/humanevalplus",
                        "mbpp": "evalplus/mbppplus", "mbpp_plus": "evalplus/mbppplus",
                        "lcb": "livecodebench/code_generation_lite"}
_WINDOW = re.compile(r"^(?P<path>.*):(?P<start>\d{4}-\d\d-\d\d)?\.\.(?P<end>\d{4}-\d\d-\d\d)?$")


def statement_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def statement_hash(text: str) -> str:
    return hashlib.sha1(" ".join(statement_words(text)).encode("utf-8")).hexdigest()


def ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    """The statement's word n-grams; a statement shorter than n is one gram (itself)."""
    if not words:
        return set()
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def _assert_key(text: str, entry_point: str) -> str:
    if entry_point:
        text = re.sub(rf"\b{re.escape(entry_point)}\b", "f", text)
    return _SPACE.sub("", text.replace("candidate", "f"))


def case_keys(problem: Problem) -> frozenset[str]:
    """One normalized key per test case (see the module docstring)."""
    tests = problem.tests
    if tests.kind is TestKind.CALL:
        return frozenset(json.dumps([list(c.inputs), c.output], sort_keys=True, default=repr)
                         for c in tests.call_cases)
    if tests.kind is TestKind.STDIO:
        return frozenset(f"{_SPACE.sub(' ', c.stdin).strip()}\x00{_SPACE.sub(' ', c.stdout).strip()}"
                         for c in tests.stdio_cases)
    lines = tests.asserts if tests.kind is TestKind.ASSERTS else tuple(
        line for line in tests.test_code.splitlines() if line.strip().startswith("assert"))
    return frozenset(_assert_key(line, problem.entry_point) for line in lines if line.strip())


def cases_hash(problem: Problem) -> str:
    keys = sorted(case_keys(problem))
    return hashlib.sha1(json.dumps([problem.tests.kind.value, keys]).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class EvalItem:
    """One evaluation problem as decontamination sees it."""

    eval_id: str
    statement: str
    tests: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EvalSpec:
    """`--eval NAME[=PATH][:START..END]`: an evaluation set, its file, an optional contest-date window."""

    name: str
    path: str
    start: str | None = None
    end: str | None = None

    @classmethod
    def parse(cls, text: str) -> EvalSpec:
        window = _WINDOW.match(text)
        spec, start, end = (window["path"], window["start"], window["end"]) if window else (text, None, None)
        name, _, path = spec.partition("=")
        name = name.strip()
        if not name:
            raise DataError(f"--eval {text!r}: expected NAME[=PATH][:START..END]")
        for value, what in ((start, "start"), (end, "end")):
            parse_date(value, f"--eval {name} window {what}")
        path = path.strip() or EVAL_DEFAULT_SOURCES.get(name, name)
        return cls(name, path, start, end)

    @property
    def label(self) -> str:
        window = f" [{self.start or ''}..{self.end or ''}]" if self.start or self.end else ""
        return f"{self.name}{window}"


EvalReader = Callable[[EvalSpec], list[EvalItem]]
EVAL_READERS: Registry[EvalReader] = Registry("evaluation-set reader")


def _problem_item(problem: Problem) -> EvalItem:
    return EvalItem(problem.task_id, problem.statement, case_keys(problem))


def read_with_loaders(spec: EvalSpec) -> list[EvalItem]:
    """Any set `pgrpo.data.loaders` reads (HumanEval(+), MBPP(+), LiveCodeBench, pgrpo JSONL);
    the window keeps contest dates in [START, END]."""
    from pgrpo.data.loaders import load_problems

    return [_problem_item(p) for p in load_problems(spec.path, start_date=spec.start, end_date=spec.end)]


@EVAL_READERS.register("bigcodebench")
def read_bigcodebench(spec: EvalSpec) -> list[EvalItem]:
    """BigCodeBench rows: task_id, instruct_prompt / complete_prompt, test (unittest code)."""
    from pgrpo.data.loaders.reading import iter_records

    items = []
    for record in iter_records(spec.path, None):
        task_id = str(record.require("task_id", (str, int)))
        statement = record.get("instruct_prompt", str) or record.require_str("complete_prompt")
        test_code = record.get("test", str, default="")
        entry = record.get("entry_point", str, default="")
        keys = frozenset(_assert_key(line, entry) for line in test_code.splitlines()
                         if line.strip().startswith(("assert", "self.assert")))
        items.append(EvalItem(task_id, statement, keys))
    return items


def read_eval_set(spec: EvalSpec) -> list[EvalItem]:
    reader = EVAL_READERS.get(spec.name) if spec.name in EVAL_READERS else read_with_loaders
    items = reader(spec)
    if not items:
        raise DataError(f"--eval {spec.label}: no problems read from {spec.path}")
    return items


@dataclass(frozen=True)
class Contamination:
    """Why a training problem overlaps an evaluation item."""

    eval_set: str
    eval_id: str
    why: str  # "13-gram overlap 0.62" or "test overlap 5/5"

    def format(self) -> str:
        return f"{self.eval_set}/{self.eval_id} ({self.why})"


@dataclass
class EvalIndex:
    """Inverted indexes of evaluation statements' n-grams and test keys."""

    n: int = 13
    ngram_threshold: float = 0.2
    min_shared_tests: int = 3
    _grams: dict[int, list[int]] = field(default_factory=dict)
    _tests: dict[str, list[int]] = field(default_factory=dict)
    _items: list[tuple[str, EvalItem, int]] = field(default_factory=list)  # (set, item, gram count)

    def add(self, eval_set: str, items: Iterable[EvalItem]) -> int:
        added = 0
        for item in items:
            index = len(self._items)
            grams = ngrams(statement_words(item.statement), self.n)
            self._items.append((eval_set, item, len(grams)))
            for gram in grams:
                self._grams.setdefault(hash(gram), []).append(index)
            for key in item.tests:
                self._tests.setdefault(key, []).append(index)
            added += 1
        return added

    def match(self, problem: Problem) -> Contamination | None:
        """The evaluation item `problem` overlaps most (statement first, then tests), or None."""
        grams = ngrams(statement_words(problem.statement), self.n)
        shared = Counter(i for gram in grams for i in set(self._grams.get(hash(gram), ())))
        best: tuple[float, int] | None = None
        for index, count in shared.items():
            share = count / max(1, min(len(grams), self._items[index][2]))
            if share >= self.ngram_threshold and (best is None or share > best[0]):
                best = (share, index)
        if best is not None:
            eval_set, item, _ = self._items[best[1]]
            return Contamination(eval_set, item.eval_id, f"{self.n}-gram overlap {best[0]:.2f}")
        keys = case_keys(problem)
        hits = Counter(i for key in keys for i in self._tests.get(key, ()))
        for index, count in hits.most_common():
            eval_set, item, _ = self._items[index]
            if (keys and keys == item.tests) or (count >= self.min_shared_tests and count * 2 >= len(keys)):
                return Contamination(eval_set, item.eval_id, f"test overlap {count}/{len(keys)}")
        return None

    def __len__(self) -> int:
        return len(self._items)


def load_eval_index(specs: Iterable[EvalSpec], *, n: int = 13, ngram_threshold: float = 0.2,
                    min_shared_tests: int = 3) -> tuple[EvalIndex, dict[str, int]]:
    """The index of every evaluation set and how many items each contributed (by label)."""
    index = EvalIndex(n=n, ngram_threshold=ngram_threshold, min_shared_tests=min_shared_tests)
    sizes: dict[str, int] = {}
    for spec in specs:
        sizes[spec.label] = index.add(spec.name, read_eval_set(spec))
    return index, sizes
