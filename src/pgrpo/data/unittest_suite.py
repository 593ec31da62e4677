"""What trusted "unittest"-kind test code (BigCodeBench) declares, read with `ast` (nothing runs).

`unittest_names`: the test methods of `class TestCases` and its in-module bases (as unittest's loader
finds them), which the harness expects and `Tests.count` reports; `skippable_names`, `skip_sites`,
`decorator_skips`, `expected_failures` and `test_imports`: what the sandbox checks skips and expected
failures against and loads before the program (pgrpo.sandbox.unittest_verdict, unittest_child).
"""

from __future__ import annotations

import ast
import functools

SUITE_CLASS = "TestCases"
# unittest decorators / calls that skip a test on purpose.
_SKIP_DECORATORS = frozenset({"skip", "skipIf", "skipUnless"})
_SKIP_CALLS = frozenset({"skipTest", "SkipTest"})
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


# The parse runs in trusted processes without rlimits (the sandbox worker, the service): test
# code longer than this is not read (BigCodeBench's run to a few KB), and the harness refuses it.
MAX_TEST_CODE_CHARS = 64 << 10


@functools.lru_cache(maxsize=64)
def _parse(test_code: str) -> ast.Module | None:
    if len(test_code) > MAX_TEST_CODE_CHARS:
        return None
    try:
        return ast.parse(test_code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def _classes(test_code: str) -> dict[str, ast.ClassDef]:
    tree = _parse(test_code)
    body = tree.body if tree is not None else []
    return {node.name: node for node in body if isinstance(node, ast.ClassDef)}


def _base_names(node: ast.ClassDef) -> list[str]:
    return [base.id for base in node.bases if isinstance(base, ast.Name)]


def _name(node: ast.AST) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def _methods(classes: dict[str, ast.ClassDef], name: str = SUITE_CLASS,
             seen: frozenset[str] = frozenset()) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """`name`'s test methods, its in-module bases' first (a subclass's definition wins)."""
    node = classes.get(name)
    if node is None or name in seen:
        return {}
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for base in reversed(_base_names(node)):
        found.update(_methods(classes, base, seen | {name}))
    for item in node.body:
        if isinstance(item, _FUNCS) and item.name.startswith("test"):
            found[item.name] = item
    return found


def _chain(classes: dict[str, ast.ClassDef]) -> list[ast.ClassDef]:
    """TestCases and its in-module first bases."""
    chain, name = [], SUITE_CLASS
    while name in classes and name not in chain:
        chain.append(name)
        bases = _base_names(classes[name])
        name = bases[0] if bases else ""
    return [classes[n] for n in chain]


@functools.lru_cache(maxsize=1024)
def unittest_names(test_code: str) -> tuple[str, ...]:
    """The test methods of `class TestCases` (names starting with "test", sorted, as unittest's
    loader finds them); () if the code does not parse or defines none."""
    return tuple(sorted(_methods(_classes(test_code))))


def _mentions_skip(node: ast.AST) -> bool:
    return any(_name(sub) in _SKIP_DECORATORS or _name(sub) in _SKIP_CALLS for sub in ast.walk(node))


@functools.lru_cache(maxsize=1024)
def skippable_names(test_code: str) -> frozenset[str]:
    """TestCases methods the trusted code itself may skip: decorated with unittest.skip /
    skipIf / skipUnless, calling self.skipTest or raising SkipTest in their body, or in a
    class (or setUp / setUpClass) that does. Every other skip is the program's doing."""
    classes = _classes(test_code)
    methods = _methods(classes)
    for cls in _chain(classes):
        if any(_mentions_skip(d) for d in cls.decorator_list) or any(
                isinstance(item, _FUNCS) and item.name in ("setUp", "setUpClass") and _mentions_skip(item)
                for item in cls.body):
            return frozenset(methods)
    return frozenset(n for n, node in methods.items() if _mentions_skip(node))


@functools.lru_cache(maxsize=1024)
def skip_sites(test_code: str) -> frozenset[int]:
    """Lines of the trusted test code where a skip may be raised: every line spanned by a
    `skipTest(...)` / `SkipTest(...)` call or a `raise ... SkipTest ...` statement, anywhere in
    the test code. The jailed runner accepts an exception skip only if the innermost test-code
    frame of its traceback is on one of these lines and no frame of the program is in it."""
    tree = _parse(test_code)
    lines: set[int] = set()
    for node in ast.walk(tree) if tree is not None else ():
        if (isinstance(node, ast.Call) and _name(node.func) in _SKIP_CALLS) or (
                isinstance(node, ast.Raise) and node.exc is not None and _mentions_skip(node.exc)):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return frozenset(lines)


def _decorated(test_code: str, names: frozenset[str]) -> frozenset[str]:
    """TestCases methods decorated (or in a class of its in-module chain decorated) with one of `names`."""
    classes = _classes(test_code)
    methods = _methods(classes)

    def marks(decorators: list[ast.expr]) -> bool:
        return any(_name(dec.func if isinstance(dec, ast.Call) else dec) in names for dec in decorators)

    if any(marks(cls.decorator_list) for cls in _chain(classes)):
        return frozenset(methods)
    return frozenset(n for n, node in methods.items() if marks(node.decorator_list))


@functools.lru_cache(maxsize=1024)
def decorator_skips(test_code: str) -> frozenset[str]:
    """TestCases methods that a unittest.skip / skipIf / skipUnless decorator of the test code may skip."""
    return _decorated(test_code, _SKIP_DECORATORS)


@functools.lru_cache(maxsize=1024)
def expected_failures(test_code: str) -> frozenset[str]:
    """TestCases methods the test code itself marks @unittest.expectedFailure (an expected failure
    or an unexpected success counts as a pass only for these, as in BigCodeBench)."""
    return _decorated(test_code, frozenset({"expectedFailure"}))


@functools.lru_cache(maxsize=1024)
def test_imports(test_code: str) -> tuple[str, ...]:
    """Absolute module names the test code imports anywhere (the runner loads and watches them
    before the program runs, so the program cannot serve or patch them first)."""
    tree = _parse(test_code)
    if tree is None:
        return ()
    found: dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found[node.module] = None
            found.update((f"{node.module}.{alias.name}", None) for alias in node.names if alias.name != "*")
    return tuple(found)
