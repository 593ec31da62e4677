"""The "unittest" test process: the program and the trusted TestCases in one interpreter (`child_main`).

Before the program's first line: what the tests import is loaded, ctypes and pgrpo's other modules are
dropped, oracles get value checks (unittest_guard), what decides a verdict is snapshotted and the audit
hook installed (unittest_audit, unittest_verdict). Then, as BigCodeBench does, program (`__program__.py`)
and tests (`__test__.py`) run in one module `__test__` (TZ=UTC, Agg, output swallowed, exit/quit None),
through unittest's TestCase.run and suite fixtures, with every method bound on each test instance from
the genuine functions and each test method wrapped to tell the hook it started and returned. Only the
hook writes reports. Does NOT protect against: see unittest_audit.py and unittest_guard.py.
"""

from __future__ import annotations

import builtins
import gc
import importlib
import io
import os
import sys
import time
import types
import unittest  # loads every unittest.* module the watch list covers
from collections.abc import Callable
from typing import Any

from pgrpo.sandbox import unittest_audit, unittest_guard, unittest_verdict
from pgrpo.sandbox.unittest_audit import EVENT, PROGRAM_FILE, TEST_FILE

_OWN = ("pgrpo.sandbox.unittest_child", "pgrpo.sandbox.unittest_audit", "pgrpo.sandbox.unittest_guard",
        "pgrpo.sandbox.unittest_verdict")
_FLAGS = ("__unittest_skip__", "__unittest_skip_why__", "__unittest_expecting_failure__")


class _Sink(io.StringIO):
    """Swallowed output (BigCodeBench's WriteOnlyStringIO): writes vanish, reads fail."""

    def write(self, text: str) -> int:
        return len(text)

    def read(self, size: int | None = -1, /) -> str:
        raise OSError("stdin is not readable")

    def readline(self, size: int | None = -1, /) -> str:  # type: ignore[override]
        raise OSError("stdin is not readable")

    def readable(self) -> bool:
        return False


def _resolve(test: Any) -> Any:
    """A subtest's test case, else the test itself."""
    return test.test_case if type(test) is _SUBTEST else test


_SUBTEST = getattr(unittest.case, "_SubTest")  # noqa: B009 - private, not in the stubs


class Reporter(unittest.TestResult):
    """Tells the audit hook each outcome unittest reports (the hook keeps the verdict)."""

    def _tell(self, kind: str, test: Any, detail: str = "", err: Any = None) -> None:
        sys.audit(EVENT, "outcome", kind, _resolve(test), detail[-1000:], err[0] if err else None)

    def addSuccess(self, test: Any) -> None:  # noqa: N802 - unittest's API
        super().addSuccess(test)
        sys.audit(EVENT, "outcome", "success", test, "", None)

    def addFailure(self, test: Any, err: Any) -> None:  # noqa: N802
        super().addFailure(test, err)
        self._tell("failure", test, self.failures[-1][1], err)

    def addError(self, test: Any, err: Any) -> None:  # noqa: N802
        super().addError(test, err)
        self._tell("error", test, self.errors[-1][1], err)

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:  # noqa: N802
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = isinstance(err[0], type) and issubclass(err[0], test.failureException)
            self._tell("failure" if failed else "error", test, (self.failures if failed else self.errors)[-1][1], err)

    def addSkip(self, test: Any, reason: str) -> None:  # noqa: N802 - the hook decides whether the skip counts
        super().addSkip(test, reason)
        sys.audit(EVENT, "outcome", "skip", _resolve(test), reason if type(reason) is str else "", None)

    def addExpectedFailure(self, test: Any, err: Any) -> None:  # noqa: N802
        super().addExpectedFailure(test, err)
        sys.audit(EVENT, "outcome", "xfail", test, "", None)

    def addUnexpectedSuccess(self, test: Any) -> None:  # noqa: N802
        super().addUnexpectedSuccess(test)
        sys.audit(EVENT, "outcome", "unexpected_success", test, "", None)


