"""What the "unittest" audit hook decides: the integrity snapshot, the type judge, each test's verdict.

`make_protocol` builds the handler of the runner's own audit events (sys.audit(EVENT, verb, ...)),
which unittest_audit's hook calls, as closures over values captured before the program runs. What a
pass and a counted skip need: docs/unittest-threat-model.md ("What a pass means", "Skips").
Does NOT protect against: what unittest_audit.py lists; changes made and undone between two checks
(checks run when program code returns through the entry point, and at each test's end).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

from pgrpo.sandbox.unittest_audit import CANDIDATE, RUNNER, TEST

HEAP_TYPE = 1 << 9
# Behaviour a value's class can change to make a comparison, truth test or conversion lie.
RELEVANT = frozenset({"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__len__",
                      "__contains__", "__iter__", "__getitem__", "__hash__", "__index__", "__int__", "__float__",
                      "__complex__", "__abs__", "__sub__", "__rsub__", "__round__", "__array__", "__array_ufunc__",
                      "__array_function__", "__array_interface__", "__array_priority__", "__getattr__",
                      "__getattribute__", "__class__", "__instancecheck__", "__subclasscheck__", "__str__",
                      "__repr__", "__format__", "__bytes__", "__reversed__", "equals", "all", "any", "item",
                      "tolist", "to_dict", "to_numpy", "keys", "values", "items"})


def make_protocol(origins: tuple[Callable[..., Any], ...], skip_sites: frozenset[int],
                  skip_class: type) -> Callable[[tuple[Any, ...], Any, Callable[..., None]], str]:
    """The protocol handler: (event args, calling frame, emit) -> refusal reason or "".
    `skip_sites`: test-code lines that may raise a skip; `skip_class`: the genuine SkipTest."""
    _of_file, of, _behalf, nearest, _register = origins
    type_, str_, list_, tuple_, len_, bool_ = type, str, list, tuple, len, bool
    issubclass_, enumerate_, range_, all_, any_, zip_, next_ = issubclass, enumerate, range, all, any, zip, next
    repr_, getattr_ = str.__repr__, getattr
    type_t, func_t, memory_error, exc_info = type, types.FunctionType, MemoryError, sys.exc_info
    mro_of = type.__dict__["__mro__"].__get__
    flags_of = type.__dict__["__flags__"].__get__
    dict_of = type.__dict__["__dict__"].__get__
    name_of = type.__dict__["__qualname__"].__get__
    traceback_of = BaseException.__dict__["__traceback__"].__get__
    classmethod_t, staticmethod_t, property_t, method_t = classmethod, staticmethod, property, types.MethodType
    relevant, cand, test_kind, runner = RELEVANT, CANDIDATE, TEST, RUNNER
    data_types = (int, float, complex, str, bytes, bool, type(None), tuple, list, dict, set, frozenset)
    cell_t, heap_type, value_error = types.CellType, HEAP_TYPE, ValueError
    # callables that can stand in for a method without any code of the program: builtins, classes, partials
    aliases = (types.BuiltinFunctionType, types.MethodDescriptorType, types.WrapperDescriptorType,
               types.MethodWrapperType, types.ClassMethodDescriptorType, type, __import__("functools").partial)
    own_slots = (types.MethodDescriptorType, types.WrapperDescriptorType, types.ClassMethodDescriptorType)

    def is_data(value: Any) -> bool:  # identity tests only: never hash a class the program may have made
        kind = type_(value)
        return any_(kind is d for d in data_types)

    watched: list[list[Any]] = []  # [label, mapping or list or cell, snapshot, strict]
    codes: dict[str, Any] = {}
    st: dict[str, Any] = {"main": None, "cur": None, "class_skip": None, "result": None, "fixture": None}

    def snap(obj: Any) -> Any:
        if type_(obj) is list_:
            return tuple_(obj)
        if type_(obj) is cell_t:
            try:
                return obj.cell_contents
            except value_error:
                return st  # a marker: empty
        return tuple_(obj.items())

    def check() -> str:
        for label, obj, before, strict in watched:
            now = snap(obj)
            if type_(obj) is cell_t or type_(obj) is list_:
                same = now is before if type_(obj) is cell_t else (  # a list may grow at its end
                    len_(now) >= len_(before) and all_(a is b for a, b in zip_(now, before)))
                if not same:
                    return f"{label} was changed"
                continue
            if strict and any_(type_(k) is not str_ or k != "__warningregistry__" for k, _ in now[len_(before):]):
                return f"{label} gained names"  # (warnings.warn may add its registry)
            for i, (key, value) in enumerate_(before):
                if i >= len_(now) or now[i][0] is not key or (now[i][1] is not value and not (
                        is_data(value) and is_data(now[i][1]))):
                    return f"{label}.{key if type_(key) is str_ else '?'} was changed"
        return ""

    def rebaseline() -> None:
        for entry in watched:
            entry[2] = snap(entry[1])

    def funcs_of(value: Any) -> list[Any]:
        kind = type_(value)
        if kind is func_t:
            return [value]
        if kind is classmethod_t or kind is staticmethod_t or kind is method_t:
            return funcs_of(value.__func__)
        if kind is property_t:
            return [f for part in (value.fget, value.fset, value.fdel) for f in funcs_of(part)]
        return []

    def library_class(c: Any) -> bool:
        """Was `c`'s body library code (one of its own functions was compiled inside it)?"""
        prefix = name_of(c) + "."
        for value in tuple_(dict_of(c).values()):
            for f in funcs_of(value):
                code = f.__code__
                if of(code) != cand and getattr_(code, "co_qualname", code.co_name).startswith(prefix):
                    return True
        return False

    def type_problem(t: Any, depth: int = 0) -> str:
        """Does class `t` (or its metaclass) carry behaviour written by the program?"""
        if depth > 3 or not issubclass_(type_(t), type_t):
            return ""
        chain = (*mro_of(t), *mro_of(type_(t)))
        for index, c in enumerate_(chain):
            if not flags_of(c) & heap_type:
                continue
            for key, value in tuple_(dict_of(c).items()):
                if any_(of(f.__code__) == cand for f in funcs_of(value)):
                    return f"an object of the program's class {repr_(name_of(t))}"
                if type_(key) is not str_ or key not in relevant:
                    continue
                if flags_of(type_(value)) & heap_type:  # a callable object: judge its class too
                    inner = type_problem(type_(value), depth + 1)
                    if inner:
                        return inner
                if not any_(type_(value) is a for a in aliases) or (any_(type_(value) is a for a in own_slots) and value.__objclass__ is c) or \
                        library_class(c):
                    continue  # not an alias, or the class's own C slot (a compiled extension type)
                inherited = next_((dict_of(b).get(key) for b in chain[index + 1:] if key in dict_of(b)), None)
                if value is not inherited:
                    return f"an object of class {repr_(name_of(t))}, whose {key} is replaced by another callable"
        return ""

    def judge(kinds: Any, funcs: Any, out: Any) -> None:
        if type_(kinds) is not list_ or type_(funcs) is not list_ or type_(out) is not list_:
            return
        for t in kinds:
            problem = type_problem(t)
            if problem:
                out.append(problem)
                return
        for f in funcs:
            if type_(f) is func_t and of(f.__code__) == cand:
                out.append("an object whose method was replaced by the program's function")
                return

    def skip_is_structural() -> bool:
        exc = exc_info()[1]
        if exc is None or not issubclass_(type_(exc), skip_class):
            return False
        tb, last_test = traceback_of(exc), None
        for _ in range_(10_000):
            if tb is None:
                break
            code = tb.tb_frame.f_code
            kind = of(code)
            if kind == cand:
                return False
            if kind == test_kind:
                last_test = tb.tb_lineno
            tb = tb.tb_next
        return last_test is not None and last_test in skip_sites

    def record(cur: dict[str, Any], kind: str, detail: Any, memory: bool) -> None:
        text = detail if type_(detail) is str_ else ""
        if kind == "success":
            cur["success"] = True
        elif kind == "skip":
            cur["skip"] = cur["skip_decorated"] if exc_info()[1] is None else skip_is_structural()
            cur["detail"] = cur["detail"] or f"skipped: {text}"
        elif kind in ("xfail", "unexpected_success"):
            cur["xfail"] = cur["xfail_declared"]
        elif not cur["negative"]:
            cur["negative"] = (text or kind, memory)

    def outcome(args: tuple[Any, ...], frame: Any) -> str:
        kind, test, detail, err_type = args[1], args[2], args[3], args[4]
        if not any_(frame.f_code is c for c in codes["reporter"]) or frame.f_locals.get("self") is not st["result"]:
            return "a test outcome was reported from outside the test runner"
        memory = issubclass_(type_(err_type), type_t) and issubclass_(err_type, memory_error)
        cur = st["cur"]
        if cur is not None and test is cur["inst"]:
            if kind == "success" and (frame.f_back is None or frame.f_back.f_code is not codes["run"]):
                return "a success was reported from outside unittest's TestCase.run"
            record(cur, kind, detail, bool_(memory))
        elif kind == "skip":
            st["class_skip"] = skip_is_structural() if st["class_skip"] is not False else False
        elif kind != "success":
            st["fixture"] = st["fixture"] or (detail if type_(detail) is str_ else kind, bool_(memory))
        return ""

    def verdict(cur: dict[str, Any]) -> tuple[bool, bool, bool, str]:
        """(ok, skip, memory, detail) of the finished test."""
        if cur["negative"]:
            detail, memory = cur["negative"]
            return False, False, memory, detail
        if cur["skip"] is not None:
            return bool_(cur["skip"]), True, False, cur["detail"]
        if cur["xfail"] is not None:
            return bool_(cur["xfail"]), False, False, "" if cur["xfail"] else "expected failure not declared by the test"
        if not cur["entered"] and st["class_skip"]:
            return True, True, False, "skipped by the test class's setUpClass"
        if cur["success"] and cur["returned"]:
            return True, False, False, ""
        return False, False, False, "the test method did not run to its end"

    def handle(args: tuple[Any, ...], frame: Any, emit: Callable[..., None]) -> str:
        if type_(args) is not tuple_ or not args or type_(args[0]) is not str_:
            return "a malformed runner event"
        verb, main = args[0], st["main"]
        if verb == "check":
            problem = check()
            return f"the program changed the test machinery: {problem}" if problem else ""
        if verb == "tamper":
            return f"the program changed the test machinery: {args[1] if type_(args[1]) is str_ else '?'}"[:400]
        if verb == "judge":
            judge(args[1], args[2], args[3])
            return ""
        if verb == "rebaseline":  # accept what the test code changed since the program last ran
            if frame.f_code is codes.get("entry") and nearest(frame.f_back) in (test_kind, runner):
                rebaseline()
            return ""
        if verb in ("enter", "return"):
            cur = st["cur"]
            here = frame.f_locals
            if cur is None or frame.f_code is not codes["test"] or here.get("inst") is not cur["inst"] or \
                    here.get("func") is not cur["func"]:
                return "a test method wrapper ran outside its test"
            cur["entered" if verb == "enter" else "returned"] = True
            return ""
        if verb == "outcome":
            return outcome(args, frame)
        if verb == "signal":  # only the guarded signal.signal may resume the holder of the original
            back = frame.f_back
            ok = frame.f_code is codes.get("signal_holder") and back is not None and \
                back.f_code is codes.get("signal_wrapper")
            return "" if ok else "installing a signal handler that would see the test's frames"
        if main is None:
            if verb != "begin" or of(frame.f_code) != runner:
                return "the runner's protocol was not started by the runner"
            st["main"] = frame
            return ""
        if frame is not main:
            return f"runner event {verb!r} from outside the runner's main loop"
        if verb == "codes":
            codes.update(args[1])
        elif verb == "watch":
            for label, obj, strict in args[1]:
                watched.append([label, obj, snap(obj), strict])
        elif verb == "rebaseline_main":  # after the test class's fixtures: what they set is the baseline
            rebaseline()
        elif verb == "result":
            st["result"] = args[1]
        elif verb == "start":
            name, inst, func, skip_decorated, xfail_declared = args[1:6]
            st["cur"] = {"name": name, "inst": inst, "func": func, "skip_decorated": bool_(skip_decorated),
                         "xfail_declared": bool_(xfail_declared), "entered": False, "returned": False,
                         "success": False, "skip": None, "xfail": None, "negative": None, "detail": ""}
        elif verb in ("end", "done"):
            problem = check()
            if problem:
                return f"the program changed the test machinery: {problem}"
            fixture = st["fixture"]
            if fixture:
                emit("fixture", "class or module fixture", fixture[0][-1000:], "1" if fixture[1] else "")
            elif verb == "done":
                emit("done")
            else:
                cur, st["cur"] = st["cur"], None
                ok, skip, memory, detail = verdict(cur)
                emit("test", cur["name"], "1" if ok else "", "1" if skip else "", "1" if memory else "",
                     detail[-1000:])
        elif verb in ("syntax", "load"):
            emit(verb, *(a if type_(a) is str_ else "" for a in args[1:4]))
        return ""

    return handle
