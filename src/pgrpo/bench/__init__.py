"""LCB-RB: the benchmark of reasoning reward models built from LiveCodeBench (`pgrpo bench build`).

The names below are the public API (none of their modules imports torch at import time)."""

from pgrpo.bench.build import BenchBuild, BenchConfig
from pgrpo.bench.judge import JUDGES, Judge, JudgeItem, JudgeVerdict

__all__ = ["JUDGES", "BenchBuild", "BenchConfig", "Judge", "JudgeItem", "JudgeVerdict"]
