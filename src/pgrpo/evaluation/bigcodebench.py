"""BigCodeBench in `pgrpo evaluate`: its four benchmark names, hub sources and execution limits.

Owns `BIGCODEBENCH_VARIANTS` (bigcodebench, bigcodebench_instruct, bigcodebench_hard,
bigcodebench_hard_instruct: the full 1,140-task set and the 148-task hard subset, each in
the complete and the instruct split, one pass@1 per name as on the leaderboard),
`BIGCODEBENCH_LIMITS` (the benchmark's own per-task limits) and `sandbox_for`, which
applies a benchmark's limits to the run's sandbox settings. The problems come through the
data layer's `bigcodebench` format (pgrpo.data.loaders.bigcodebench); the tests run in the
sandbox's "unittest" harness, through `pgrpo.verify` like every other benchmark.

Limits, from bigcodebench 0.2.5 (bigcodebench/eval/utils.py, evaluate.py): the whole test
suite of one task gets TIMEOUT_LIMIT = 240 s (+1 s margin, `untrusted_check`), and the
address space max_as_limit = 30*1024 MiB. The run's sandbox settings still win where they
differ from SandboxConfig's defaults (e.g. `--sandbox-timeout-per-program-s 20`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pgrpo.sandbox.types import SandboxConfig

HUB_VERSION = "v0.1.4"  # the hub split bigcodebench 0.2.5 evaluates (BIGCODEBENCH_VERSION)
HUB_FULL = "bigcode/bigcodebench"
HUB_HARD = "bigcode/bigcodebench-hard"
TIME_LIMIT_S = 240.0 + 1.0  # TIMEOUT_LIMIT + untrusted_check's margin: the whole suite of one task
MEMORY_MB = 30 * 1024  # max_as_limit (RLIMIT_AS)
BIGCODEBENCH_LIMITS: dict[str, Any] = {
    "timeout_per_test_s": TIME_LIMIT_S,  # the suite is one "test": one limit for the whole task
    "timeout_per_program_s": TIME_LIMIT_S,
    "memory_mb": MEMORY_MB,
    "scratch_mb": 256,  # tasks write files (CSV, images, archives) into their cwd
}


@dataclass(frozen=True)
class Variant:
    """One BigCodeBench benchmark name: hub source and prompt split."""

    name: str
    source: str
    split: str  # "complete" | "instruct"
    description: str

    @property
    def instruct(self) -> bool:
        return self.split == "instruct"


BIGCODEBENCH_VARIANTS = (
    Variant("bigcodebench", HUB_FULL, "complete", "BigCodeBench-Complete, full (1,140 tasks; hub)"),
    Variant("bigcodebench_instruct", HUB_FULL, "instruct", "BigCodeBench-Instruct, full (1,140 tasks; hub)"),
    Variant("bigcodebench_hard", HUB_HARD, "complete", "BigCodeBench-Complete, hard subset (148 tasks; hub)"),
    Variant("bigcodebench_hard_instruct", HUB_HARD, "instruct", "BigCodeBench-Instruct, hard subset (148 tasks; hub)"),
)


def sandbox_for(limits: Mapping[str, Any], config: SandboxConfig) -> SandboxConfig:
    """`config` with `limits` in place of every limit it leaves at SandboxConfig's default
    (a limit the user set explicitly to another value is kept)."""
    defaults = {f.name: f.default for f in dataclasses.fields(SandboxConfig)}
    changes = {name: value for name, value in limits.items() if getattr(config, name) == defaults[name]}
    return dataclasses.replace(config, **changes) if changes else config