_SELF = sys.modules[__name__]
_REPORTER_CODES = frozenset(f.__code__ for f in vars(Reporter).values() if isinstance(f, types.FunctionType))


def _test_wrapper(inst: Any, func: Callable[..., Any], flags: dict[str, Any]) -> Callable[..., None]:
    """The test method as TestCase.run calls it: tells the hook it started and ran to its end."""
    audit = sys.audit

    def run_test(*args: Any, **kwargs: Any) -> None:
        audit(EVENT, "enter")
        func(inst, *args, **kwargs)
        audit(EVENT, "return")

    for key, value in flags.items():
        setattr(run_test, key, value)
    return run_test


_TEST_CODE = _test_wrapper(None, print, {}).__code__
_ENTRY_CODE = unittest_guard.entry_wrapper(print, "").__code__


def _guard_signals() -> dict[str, types.CodeType]:
    """signal.signal (and _signal.signal) install handlers that get frame=None instead of the
    interrupted frame (which would be a test's). The original function lives only in a
    generator's frame (gi_frame is refused to the program), which the hook lets only the
    wrapper resume."""
    import _signal
    import signal

    original, audit, default = _signal.signal, sys.audit, signal.default_int_handler

    def holder() -> Any:
        args = yield None
        while True:
            audit(EVENT, "signal")
            args = yield original(*args)

    resume = holder()
    next(resume)

    def guarded_signal(signalnum: int, handler: Any) -> Any:
        if callable(handler) and handler is not default:
            inner = handler

            def handler(signum: int, frame: Any) -> Any:
                return inner(signum, None)
        return resume.send((signalnum, handler))

    guarded_signal.__doc__ = original.__doc__
    signal.signal = _signal.signal = guarded_signal
    return {"signal_holder": holder.__code__, "signal_wrapper": guarded_signal.__code__}


def _preload(imports: list[str], mock: bool) -> None:
    """Load what the test code imports before the program can (failures are the test's to report)."""
    for name in (*(["unittest.mock"] if mock else []), *imports):
        try:
            importlib.import_module(name)
        except BaseException:  # noqa: BLE001, S110 - a missing module fails later, in the test, as it should
            pass


def _scrub() -> None:
    """Drop what the program must not reach: ctypes (the spawner loaded it) and pgrpo's other modules."""
    for name in [n for n in sys.modules if n in ("ctypes", "_ctypes") or n.startswith("ctypes.")]:
        module = sys.modules.pop(name)
        if name != "_ctypes":
            vars(module).clear()
    for name in [n for n in sys.modules if n == "pgrpo" or n.startswith("pgrpo.")]:
        module = sys.modules.pop(name)
        if name not in _OWN and name != "pgrpo.sandbox.unittest_run" and isinstance(module, types.ModuleType):
            vars(module).clear()
    gc.collect()


def _watch_list(extra: list[tuple[str, Any, bool]]) -> list[tuple[str, Any, bool]]:
    """What decides a verdict: unittest's modules and classes, builtins, sys.modules, the import
    machinery, this runner's modules, and closures of their functions."""
    watch: list[tuple[str, Any, bool]] = [("builtins", vars(builtins), False), ("sys.modules", sys.modules, False),
                                          ("signal", vars(sys.modules["signal"]), False),
                                          ("_signal", vars(sys.modules["_signal"]), False),
                                          ("sys.meta_path", sys.meta_path, True), ("sys.path_hooks", sys.path_hooks, True)]
    modules = [m for n, m in list(sys.modules.items()) if (n == "unittest" or n.startswith("unittest."))
               and isinstance(m, types.ModuleType)]
    modules += [unittest_audit, unittest_guard, unittest_verdict, _SELF]
    functions: list[Any] = []
    for module in modules:
        watch.append((module.__name__, vars(module), module.__name__ not in ("unittest", "unittest.mock")))
        for value in list(vars(module).values()):
            if isinstance(value, type) and value.__module__ == module.__name__:
                watch.append((f"{module.__name__}.{value.__qualname__}", value.__dict__, True))
                functions += [f for f in vars(value).values() if type(f) is types.FunctionType]
            elif type(value) is types.FunctionType:
                functions.append(value)
    for func in functions:
        for cell in func.__closure__ or ():
            watch.append((f"a closure of {func.__qualname__}", cell, True))
    return watch + extra


