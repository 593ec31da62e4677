"""`Registry`: name -> object tables filled by decorators, with duplicate checks. One exists only where a
plugin (pgrpo.plugins) may add an entry: COMMANDS, BACKENDS, JUDGES, PROMPT_STYLES, LOADERS, BENCHMARKS,
BENCHMARK_FORMATS; a fixed set is a plain dict in its module. Built-ins register on a plain import (never
by a name in a string); plugins are loaded by `lookup`, for a name no built-in holds, never on import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from pgrpo.plugins import load_plugins

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

    def lookup(self, name: str) -> T:
        """`get`, after loading the plugins (pgrpo.plugins) if no entry has `name` yet."""
        if name not in self._items:
            load_plugins()
        return self.get(name)

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
