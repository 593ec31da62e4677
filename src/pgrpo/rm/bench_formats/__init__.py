"""Reward-model benchmarks with their own scoring rules, registered as `pgrpo rm eval` formats.

* `rm-bench` (pgrpo.rm.bench_formats.rmbench) -- RM-Bench: three style variants per side, the
  3x3 chosen-vs-rejected grid, easy / normal / hard accuracy per domain;
* `judgebench` (.judgebench) -- JudgeBench: response A / B with a label, position-consistent
  accuracy (both orders for a pairwise judge); the coding subset is source `livecodebench`;
* `rewardbench2` (.rewardbench2) -- RewardBench 2: best-of-4 accuracy per subset.

Importing this package registers the three in `pgrpo.rm.benchmarks.BENCHMARK_FORMATS`
(`load_benchmark` imports it by name, as listed in FORMAT_MODULES).
"""

from pgrpo.rm.bench_formats import judgebench, rewardbench2, rmbench

__all__ = ["judgebench", "rewardbench2", "rmbench"]
