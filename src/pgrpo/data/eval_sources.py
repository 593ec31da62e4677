"""`CODE_EVAL_SOURCES`: where each code evaluation set lives, the one table `pgrpo evaluate` reads
them from and `pgrpo data build-rl` decontaminates against (here, below both)."""

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
