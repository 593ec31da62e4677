"""What "the same problem" means for `pgrpo data build-rl`: normalized statements (`statement_hash`),
test-case keys (`case_keys`) and whole test sets (`cases_hash`), and `EvalIndex` over every evaluation
set (`--eval NAME[=PATH][:START..END]`). A training problem is contaminated by an evaluation item when
the share of shared statement n-grams (over the smaller n-gram set) reaches `ngram_threshold`, or when
the test sets are identical or share at least `min_shared_tests` cases making up half of its tests.

A test case's key, whatever its form (so a copy is recognized in another test form): a call case, or
an assert / `assertEqual` comparing a call on literal arguments with a literal (read with `ast`, never
run), is its (arguments, result) pair; an assert that wraps such a call otherwise keys its text and
arguments; an EvalPlus script gives one case per input; a stdio case is its whitespace-collapsed text.
Two cases are the same when their pairs are equal, or their arguments are (MIN_INPUT_CHARS or longer
as JSON) and one side has no pair (result unknown)."""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgrpo.data.eval_sources import CODE_EVAL_SOURCES
from pgrpo.data.problem import Problem, TestKind, parse_date
from pgrpo.errors import DataError

MIN_INPUT_CHARS = 8
_SPACE = re.compile(r"\s+")
_NOT_LITERAL = object()
_WORD = re.compile(r"[a-z0-9]+")
_WINDOW = re.compile(r"^(?P<path>.*):(?P<start>\d{4}-\d\d-\d\d)?\.\.(?P<end>\d{4}-\d\d-\d\d)?$")


@dataclass(frozen=True)
class CaseKey:
    """One test case: `exact` identifies it with its expected result (None when the result is
    unknown), `inputs` by its arguments alone; `paired` says `exact` is an (arguments, result) pair."""

    exact: str | None = None
    inputs: str | None = None
    paired: bool = False

    def sort_key(self) -> str:
        return self.exact or f"inputs:{self.inputs}"


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):  # in a fixed order, whatever the hash seed
        return {"set": sorted(_json(item) for item in value)}
    return repr(value)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=_default)
    except TypeError:  # dict keys of mixed types cannot be sorted
        return json.dumps(value, default=_default)


def call_key(inputs: Iterable[Any], output: Any = None, has_output: bool = True) -> CaseKey:
    args = _json(list(inputs))
    inputs_key = args if len(args) >= MIN_INPUT_CHARS else None
    if not has_output:
        return CaseKey(None, inputs_key)
    return CaseKey(_json(["io", list(inputs), output]), inputs_key, paired=True)


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


def _is_target(node: ast.AST, names: frozenset[str]) -> bool:
    func = node.func if isinstance(node, ast.Call) else None
    return (isinstance(func, ast.Name) and func.id in names) or (isinstance(func, ast.Attribute)
                                                                 and func.attr in names)


def _literal_args(call: ast.Call) -> list[Any] | None:
    if call.keywords or any(isinstance(a, ast.Starred) for a in call.args):
        return None
    args = [_literal(a) for a in call.args]
    return None if any(a is _NOT_LITERAL for a in args) else args


