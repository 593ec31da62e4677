"""The "unittest" runner's value checks between the program and the tests' oracles (for unittest_child).

`value_problem` (may this value reach an assertion?), `hardened_asserts` (unittest's asserts that check
their values first), `entry_wrapper` (the entry point: integrity and value check on return) and
`wrap_oracles` (numpy / pandas testing helpers, np.array_equal & co.). Refused, also inside builtin
containers, numpy object arrays and pandas object columns / indexes: a class carrying the program's
methods or aliasing one to another callable, a configured Mock, mock.ANY, a library object whose
instance dict shadows a method. The class judgement runs in the audit hook (unittest_verdict.judge).
Does NOT protect against: rewriting these helpers' globals or closure cells and restoring them before
the end-of-test check; values the tests get other than from the entry point; library objects built
to compare equal to anything other than mock.ANY.
"""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Callable
from typing import Any

from pgrpo.sandbox.unittest_audit import EVENT

PLAIN = frozenset({int, float, complex, str, bytes, bool, type(None), range, bytearray})
BUDGET = 2_000_000  # containers' members inspected per value
UNCHECKED_ASSERTS = frozenset({"assertRaises", "assertRaisesRegex", "assertWarns", "assertWarnsRegex", "assertLogs",
                               "assertNoLogs", "assertIs", "assertIsNot", "assertIsNone", "assertIsNotNone"})
COMPARING_MAGICS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__len__",
                    "__contains__", "__iter__", "__getitem__", "__hash__", "__int__", "__float__", "__index__")
NUMPY_ORACLES = ("array_equal", "array_equiv", "allclose", "isclose")
PANDAS_ORACLES = ("assert_frame_equal", "assert_series_equal", "assert_index_equal", "assert_extension_array_equal")


def _mock_problem(value: Any, mock: types.ModuleType) -> str:
    if type(value) is getattr(mock, "_ANY", None):
        return "mock.ANY (equal to anything)"
    if not isinstance(type(value), type) or not issubclass(type(value), mock.NonCallableMock):
        return ""
    defaults = {"__eq__", "__ne__", "__iter__"}
    for name in COMPARING_MAGICS:
        attr = type(value).__dict__.get(name)
        if attr is None or type(attr) is mock.MagicProxy:
            continue
        if not isinstance(attr, mock.NonCallableMock):
            return f"a Mock whose {name} was replaced"
        state = vars(attr)
        effect = state.get("_mock_side_effect")
        default_effect = effect is None or (type(effect) is types.FunctionType and name in defaults
                                            and effect.__code__.co_filename.endswith("mock.py"))
        if state.get("_mock_return_value", mock.DEFAULT) is not mock.DEFAULT or not default_effect:
            return f"a Mock whose {name} was configured"
    return ""


def _members(value: Any, kind: type) -> list[Any]:
    """The members of a container-like value worth checking (its object-typed contents)."""
    if issubclass(kind, dict):
        return [*dict.keys(value), *dict.values(value)]
    if issubclass(kind, (list, tuple, set, frozenset)):
        return list(value)
    numpy, pandas = sys.modules.get("numpy"), sys.modules.get("pandas")
    if numpy is not None and issubclass(kind, numpy.ndarray):
        return value.ravel().tolist() if value.dtype == object else []
    if pandas is not None and issubclass(kind, (pandas.DataFrame, pandas.Series, pandas.Index)):
        out: list[Any] = []
        parts = [value] if issubclass(kind, pandas.Index) else [value.index]
        if issubclass(kind, pandas.DataFrame):
            parts.append(value.columns)
            parts.extend(value.iloc[:, i] for i in range(value.shape[1]))
        elif issubclass(kind, pandas.Series):
            parts.append(value)
        for part in parts:
            out.append(part.array)
            if part.dtype == object:
                out.extend(part.tolist())
        return out
    return []


