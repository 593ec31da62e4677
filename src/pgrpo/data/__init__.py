"""pgrpo.data: the normalized Problem type, its loaders, JSONL I/O and prompts. All but the types are
imported on first use of a name, so that `import pgrpo.data.problem` stays light."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests

if TYPE_CHECKING:
    from pgrpo.data.io import iter_jsonl, read_jsonl, write_jsonl, write_text_atomic
    from pgrpo.data.loaders import LOADERS, detect_format, iter_problems, load_problems
    from pgrpo.data.prompts import build_messages, prompt_style, render_prompt
    from pgrpo.data.schema import problem_from_dict, problem_to_dict

__all__ = ["LOADERS", "CallCase", "Problem", "StdioCase", "TestKind", "Tests", "build_messages",
           "detect_format", "iter_jsonl", "iter_problems", "load_problems", "problem_from_dict",
           "problem_to_dict", "prompt_style", "read_jsonl", "render_prompt", "write_jsonl",
           "write_text_atomic"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'pgrpo.data' has no attribute {name!r}")
    from pgrpo.data import io, loaders, prompts

    return getattr(next(module for module in (loaders, io, prompts) if hasattr(module, name)), name)
