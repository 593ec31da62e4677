"""pgrpo.data: the normalized Problem type, its loaders and JSON/JSONL I/O.

Re-exports the types and the loading API so callers write `from pgrpo.data import Problem,
load_problems`. Loaders are imported lazily (on first use of a loader name) so that
`import pgrpo.data.problem` stays light.
"""

from __future__ import annotations

from typing import Any

from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests

_LAZY = {"load_problems", "iter_problems", "detect_format", "LOADERS", "problem_to_dict", "problem_from_dict"}

__all__ = ["CallCase", "Problem", "StdioCase", "TestKind", "Tests", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from pgrpo.data import loaders

        return getattr(loaders, name)
    raise AttributeError(f"module 'pgrpo.data' has no attribute {name!r}")
