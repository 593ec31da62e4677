"""LCB-RB: the benchmark of reasoning reward models built from LiveCodeBench (`pgrpo bench build`).

The names below are the public API; each is imported from its submodule on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgrpo.bench.build import BenchBuild, BenchConfig  # noqa: F401 - exported lazily (__getattr__)
    from pgrpo.bench.judge import JUDGES, Judge, JudgeItem, JudgeVerdict  # noqa: F401 - exported lazily (__getattr__)

_BUILD = {"BenchBuild", "BenchConfig"}
_JUDGE = {"JUDGES", "Judge", "JudgeItem", "JudgeVerdict"}

__all__ = sorted(_BUILD | _JUDGE)


def __getattr__(name: str) -> Any:
    if name in _BUILD:
        import pgrpo.bench.build as module
    elif name in _JUDGE:
        import pgrpo.bench.judge as module
    else:
        raise AttributeError(f"module 'pgrpo.bench' has no attribute {name!r}")
    return getattr(module, name)