def _compared(node: ast.AST) -> tuple[ast.AST, ast.AST] | None:
    """(left, right) of `left == right` / `left is right`, or of `assertEqual(left, right)`."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.Is)):
        return node.left, node.comparators[0]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and len(node.args) >= 2 \
            and node.func.attr in ("assertEqual", "assertEquals"):
        return node.args[0], node.args[1]
    return None


def _text_key(text: str, entry_point: str) -> str:
    if entry_point:
        text = re.sub(rf"\b{re.escape(entry_point)}\b", "f", text)
    return "assert:" + _SPACE.sub("", text.replace("candidate", "f"))


def _check_key(node: ast.AST, source: str, names: frozenset[str], entry_point: str) -> CaseKey | None:
    """The key of one assert (its test expression) that calls the function under test."""
    calls = [n for n in ast.walk(node) if isinstance(n, ast.Call) and _is_target(n, names)]
    if not calls:
        return None
    sides = _compared(node)
    if sides is None and isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        sides = (node.operand, ast.Constant(False))
    elif sides is None and node is calls[0]:
        sides = (node, ast.Constant(True))
    if sides is not None:
        for call, expected in (sides, sides[::-1]):
            if call is calls[0] and len(calls) == 1:
                args, output = _literal_args(calls[0]), _literal(expected)
                if args is not None and output is not _NOT_LITERAL:
                    return call_key(args, output)
    args = _literal_args(calls[0]) if len(calls) == 1 else None
    inputs = call_key(args, has_output=False).inputs if args is not None else None
    text = ast.get_source_segment(source, node) or ast.unparse(node)
    return CaseKey(_text_key(text, entry_point), inputs)


def _script_keys(tree: ast.AST, names: frozenset[str]) -> list[CaseKey]:
    """EvalPlus scripts: `inputs = [...]`, `results = [...]`, `assertion(f(*inp), exp, ...)`."""
    values: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id in ("inputs", "results"):
            values[node.targets[0].id] = _literal(node.value)
    inputs, results = values.get("inputs"), values.get("results")
    if not isinstance(inputs, list) or not all(isinstance(i, (list, tuple)) for i in inputs):
        return []
    direct = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "assertion"
                 and n.args and _is_target(n.args[0], names) for n in ast.walk(tree))
    if direct and isinstance(results, list) and len(results) == len(inputs):
        return [call_key(args, out) for args, out in zip(inputs, results, strict=True)]
    return [call_key(args, has_output=False) for args in inputs]


def assert_case_keys(code: str, entry_point: str) -> list[CaseKey]:
    """Keys of the asserts in `code` (a test script, one assert, or unittest methods)."""
    names = frozenset(n for n in (entry_point, "candidate") if n)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):  # not Python as a whole: each assert line
        return [CaseKey(_text_key(line.strip(), entry_point)) for line in code.splitlines()
                if line.strip().startswith(("assert", "self.assert"))]
    keys = _script_keys(tree, names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            test: ast.AST = node.test
        elif isinstance(node, ast.Call) and _compared(node) is not None:  # self.assertEqual(...)
            test = node
        else:
            continue
        if not entry_point:  # nothing tells which calls are under test: the text of every assert
            keys.append(CaseKey(_text_key(ast.get_source_segment(code, test) or ast.unparse(test), "")))
            continue
        key = _check_key(test, code, names, entry_point)
        if key is not None:
            keys.append(key)
    return keys


def _case_keys(problem: Problem) -> Iterator[CaseKey]:
    tests = problem.tests
    if tests.kind is TestKind.CALL:
        for case in tests.call_cases:
            yield call_key(case.inputs, case.output, has_output=not tests.outputs_from_canonical)
    elif tests.kind is TestKind.STDIO:
        for stdio in tests.stdio_cases:
            yield CaseKey(_json(["stdio", _SPACE.sub(" ", stdio.stdin).strip(), _SPACE.sub(" ", stdio.stdout).strip()]))
    elif tests.kind is TestKind.ASSERTS:
        base = problem.metadata.get("base_asserts")  # the MBPP+ hub mirror: original asserts + one script
        for text in (*tests.asserts, *(base if isinstance(base, list) else ())):
            yield from assert_case_keys(str(text), problem.entry_point)
    else:
        yield from assert_case_keys(tests.test_code, problem.entry_point)


def case_keys(problem: Problem) -> frozenset[CaseKey]:
    return frozenset(_case_keys(problem))


def statement_words(text: str) -> list[str]:
    """Lower-case alphanumeric words: punctuation, code syntax and whitespace do not count."""
    return _WORD.findall(text.lower())


def statement_hash(text: str) -> str:
    return hashlib.sha1(" ".join(statement_words(text)).encode("utf-8")).hexdigest()


def ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    """The statement's word n-grams; a statement shorter than n is one gram (itself)."""
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def cases_hash(problem: Problem) -> str:
    keys = sorted(key.sort_key() for key in case_keys(problem))
    return hashlib.sha1(json.dumps([problem.tests.kind.value, keys]).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class EvalItem:
    """One evaluation problem as decontamination sees it."""

    eval_id: str
    statement: str
    tests: frozenset[CaseKey] = frozenset()


@dataclass(frozen=True)
class EvalSpec:
    """`--eval NAME[=PATH][:START..END]`: an evaluation set, its file (or hub id and split: by default
    its source in CODE_EVAL_SOURCES, where `pgrpo evaluate` reads it), a contest-date window."""

    name: str
    path: str
    start: str | None = None
    end: str | None = None
    split: str | None = None

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
        if path.strip():
            return cls(name, path.strip(), start, end)
        if name not in CODE_EVAL_SOURCES:
            raise DataError(f"--eval {name}: no default source for {name!r} (known: {', '.join(CODE_EVAL_SOURCES)}); "
                            f"give its file: --eval {name}=PATH")
        source = CODE_EVAL_SOURCES[name]
        return cls(name, source.path, start, end, source.split)

    @property
    def label(self) -> str:
        window = f" [{self.start or ''}..{self.end or ''}]" if self.start or self.end else ""
        return f"{self.name}{window}"


def _bigcodebench_items(spec: EvalSpec) -> list[EvalItem]:
    """Its rows' instruct prompts and unittest asserts, read leniently (any test code)."""
    from pgrpo.data.loaders.reading import iter_records

    return [EvalItem(str(r.require("task_id", (str, int))),
                     r.get("instruct_prompt") or r.require("complete_prompt"),
                     frozenset(assert_case_keys(r.get("test", default=""), r.get("entry_point", default=""))))
            for r in iter_records(spec.path, spec.split)]


def read_eval_set(spec: EvalSpec) -> list[EvalItem]:
    """The set's items (BigCodeBench's own reader, any other set through `pgrpo.data.loaders`, dated
    within the window); an unreadable set is an error saying how to provide it."""
    from pgrpo.data.loaders import load_problems

    try:
        if spec.name == "bigcodebench":
            items = _bigcodebench_items(spec)
        else:
            items = [EvalItem(p.task_id, p.statement, case_keys(p)) for p in
                     load_problems(spec.path, split=spec.split, start_date=spec.start, end_date=spec.end)]
    except Exception as exc:  # noqa: BLE001 - offline hub ids and missing files: say how to provide the set
        if spec.path == "humaneval" or Path(spec.path).exists():
            raise
        raise DataError(f"--eval {spec.label}: cannot load {spec.path!r} ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}). Without network, download it "
                        f"elsewhere and pass --eval {spec.name}=PATH; or pass --skip-eval {spec.name} to build "
                        f"without decontaminating against it (the datasheet then says so)") from exc
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
    _exact: dict[str, list[int]] = field(default_factory=dict)  # CaseKey.exact -> items
    _inputs: dict[str, list[tuple[int, bool]]] = field(default_factory=dict)  # .inputs -> (item, paired)
    _items: list[tuple[str, EvalItem, int]] = field(default_factory=list)  # (set, item, gram count)

    def add(self, eval_set: str, items: Iterable[EvalItem]) -> int:
        items = list(items)
        for item in items:
            index = len(self._items)
            grams = ngrams(statement_words(item.statement), self.n)
            self._items.append((eval_set, item, len(grams)))
            for gram in grams:
                self._grams.setdefault(hash(gram), []).append(index)
            for key in item.tests:
                if key.exact is not None:
                    self._exact.setdefault(key.exact, []).append(index)
                if key.inputs is not None:
                    self._inputs.setdefault(key.inputs, []).append((index, key.paired))
        return len(items)

    def match(self, problem: Problem) -> Contamination | None:
        """The evaluation item `problem` overlaps most (statement first, then tests), or None."""
        grams = ngrams(statement_words(problem.statement), self.n)
        shared = Counter(i for gram in grams for i in set(self._grams.get(hash(gram), ())))
        shares = {index: count / max(1, min(len(grams), self._items[index][2]))
                  for index, count in shared.items()}
        best = max(shares, key=shares.__getitem__, default=None)
        if best is not None and shares[best] >= self.ngram_threshold:
            eval_set, item, _ = self._items[best]
            return Contamination(eval_set, item.eval_id, f"{self.n}-gram overlap {shares[best]:.2f}")
        keys = case_keys(problem)
        hits, by_inputs = self._shared_cases(keys)
        for index, count in hits.most_common():
            eval_set, item, _ = self._items[index]
            if count == len(keys) == len(item.tests) or (count >= self.min_shared_tests and count * 2 >= len(keys)):
                loose = f", {by_inputs[index]} by arguments only" if by_inputs[index] else ""
                return Contamination(eval_set, item.eval_id, f"test overlap {count}/{len(keys)}{loose}")
        return None

    def _shared_cases(self, keys: Iterable[CaseKey]) -> tuple[Counter[int], Counter[int]]:
        """Per evaluation item: how many of `keys` it shares, and how many of those by arguments
        only (one side's result unknown or not literal)."""
        hits: Counter[int] = Counter()
        by_inputs: Counter[int] = Counter()
        for key in keys:
            exact = set(self._exact.get(key.exact, ())) if key.exact is not None else set()
            loose = {i for i, paired in self._inputs.get(key.inputs, ()) if not (paired and key.paired)} - exact \
                if key.inputs is not None else set()
            hits.update(exact | loose)
            by_inputs.update(loose)
        return hits, by_inputs


def load_eval_index(specs: Iterable[EvalSpec], *, n: int = 13, ngram_threshold: float = 0.2,
                    min_shared_tests: int = 3) -> tuple[EvalIndex, dict[str, int]]:
    """The index of every evaluation set and how many items each contributed (by label).
    Every set is tried before failing: one error names each set that could not be read."""
    index = EvalIndex(n=n, ngram_threshold=ngram_threshold, min_shared_tests=min_shared_tests)
    sizes: dict[str, int] = {}
    errors: list[str] = []
    for spec in specs:
        try:
            sizes[spec.label] = index.add(spec.name, read_eval_set(spec))
        except DataError as exc:
            errors.append(str(exc))
    if errors:
        raise DataError("\n".join(errors))
    return index, sizes
