"""Comparison rules (pgrpo.sandbox.compare): the tricky cases documented in docs/sandbox-rules.md."""

from __future__ import annotations

import math

import pytest

from pgrpo.sandbox.compare import stdout_matches, to_plain, values_match


def is_plain(value: object) -> bool:
    """Does `to_plain` accept `value` (exact builtin types only, no cycles, bounded depth and size)?"""
    try:
        to_plain(value)
    except (TypeError, ValueError):
        return False
    return True


# ----------------------------------------------------------------- stdout_matches
@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        ("3\n", "3"),
        ("  3  \r\n", "3"),
        ("\n\n1 2\n3\n\n", "1 2\n3"),
        ("1   2\t3", "1 2 3"),  # whitespace runs inside a line don't matter
        ("1.0", "1"),
        ("1e3", "1000"),
        ("-0", "0"),
        ("+5", "5"),
        (".5", "0.5"),
        ("Case 1: 2.50", "Case 1: 2.5"),  # token-wise: words and numbers mixed
        ("YES \nNO", "YES\nNO"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_stdout_matches(actual: str, expected: str) -> None:
    assert stdout_matches(actual, expected)
    assert stdout_matches(expected, actual)  # symmetric


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        ("3", "4"),
        ("1 2", "1\n2"),  # line structure matters
        ("1\n\n2", "1\n2"),  # inner blank line is a line
        ("1 2 3", "1 2"),
        ("yes", "YES"),  # case-sensitive
        ("0.3333333", "0.33333333"),  # no float tolerance (LiveCodeBench: exact Decimal)
        ("nan", "NaN"),  # not numbers: compared as strings
        ("inf", "Infinity"),
        ("1_000", "1000"),
        ("0x10", "16"),
        ("", "0"),
        ("1,2", "1 2"),
    ],
)
def test_stdout_mismatches(actual: str, expected: str) -> None:
    assert not stdout_matches(actual, expected)
    assert not stdout_matches(expected, actual)


# ----------------------------------------------------------------- values_match
@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        ((1, 2), [1, 2]),  # tuples as lists
        ([(1, 2), (3,)], [[1, 2], [3]]),
        ({1: "a"}, {"1": "a"}),  # dict keys as JSON strings
        ({True: 1}, {"true": 1}),
        ({None: 1}, {"null": 1}),
        (0.1 + 0.2, 0.3),
        (1, 1.0),  # int vs float: numeric
        (1e-12, 0.0),  # within default abs tolerance
        (float("nan"), float("nan")),
        (float("inf"), float("inf")),
        ({"a": [1.0000001, {"b": (2,)}]}, {"a": [1.0, {"b": [2]}]}),
        ({1, 2, 3}, {3, 2, 1}),
        ({(1, 2)}, frozenset({(1, 2)})),
        ({(1, 2): "x"}, {(1, 2): "x"}),
        (None, None),
        ("abc", "abc"),
        (True, True),
        (10**30, 10**30),
        (b"ab", b"ab"),
        (1 + 2j, complex(1, 2.0000000001)),
        (2 + 0j, 2.0),
    ],
)
def test_values_match(actual, expected) -> None:
    assert values_match(actual, expected)


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        (True, 1),  # bool vs int kept distinct
        (1, True),
        (False, 0),
        (False, 0.0),
        (0, None),
        ("1", 1),
        ([1, 2], [2, 1]),
        ([1, 2], [1, 2, 3]),
        ({"a": 1}, {"a": 1, "b": 2}),
        ({"a": 1}, {"b": 1}),
        (1.001, 1.0),
        (float("nan"), 0.0),
        (0.0, float("nan")),
        (float("inf"), float("-inf")),
        (float("inf"), 1e308),
        ({1, 2}, [1, 2]),  # a set is not a list
        ([[1]], [1]),
        (10**30 + 1, 10**30),
        (b"ab", "ab"),
        (1 + 2j, 1 + 3j),
        (True, 1 + 0j),
    ],
)
def test_values_mismatch(actual, expected) -> None:
    assert not values_match(actual, expected)


def test_atol() -> None:
    assert values_match(1.05, 1.0, atol=0.1)
    assert not values_match(1.2, 1.0, atol=0.1)
    assert values_match([1.0, 2.0 + 1e-7], [1.0, 2.0], atol=1e-6)
    assert not values_match(1.0 + 1e-5, 1.0, atol=1e-6)
    assert values_match(1.0 + 1e-7, 1.0, atol=0)  # atol 0 means the default tolerance
    assert not values_match(1.0 + 1e-5, 1.0, atol=0)
    assert values_match(3, 3, atol=0)


class LyingInt(int):
    def __eq__(self, other):  # a subclass that claims to equal everything
        return True

    __hash__ = int.__hash__


class LyingStr(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


class Anything:
    def __eq__(self, other):
        return True


def test_subclass_tricks_never_match() -> None:
    assert not values_match(LyingInt(1), 1)
    assert not values_match(LyingInt(2), 1)
    assert not values_match(LyingStr("x"), "y")
    assert not values_match(Anything(), 5)
    assert not values_match([1, Anything()], [1, 2])
    assert not values_match({"a": LyingInt(0)}, {"a": 1})
    assert not values_match({LyingStr("k"): 1}, {"k": 1})
    # the expected side gets the same treatment
    assert not values_match(1, Anything())


def test_is_plain() -> None:
    assert is_plain(None)
    assert is_plain([1, 2.5, "x", True, None, (1,), {"a": {1, 2}}, frozenset({3})])
    assert is_plain({(1, 2): [3]})
    assert not is_plain(LyingInt(1))
    assert not is_plain([LyingStr("a")])
    assert not is_plain({"a": Anything()})
    assert is_plain([b"bytes", 1 + 2j])
    assert not is_plain(bytearray(b"x"))
    assert not is_plain(x for x in range(3))
    assert not is_plain(math)


def test_is_plain_refuses_cycles_and_bombs() -> None:
    cyclic: list = [1]
    cyclic.append(cyclic)
    assert not is_plain(cyclic)
    assert not values_match(cyclic, cyclic)
    deep: list = []
    for _ in range(500):
        deep = [deep]
    assert not is_plain(deep)
    dag: list = [0]
    for _ in range(60):  # 2**60 paths through shared nodes: must be refused, not walked
        dag = [dag, dag]
    assert not is_plain(dag)
    # shared (non-cyclic) nodes are fine when small
    shared = [1, 2]
    assert is_plain([shared, shared])


def test_to_plain_is_a_json_round_trip() -> None:
    assert to_plain((1, (2, 3), {"k": (4,)})) == [1, [2, 3], {"k": [4]}]
    assert to_plain({1: 2, 2.5: 3, False: 4}) == {"1": 2, "2.5": 3, "false": 4}
    assert to_plain({1, 2}) == frozenset({1, 2})
    with pytest.raises(TypeError, match="LyingInt"):
        to_plain([LyingInt(3)])
    with pytest.raises(ValueError):
        cyclic: dict = {}
        cyclic["self"] = cyclic
        to_plain(cyclic)
