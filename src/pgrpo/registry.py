"""Name -> object registries filled by decorators, with duplicate checks.

The rule: a registry exists only where a user can add an entry, through a plugin
(pgrpo.plugins, the one door). There are seven:

    COMMANDS           pgrpo.commands               subcommands
    BACKENDS           pgrpo.llm.base               chat backends (hf, openai, vllm)
    JUDGES             pgrpo.bench.judge            LCB-RB consistency judges (llm)
    PROMPT_STYLES      pgrpo.data.prompts           prompt styles
    LOADERS            pgrpo.data.loaders.base      problem formats
    BENCHMARKS         pgrpo.evaluation.benchmarks  `pgrpo evaluate` benchmarks
    BENCHMARK_FORMATS  pgrpo.rm.bench_formats       `pgrpo rm eval` benchmark formats

A fixed set (the three reward modes, the two RM heads and RM server kinds, the sandbox's
isolation modes, `rm eval`'s evaluators, the evaluation-set readers, the task kinds) is a
plain dict or a direct call in the module that owns it, never a registry; and nothing is
registered to break an import cycle. Built-in
entries register when their module is imported by a plain import, never by a module name in a
string, so the import-linter contracts see every edge. A registry is only a table: plugins are
loaded at CLI start-up and by the user-facing factories that look a name up (`make_backend`,
`get_style`, `judge_factory`), never here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A named registry. `@reg.register("name")` adds; `reg.get("name")` looks up."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"duplicate {self.kind} {name!r}: already registered as {self._items[name]!r}")
        self._items[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
