"""BigCodeBench in `pgrpo evaluate`: its four benchmark names and hub sources.

Owns `BIGCODEBENCH_VARIANTS` (bigcodebench, bigcodebench_instruct, bigcodebench_hard,
bigcodebench_hard_instruct: the full 1,140-task set and the 148-task hard subset, each in
the complete and the instruct split, one pass@1 per name as on the leaderboard) and
`SERVE_HINT`. The problems come through the data layer's `bigcodebench` format
(pgrpo.data.loaders.bigcodebench); the tests run in the sandbox's "unittest" harness,
through `pgrpo.verify` like every other benchmark.

Limits belong to the test kind, not to these names (pgrpo.sandbox.kinds.SPECS["unittest"], from
bigcodebench 0.2.5: 240 s + 1 s for the whole suite of one task, 30 GiB address space, a
256 MiB scratch dir), so `file:PATH`, `pgrpo check`, training and the sandbox service get them
too. A limit set explicitly (e.g. `--sandbox-timeout-per-program-s 20`) wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgrpo.data.eval_sources import CODE_EVAL_SOURCES
from pgrpo.data.problem import TestKind
from pgrpo.sandbox.kinds import serve_command

# the full set's source is shared with build-rl's decontamination (pgrpo.data.eval_sources)
HUB_FULL = CODE_EVAL_SOURCES["bigcodebench"].path
HUB_VERSION = str(CODE_EVAL_SOURCES["bigcodebench"].split)  # the hub split bigcodebench 0.2.5 evaluates
HUB_HARD = "bigcode/bigcodebench-hard"
SERVE_HINT = serve_command(TestKind.UNITTEST)  # what a sandbox service must allow for BigCodeBench's own limits


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
