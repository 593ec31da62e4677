"""Where the code evaluation sets live: the one table both their readers use.

Owns `CODE_EVAL_SOURCES`: benchmark name -> `EvalSource` (a packaged name, a file or a hub id,
and the hub split). `pgrpo evaluate` (pgrpo.evaluation.benchmarks.BENCHMARKS) evaluates on these
sources, and `pgrpo data build-rl` (pgrpo.data.decontaminate) decontaminates against the same
ones, so the two cannot drift apart. It sits in the data layer because both layers above read it
(pgrpo.evaluation and pgrpo.bench may not import each other). Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalSource:
    """An evaluation set's data: `path` for `pgrpo.data.loaders.load_problems`, `split` on the hub."""

    path: str
    split: str | None = None


CODE_EVAL_SOURCES: dict[str, EvalSource] = {
    "humaneval": EvalSource("humaneval"),  # packaged, offline
    "humaneval_plus": EvalSource("evalplus/humanevalplus", "test"),
    "mbpp": EvalSource("evalplus/mbppplus", "test"),  # EvalPlus's 378 MBPP problems (base tests)
    "mbpp_plus": EvalSource("evalplus/mbppplus", "test"),
    "lcb": EvalSource("livecodebench/code_generation_lite", "test"),
    # the full 1,140 tasks at the split bigcodebench 0.2.5 evaluates; the hard subset (148 tasks,
    # pgrpo.evaluation.benchmarks) is part of it, so decontaminating against this covers both
    "bigcodebench": EvalSource("bigcode/bigcodebench", "v0.1.4"),
}
