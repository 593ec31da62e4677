"""pgrpo.registry: decorator registration with duplicate checks."""

import pytest

from pgrpo.registry import Registry


def test_register_get_and_list():
    reg: Registry[object] = Registry("thing")

    @reg.register("b")
    def b():
        return 2

    reg.add("a", 1)
    assert reg.get("b") is b
    assert reg.names() == ["a", "b"]
    assert "a" in reg and "c" not in reg
    assert len(reg) == 2


def test_duplicate_and_unknown_names_are_errors():
    reg: Registry[int] = Registry("loader")
    reg.add("x", 1)
    with pytest.raises(ValueError, match="duplicate loader 'x'"):
        reg.add("x", 2)
    with pytest.raises(KeyError, match="unknown loader 'y'; known: x"):
        reg.get("y")


def test_lookup_loads_the_plugins_only_for_an_unknown_name(monkeypatch):
    from pgrpo import registry

    reg: Registry[int] = Registry("style")
    reg.add("x", 1)
    calls: list[int] = []

    def load_plugins():
        if not calls:
            reg.add("late", 2)
        calls.append(1)

    monkeypatch.setattr(registry, "load_plugins", load_plugins)
    assert reg.lookup("x") == 1 and calls == []
    assert reg.lookup("late") == 2 and calls == [1]
    with pytest.raises(KeyError, match="unknown style 'y'; known: late, x"):
        reg.lookup("y")
