"""Reward-model benchmarks with their own scoring rules, registered as `pgrpo rm eval` formats.

* `rm-bench` (pgrpo.rm.bench_formats.rmbench) -- RM-Bench: three style variants per side, the
  3x3 chosen-vs-rejected grid, easy / normal / hard accuracy per domain;
* `judgebench` (.judgebench) -- JudgeBench: response A / B with a label, position-consistent
  accuracy (both orders for a pairwise judge); the coding subset is source `livecodebench`;
* `rewardbench2` (.rewardbench2) -- RewardBench 2: best-of-4 accuracy per subset.

Each module registers its format in `BENCHMARK_FORMATS` (pgrpo.rm.bench_formats.base, with
the types every format shares) when `pgrpo.rm.benchmarks` imports it.
"""
