"""LCB-RB: the benchmark of reasoning reward models built from LiveCodeBench (`pgrpo bench build`).

The names below are the public API; each is imported from its submodule on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # "X as X": re-exported for type checkers; at run time __getattr__ imports X on first use
    from pgrpo.bench.build import BenchBuild as BenchBuild
    from pgrpo.bench.build import BenchConfig as BenchConfig
    from pgrpo.bench.judge import JUDGES as JUDGES
    from pgrpo.bench.judge import Judge as Judge
    from pgrpo.bench.judge import JudgeItem as JudgeItem
    from pgrpo.bench.judge import JudgeVerdict as JudgeVerdict

_BUILD = {"BenchBuild", "BenchConfig"}
_JUDGE = {"JUDGES", "Judge", "JudgeItem", "JudgeVerdict"}

__all__ = sorted(_BUILD | _JUDGE)


def __getattr__(name: str) -> Any:
    if name in _BUILD:
        import pgrpo.bench.build

        return getattr(pgrpo.bench.build, name)
    elif name in _JUDGE:
        import pgrpo.bench.judge

        return getattr(pgrpo.bench.judge, name)
    else:
        raise AttributeError(f"module 'pgrpo.bench' has no attribute {name!r}")
