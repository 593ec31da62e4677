"""What trusted "unittest"-kind test code (BigCodeBench) declares: its test methods and the ones allowed to skip.

Owns `unittest_names` (the test methods of `class TestCases`, which the sandbox harness
counts and expects, `Tests.count` reports and loaders require), `skippable_names` (the
methods whose own code may skip: the harness's coarse rule), and what the jailed runner
checks skips and expected failures against (pgrpo.sandbox.unittest_verdict): `skip_sites`
(lines where a skip may be raised), `decorator_skips`, `expected_failures`, and
`test_imports` (loaded before the program runs). Read from the source text with `ast`:
nothing runs.

Methods inherited from classes defined in the same test code count as TestCases' own
(unittest's loader finds them too); bases from elsewhere (unittest.TestCase) add none.
"""

from __future__ import annotations

import ast
import functools

SUITE_CLASS = "TestCases"
# unittest decorators / calls that skip a test on purpose.
_SKIP_DECORATORS = frozenset({"skip", "skipIf", "skipUnless"})
_SKIP_CALLS = frozenset({"skipTest"})


# The parse runs in trusted processes without rlimits (the sandbox worker, the service): test
# code longer than this is not read (BigCodeBench's run to a few KB), and the harness refuses it.
MAX_TEST_CODE_CHARS = 64 << 10


def too_long(test_code: str) -> bool:
    return len(test_code) > MAX_TEST_CODE_CHARS


@functools.lru_cache(maxsize=64)
def _parse(test_code: str) -> ast.Module | None:
    if too_long(test_code):
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


def _methods(classes: dict[str, ast.ClassDef], name: str, seen: frozenset[str] = frozenset()) -> dict[str, ast.AST]:
    """`name`'s test methods, its in-module bases' first (a subclass's definition wins)."""
    node = classes.get(name)
    if node is None or name in seen:
        return {}
    found: dict[str, ast.AST] = {}
    for base in reversed(_base_names(node)):
        found.update(_methods(classes, base, seen | {name}))
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
            found[item.name] = item
    return found


@functools.lru_cache(maxsize=1024)
def unittest_names(test_code: str) -> tuple[str, ...]:
    """The test methods of `class TestCases` (names starting with "test", sorted, as unittest's
    loader finds them); () if the code does not parse or defines none."""
    return tuple(sorted(_methods(_classes(test_code), SUITE_CLASS)))


def _mentions_skip(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        name = sub.attr if isinstance(sub, ast.Attribute) else sub.id if isinstance(sub, ast.Name) else ""
        if name in _SKIP_DECORATORS or name in _SKIP_CALLS or name == "SkipTest":
            return True
    return False


@functools.lru_cache(maxsize=1024)
def skippable_names(test_code: str) -> frozenset[str]:
    """TestCases methods the trusted code itself may skip: decorated with unittest.skip /
    skipIf / skipUnless, calling self.skipTest or raising SkipTest in their body, or in a
    class (or setUp / setUpClass) that does. Every other skip is the program's doing."""
    classes = _classes(test_code)
    methods = _methods(classes, SUITE_CLASS)
    chain, name = [], SUITE_CLASS
    while name in classes and name not in chain:  # TestCases and its in-module bases
        chain.append(name)
        bases = _base_names(classes[name])
        name = bases[0] if bases else ""
    for cls in (classes[n] for n in chain):
        if any(_mentions_skip(d) for d in cls.decorator_list) or any(
                isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in ("setUp", "setUpClass")
                and _mentions_skip(item) for item in cls.body):
            return frozenset(methods)
    return frozenset(n for n, node in methods.items() if _mentions_skip(node))


def _skip_construct(node: ast.AST) -> bool:
    """A call of skipTest(...) / SkipTest(...), or a `raise` of SkipTest."""
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        return name in _SKIP_CALLS or name == "SkipTest"
    if isinstance(node, ast.Raise) and node.exc is not None:
        return _mentions_skip(node.exc)
    return False


@functools.lru_cache(maxsize=1024)
def skip_sites(test_code: str) -> frozenset[int]:
    """Lines of the trusted test code where a skip may be raised: every line spanned by a
    `skipTest(...)` / `SkipTest(...)` call or a `raise ... SkipTest ...` statement, anywhere in
    the test code. The jailed runner accepts an exception skip only if the innermost test-code
    frame of its traceback is on one of these lines and no frame of the program is in it."""
    tree = _parse(test_code)
    if tree is None:
        return frozenset()
    lines: set[int] = set()
    for node in ast.walk(tree):
        if _skip_construct(node) and isinstance(node, (ast.Call, ast.Raise)):
            lines.update(range(node.lineno, (getattr(node, "end_lineno", None) or node.lineno) + 1))
    return frozenset(lines)


def _decorated(test_code: str, names: frozenset[str]) -> frozenset[str]:
    """TestCases methods decorated (or in a class of its in-module chain decorated) with one of `names`."""
    classes = _classes(test_code)
    methods = _methods(classes, SUITE_CLASS)

    def marks(decorators: list[ast.expr]) -> bool:
        for dec in decorators:
            target = dec.func if isinstance(dec, ast.Call) else dec
            name = target.attr if isinstance(target, ast.Attribute) else target.id if isinstance(target, ast.Name) else ""
            if name in names:
                return True
        return False

    chain, name = [], SUITE_CLASS
    while name in classes and name not in chain:
        chain.append(name)
        bases = _base_names(classes[name])
        name = bases[0] if bases else ""
    if any(marks(classes[n].decorator_list) for n in chain):
        return frozenset(methods)
    return frozenset(n for n, node in methods.items()
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and marks(node.decorator_list))


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