def _bind(inst: Any, cases: type, hardened: dict[str, Callable[..., Any]]) -> None:
    """Bind on the instance every method it may look up, from the genuine functions of now."""
    genuine = vars(unittest.TestCase)
    for owner in reversed(cases.__mro__):
        for name, value in list(vars(owner).items()):
            if type(value) is types.FunctionType and not name.startswith("__"):
                use = hardened.get(name, value) if value is genuine.get(name) else value
                inst.__dict__[name] = types.MethodType(use, inst)  # type: ignore[arg-type]


def _text(exc: BaseException) -> str:
    """str(exc) without trusting the exception's own __str__ (the program may have written it)."""
    try:
        text = BaseException.__str__(exc)
    except BaseException:  # noqa: BLE001 - an unprintable exception still fails the job
        return "?"
    return text if type(text) is str else "?"


def child_main(data: dict[str, Any], box: list[Any], wfd: int) -> None:
    """Run one job's tests; every verdict leaves through the audit hook. Never returns normally."""
    os.environ["TZ"] = "UTC"  # before any library loads: they may read these at import
    time.tzset()
    os.environ["MPLBACKEND"] = "Agg"
    _preload(list(data["imports"]), any(n.startswith("unittest.mock") for n in data["imports"]))
    _scrub()
    setattr(builtins, "exit", None)  # noqa: B010 - as BigCodeBench's reliability_guard
    setattr(builtins, "quit", None)  # noqa: B010
    base_case, skip_class = unittest.TestCase, unittest.SkipTest
    run_fn = base_case.__dict__["run"]
    suite_fns = {n: getattr(unittest.TestSuite, n) for n in ("_tearDownPreviousClass", "_handleModuleFixture",
                                                            "_handleClassSetUp", "_handleModuleTearDown")}
    hardened = unittest_guard.hardened_asserts(dict(vars(base_case)))
    signal_codes = _guard_signals()
    watch = _watch_list(unittest_guard.wrap_oracles())
    audit, exc_exit, getattr_, type_, text = sys.audit, os._exit, getattr, type, _text
    origins = unittest_audit.make_origins(unittest_audit.trusted_dirs(), os.path.dirname(unittest_audit.__file__))
    protocol = unittest_verdict.make_protocol(origins, frozenset(data["skip_sites"]), skip_class)
    unittest_audit.install(box, wfd, origins, protocol)
    # From here on every audited event passes the hook; the program has not run yet.
    audit(EVENT, "begin")
    audit(EVENT, "codes", {"test": _TEST_CODE, "reporter": _REPORTER_CODES, "entry": _ENTRY_CODE,
                           "run": run_fn.__code__, **signal_codes})
    audit(EVENT, "watch", watch)
    del watch
    try:
        # dont_inherit: this module's `from __future__ import annotations` must not leak into their code
        program = compile(data["program"], PROGRAM_FILE, "exec", dont_inherit=True)
        tests = compile(data["tests"], TEST_FILE, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as exc:
        audit(EVENT, "syntax", f"{type_(exc).__name__}: {text(exc)}"[:500])
        exc_exit(0)
    module = types.ModuleType("__test__")
    ns = module.__dict__
    ns.update({"__builtins__": builtins, "__file__": TEST_FILE, "__package__": None, "__doc__": None,
               "sys": sys, "os": os, "environ": os.environ})
    sys.stdout = sys.stderr = sys.stdin = _Sink()
    entry_point = data["entry_point"]
    genuine_builtins, program_file = builtins, PROGRAM_FILE  # locals: the program cannot rebind them
    try:
        exec(program, ns)  # noqa: S102 - the untrusted program, in the jail, under the audit hook
        audit(EVENT, "check")
        if ns.get("__builtins__") is not genuine_builtins:  # e.g. a __build_class__ that rewrites TestCases
            raise RuntimeError("tampering: the program replaced the module's __builtins__")
        real = ns.get(entry_point) if entry_point else None
        if callable(real):
            ns[entry_point] = unittest_guard.entry_wrapper(real, entry_point)
        exec(tests, ns)  # noqa: S102 - the trusted tests
        sys.modules["__test__"] = module
        audit(EVENT, "check")
        if ns.get("__builtins__") is not genuine_builtins:
            raise RuntimeError("tampering: the program replaced the module's __builtins__")
        cases = ns.get("TestCases")
        if not (isinstance(cases, type) and issubclass(cases, base_case)):
            raise TypeError("TestCases is not a unittest.TestCase")
        plan = []
        for name in data["names"]:
            inst = cases(name)
            func = next(vars(c)[name] for c in cases.__mro__ if name in vars(c))
            layer = func
            for _ in range(16):  # the method and what its decorators wrap: none of it the program's code
                if getattr_(getattr_(layer, "__code__", None), "co_filename", None) == program_file:
                    raise RuntimeError(f"tampering: test method {name} is the program's code")
                layer = getattr_(layer, "__wrapped__", None)
                if layer is None:
                    break
            flags = {key: getattr_(func, key) for key in _FLAGS if hasattr(func, key)}
            _bind(inst, cases, hardened)
            inst.__dict__[name] = _test_wrapper(inst, func, flags)
            on_class = {k: getattr_(cases, k, False) for k in _FLAGS}
            skipped = bool(flags.get("__unittest_skip__") or on_class["__unittest_skip__"])
            xfail = bool(flags.get("__unittest_expecting_failure__") or on_class["__unittest_expecting_failure__"])
            plan.append((name, inst, func, skipped and name in data["decorator_skips"],
                         xfail and name in data["expected_failures"]))
        suite = unittest.TestSuite()
        result = Reporter()
        for name, value in [*vars(unittest.TestResult).items(), *vars(Reporter).items()]:
            if type_(value) is types.FunctionType and not name.startswith("__"):
                result.__dict__[name] = types.MethodType(value, result)
        classes = [("TestCases", c.__dict__, False) for c in cases.__mro__ if c not in base_case.__mro__]
        audit(EVENT, "watch", [*classes, ("the test module", ns, False)])
        audit(EVENT, "result", result)
        del real, cases, module
        result._testRunEntered = True  # type: ignore[attr-defined]
        for name, inst, func, skip_decorated, xfail_declared in plan:
            suite_fns["_tearDownPreviousClass"](suite, inst, result)
            suite_fns["_handleModuleFixture"](suite, inst, result)
            suite_fns["_handleClassSetUp"](suite, inst, result)
            result._previousTestClass = type_(inst)  # type: ignore[attr-defined]
            audit(EVENT, "rebaseline_main")
            audit(EVENT, "start", name, inst, func, skip_decorated, xfail_declared)
            if not (getattr_(type_(inst), "_classSetupFailed", False) or getattr_(result, "_moduleSetUpFailed", False)):
                run_fn(inst, result)
            audit(EVENT, "end")
        suite_fns["_tearDownPreviousClass"](suite, None, result)
        suite_fns["_handleModuleTearDown"](suite, result)
    except BaseException as exc:  # noqa: BLE001 - loading, or escaping unittest: the job fails
        audit(EVENT, "load", type_(exc).__name__, text(exc)[:300], "1" if isinstance(exc, MemoryError) else "")
        exc_exit(0)
    audit(EVENT, "done")
    exc_exit(0)
