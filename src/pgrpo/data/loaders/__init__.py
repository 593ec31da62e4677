"""The public loading API: `load_problems` / `iter_problems` (a packaged name, a local file or a hub
id), format autodetection from the first record's keys, and the filters every format supports
(contest-date window, difficulty, limit). Importing this package registers every built-in format."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from pgrpo.data.loaders import bigcodebench, contests  # noqa: F401 (registers)
from pgrpo.data.loaders.base import LOADERS, Loader, LoadOptions, Record, has_keys, loader
from pgrpo.data.loaders.humaneval import packaged_humaneval_path
from pgrpo.data.loaders.reading import first_record, iter_records
from pgrpo.data.loaders.safe_pickle import decode_private_tests
from pgrpo.data.problem import Problem, parse_date
from pgrpo.data.schema import problem_from_dict, problem_to_dict
from pgrpo.errors import DataError

__all__ = ["LOADERS", "LoadOptions", "Loader", "Record", "decode_private_tests", "detect_format",
           "get_loader", "iter_problems", "known_formats", "load_problems", "problem_from_dict",
           "problem_to_dict"]
PACKAGED = {"humaneval": packaged_humaneval_path}
_LOAD_OPTION_NAMES = [f.name for f in dataclasses.fields(LoadOptions)]
_FILTER_NAMES = ["start_date", "end_date", "difficulty", "skip_bad"]
log = logging.getLogger(__name__)


@loader("pgrpo", "pgrpo's own JSONL problem format (docs/problem-format.md)",
        has_keys(["task_id", "statement", "tests"]), priority=100)
def convert_pgrpo(record: Record, options: LoadOptions) -> Problem:
    return problem_from_dict(dict(record.data), where=record.where)


def _resolve(source: str | Path) -> tuple[str, str | None]:
    """(path or hub id, format implied by a packaged name or None)."""
    text = str(source)
    return (str(PACKAGED[text]()), text) if text in PACKAGED else (text, None)


def known_formats() -> str:
    """The registered format names, comma-separated (for messages)."""
    return ", ".join(LOADERS.names())


def format_from_keys(keys: Iterable[str], where: str) -> str:
    """The registered format whose detector accepts `keys` (highest priority first)."""
    key_set = frozenset(keys)
    for candidate in sorted((LOADERS.get(n) for n in LOADERS), key=lambda lo: -lo.priority):
        if candidate.detect(key_set):
            return candidate.name
    shown = ", ".join(sorted(key_set)[:15])
    raise DataError(f"{where}: cannot detect the problem format from fields [{shown}]; "
                    f"pass --format (known formats: {known_formats()})")


def detect_format(path: str | Path, split: str | None = None) -> str:
    """Format name of a source, from its first record's keys ("humaneval" for the packaged set)."""
    source, implied = _resolve(path)
    if implied is not None:
        return implied
    record = first_record(source, split)
    return format_from_keys(record.data.keys(), record.where)


def get_loader(name: str) -> Loader:
    """The registered format `name` (a plugin's once plugins are loaded)."""
    try:
        return LOADERS.lookup(name)
    except KeyError:
        raise DataError(f"unknown problem format {name!r}; known formats: {known_formats()}") from None


@dataclasses.dataclass(frozen=True)
class ProblemFilter:
    """Keep problems with contest_date in [start, end] (inclusive) and a listed difficulty."""

    start: dt.date | None = None
    end: dt.date | None = None
    difficulties: frozenset[str] | None = None

    def keep(self, problem: Problem) -> bool:
        date = problem.contest_date
        if self.difficulties is not None and (problem.difficulty or "").lower() not in self.difficulties:
            return False
        if self.start is None and self.end is None:
            return True
        # a date window excludes undated problems
        return date is not None and (self.start is None or date >= self.start) and (
            self.end is None or date <= self.end)


def _split_options(options: dict[str, Any]) -> tuple[LoadOptions, ProblemFilter, bool]:
    unknown = sorted(set(options) - set(_LOAD_OPTION_NAMES) - set(_FILTER_NAMES))
    if unknown:
        raise DataError(f"unknown load option(s) {', '.join(unknown)}; known: "
                        f"{', '.join(_LOAD_OPTION_NAMES + _FILTER_NAMES)}")
    load_options = LoadOptions(**{k: v for k, v in options.items() if k in _LOAD_OPTION_NAMES})
    difficulty = options.get("difficulty")
    if isinstance(difficulty, str):
        difficulty = [d for d in difficulty.split(",") if d.strip()]
    if difficulty is not None and not all(isinstance(d, str) for d in difficulty):
        raise DataError(f"option difficulty: expected a string or a list of strings, got {difficulty!r}")
    start = parse_date(options.get("start_date"), "start_date", "load option")
    end = parse_date(options.get("end_date"), "end_date", "load option")
    if start and end and start > end:
        raise DataError(f"option start_date {start} is after end_date {end}")
    difficulties = frozenset(d.strip().lower() for d in difficulty) if difficulty else None
    return load_options, ProblemFilter(start, end, difficulties), bool(options.get("skip_bad", False))


def iter_problems(source: str | Path, format: str | None = None, *, split: str | None = None,
                  bad: list[str] | None = None, **options: Any) -> Iterator[Problem]:
    """Like `load_problems`, lazily. With skip_bad=True, bad records go to `bad` (messages)."""
    load_options, problem_filter, skip_bad = _split_options(options)
    path, implied = _resolve(source)
    name = format or implied
    selected = get_loader(name) if name else None
    seen: set[str] = set()
    for record in iter_records(path, split):
        if selected is None:
            selected = get_loader(format_from_keys(record.data.keys(), record.where))
        try:
            problem = selected.convert(record, load_options)
            if not problem.task_id:
                raise record.error("task_id", "is empty")
        except DataError as exc:
            if not skip_bad:
                raise
            if bad is not None:
                bad.append(str(exc))
            continue
        if problem.task_id in seen:
            raise DataError(f"{record.where}: duplicate task_id {problem.task_id!r}")
        seen.add(problem.task_id)
        if problem_filter.keep(problem):
            yield problem


def load_problems(source: str | Path, format: str | None = None, *, split: str | None = None,
                  limit: int | None = None, **options: Any) -> list[Problem]:
    """Problems of `source` ("humaneval": the packaged 164; a local .json/.jsonl/.parquet, .gz ok; a hub
    id) in `format` (None: autodetect); the options are docs/problem-format.md's, `limit` applies last."""
    if limit is not None and limit < 0:
        raise DataError(f"limit must be >= 0, got {limit}")
    bad: list[str] = []
    # islice stops pulling once `limit` problems are out (limit 0: the source is never opened)
    problems = list(islice(iter_problems(source, format, split=split, bad=bad, **options), limit))
    if bad:
        log.warning("%s: skipped %d bad record(s); first: %s", source, len(bad), bad[0])
    return problems