def value_problem(*values: Any) -> str:
    """Why these values may not reach an oracle, or ""."""
    kinds: dict[type, None] = {}
    funcs: list[Any] = []
    mock = sys.modules.get("unittest.mock")
    stack, seen, budget = list(values), set(), BUDGET
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind in PLAIN:
            continue
        budget -= 1
        if budget < 0:
            return "a value too large to check"
        if id(value) in seen:
            continue
        seen.add(id(value))
        kinds[kind] = None
        if mock is not None:
            problem = _mock_problem(value, mock)
            if problem:
                return problem
        out: list[str] = []
        sys.audit(EVENT, "judge", [kind], [], out)  # the class first: never run the program's methods
        if out:
            return out[0]
        state = getattr(value, "__dict__", None) if kind.__flags__ & (1 << 9) else None
        if type(state) is dict:
            for name, attr in state.items():
                if type(name) is str and callable(attr) and hasattr(kind, name):
                    kinds[type(attr)] = None
                    funcs.append(attr.__func__ if type(attr) is types.MethodType else attr)
        stack.extend(_members(value, kind))
    out = []
    sys.audit(EVENT, "judge", list(kinds), funcs, out)
    return out[0] if out else ""


def hardened_asserts(genuine: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """unittest's assert methods (and fail* aliases) that first check their value arguments."""
    return {name: _checked(func, name, method=True) if name not in UNCHECKED_ASSERTS else func
            for name, func in genuine.items() if name.startswith(("assert", "fail")) and name != "failureException"}


def entry_wrapper(real: Callable[..., Any], name: str) -> Callable[..., Any]:
    """The program's entry point as the tests call it: changes since the last call made by the test
    code are accepted (rebaseline), then after the program returns the snapshot must be intact and
    the value checkable."""
    audit, problem_of = sys.audit, value_problem

    def entry(*args: Any, **kwargs: Any) -> Any:
        audit(EVENT, "rebaseline")
        try:
            value = real(*args, **kwargs)
        finally:
            audit(EVENT, "check")
        problem = problem_of(value)
        if problem:
            audit(EVENT, "tamper", f"{name} returned {problem}")
        return value

    return functools.update_wrapper(entry, real)


def _checked(func: Callable[..., Any], label: str, method: bool = False) -> Callable[..., Any]:
    """`func`, first checking its values; of an assert `method`, neither `self` nor `msg`."""
    audit, problem_of = sys.audit, value_problem
    first = 1 if method else 0

    def oracle(*args: Any, **kwargs: Any) -> Any:
        problem = problem_of(*args[first:], *(v for k, v in kwargs.items() if not (method and k == "msg")))
        if problem:
            audit(EVENT, "tamper", f"{label} was given {problem}")
        return func(*args, **kwargs)

    return functools.update_wrapper(oracle, func)


def wrap_oracles() -> list[tuple[str, Any, bool]]:
    """Put the value check in front of numpy / pandas testing helpers that are loaded; the
    namespaces to watch, as (label, mapping, strict)."""
    watch: list[tuple[str, Any, bool]] = []
    numpy, pandas = sys.modules.get("numpy"), sys.modules.get("pandas")
    targets: list[tuple[types.ModuleType, tuple[str, ...]]] = []
    if numpy is not None:
        testing = sys.modules.get("numpy.testing") or getattr(numpy, "testing", None)
        targets.append((numpy, NUMPY_ORACLES))
        if isinstance(testing, types.ModuleType):
            targets.append((testing, tuple(n for n in vars(testing) if n.startswith("assert_"))))
    if pandas is not None:
        testing = sys.modules.get("pandas.testing") or getattr(pandas, "testing", None)
        if isinstance(testing, types.ModuleType):
            targets.append((testing, PANDAS_ORACLES))
        for cls_name in ("DataFrame", "Series", "Index"):
            cls = getattr(pandas, cls_name, None)
            for base in getattr(cls, "__mro__", ())[:-1]:
                watch.append((f"pandas {base.__qualname__}", base.__dict__, False))
    for module, names in targets:
        for name in names:
            func = vars(module).get(name)
            if callable(func) and not getattr(func, "__pgrpo_checked__", False):
                checked = _checked(func, f"{module.__name__}.{name}")
                checked.__pgrpo_checked__ = True  # type: ignore[attr-defined]
                setattr(module, name, checked)
        watch.append((module.__name__, vars(module), False))
    return watch
