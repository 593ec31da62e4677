"""pgrpo.data: the normalized Problem type, its loaders and JSON/JSONL I/O.

Re-exports the types, the loading API, JSONL I/O and prompt rendering so callers write
`from pgrpo.data import Problem, load_problems`. All but the types are imported lazily (on first
use of a name) so that `import pgrpo.data.problem` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrpo.data.problem import CallCase, Problem, StdioCase, TestKind, Tests

if TYPE_CHECKING:
    # "X as X": re-exported for type checkers; at run time __getattr__ imports X on first use
    from pgrpo.data.io import iter_jsonl as iter_jsonl
    from pgrpo.data.io import read_jsonl as read_jsonl
    from pgrpo.data.io import write_jsonl as write_jsonl
    from pgrpo.data.io import write_text_atomic as write_text_atomic
    from pgrpo.data.loaders import LOADERS as LOADERS
    from pgrpo.data.loaders import detect_format as detect_format
    from pgrpo.data.loaders import iter_problems as iter_problems
    from pgrpo.data.loaders import load_problems as load_problems
    from pgrpo.data.loaders import problem_from_dict as problem_from_dict
    from pgrpo.data.loaders import problem_to_dict as problem_to_dict
    from pgrpo.data.prompts import build_messages as build_messages
    from pgrpo.data.prompts import prompt_style as prompt_style
    from pgrpo.data.prompts import render_prompt as render_prompt

_LAZY = {"load_problems", "iter_problems", "detect_format", "LOADERS", "problem_to_dict", "problem_from_dict"}
_IO = {"iter_jsonl", "read_jsonl", "write_jsonl", "write_text_atomic"}
_PROMPTS = {"build_messages", "prompt_style", "render_prompt"}

__all__ = ["CallCase", "Problem", "StdioCase", "TestKind", "Tests", *sorted(_LAZY | _IO | _PROMPTS)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from pgrpo.data import loaders

        return getattr(loaders, name)
    if name in _IO:
        from pgrpo.data import io

        return getattr(io, name)
    if name in _PROMPTS:
        from pgrpo.data import prompts

        return getattr(prompts, name)
    raise AttributeError(f"module 'pgrpo.data' has no attribute {name!r}")
