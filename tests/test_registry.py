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
