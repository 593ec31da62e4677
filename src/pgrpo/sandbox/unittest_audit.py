"""The "unittest" test process's PEP 578 audit hook (`install`: no Python code removes it), code origins.

Origins (`make_origins`, shared with unittest_guard) come from a code object's file: the program (not
below a trusted directory), the test code (`__test__.py`), this runner (`unittest_*.py` here), libraries
(the Python prefix, sys.path) and "gadgets" (inspect, traceback, ctypes...: library code that hands out
frames or memory, so it counts as its caller). The hook refuses, reports "refused: ..." and exits, what
docs/unittest-threat-model.md lists ("Refused"); it is the only writer of the report pipe (a secret
only its closure holds) and writes a verdict only from what it saw itself (unittest_verdict).
Does NOT protect against (docs/unittest-threat-model.md): library code calling a callable the program
chose (a Mock's side_effect, a thread target, a poisoned library global) and so reading frames for it;
ctypes a library already loaded (memmove / cast are not audited); C extensions exposing memory (numpy's
__array_interface__); interpreter bugs.
"""

from __future__ import annotations

import _thread
import os
import sys
import sysconfig
import types
from collections.abc import Callable
from typing import Any

EVENT = "pgrpo.unittest"  # the runner's own audit events (sys.audit(EVENT, verb, ...))
CANDIDATE, LIBRARY, GADGET, TEST, RUNNER = range(5)
TEST_FILE, PROGRAM_FILE = "__test__.py", "__program__.py"
_GADGETS = ("inspect.py", "traceback.py", "dis.py", "asyncio/base_tasks.py", "asyncio/tasks.py",
            "asyncio/format_helpers.py", "bdb.py", "pdb.py", "trace.py", "profile.py", "cProfile.py", "code.py",
            "codeop.py", "pydoc.py", "doctest.py", "cgitb.py", "pty.py", "timeit.py", "ctypes/__init__.py",
            "ctypes/util.py", "runpy.py")
_GENERATORS = frozenset({("dataclasses.py", "_create_fn"), ("__init__.py", "namedtuple"), ("_make.py", "_make_method"),
                         ("_make.py", "_linecache_and_compile")})  # library code that execs generated methods
_FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_code"})
_CODE_ATTRS = frozenset({"__code__", "gi_code", "cr_code", "ag_code"})
_FUNC_ATTRS = frozenset({"__code__", "__defaults__", "__kwdefaults__"})
_RUNNER_ONLY = frozenset({"sys._current_frames", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
                          "sys.addaudithook", "sys.settrace", "sys.setprofile"})
_BLOCKED_IMPORTS = frozenset({"ctypes", "_ctypes", "_signal", "signal", "_testcapi", "_testinternalcapi",
                              "_xxsubinterpreters", "_xxinterpchannels", "_posixshmem"})
# refused when done on the program's behalf (a ctypes.dlopen only of a named library)
_BEHALF_ONLY = frozenset({"sys._getframe", "os.fork", "os.forkpty", "ctypes.dlopen", "ctypes.dlsym",
                          "ctypes.dlsym/handle", "ctypes.cdata", "ctypes.cdata/buffer", "ctypes.string_at",
                          "ctypes.wstring_at", "ctypes.addressof", "ctypes.PyObj_FromPtr",
                          "ctypes.call_function", "ctypes.set_errno", "ctypes.set_exception",
                          "ctypes.create_string_buffer", "ctypes.create_unicode_buffer"})
WATCHED = _RUNNER_ONLY | _BEHALF_ONLY | {
    EVENT, "object.__getattr__", "object.__setattr__", "object.__delattr__", "import", "compile", "exec",
    "marshal.loads", "code.__new__", "function.__new__", "open", "os.listdir", "os.scandir"}


def trusted_dirs() -> tuple[str, ...]:
    """Directories whose files are library code: the Python prefix and the absolute sys.path entries
    (read-only in the jail), never the scratch directory or the working directory."""
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values(),
            *(p for p in sys.path if os.path.isabs(p))}
    scratch = (os.path.realpath(os.getcwd()), os.path.realpath("/tmp"), os.path.realpath("/dev/shm"))
    return tuple(sorted({os.path.normpath(d) + os.sep for d in dirs
                         if d and not any(os.path.normpath(d).startswith(s) for s in scratch)}))


def make_origins(dirs: tuple[str, ...], runner_dir: str) -> tuple[Callable[..., Any], ...]:
    """(of_file, of, behalf, nearest, register_generated): where code comes from. Closures over
    values captured now (module globals and builtins can be rebound by the program later)."""
    type_, str_, len_, any_, code_t = type, str, len, any, types.CodeType
    isabs, normpath, basename = os.path.isabs, os.path.normpath, os.path.basename
    gadgets, runner_root, test_file = _GADGETS, normpath(runner_dir) + os.sep, TEST_FILE
    kinds = (CANDIDATE, LIBRARY, GADGET, TEST, RUNNER)
    cand, lib, gadget, test, runner = kinds
    files: dict[str, int] = {}
    generated: set[types.CodeType] = set()  # dataclass / namedtuple methods made by exec

    def classify(name: str) -> int:
        if name == test_file:
            return test
        if name.startswith("<frozen "):
            return lib
        if not isabs(name):
            return cand
        path = normpath(name)
        if path.startswith(runner_root) and basename(path).startswith("unittest_"):
            return runner
        for root in dirs:
            if path.startswith(root):
                rest = path[len_(root):]
                return gadget if any_(rest == g or rest.endswith("/" + g) for g in gadgets) else lib
        return cand

    def of_file(name: Any) -> int:
        if type_(name) is not str_:
            return cand
        kind = files.get(name)
        if kind is None:
            kind = classify(name)
            if len_(files) < 100_000:
                files[name] = kind
        return kind

    def of(code: Any) -> int:
        if type_(code) is not code_t:
            return cand
        return lib if code in generated else of_file(code.co_filename)

    def register_generated(code: types.CodeType) -> None:
        todo = [code]
        while todo and len_(generated) < 1_000_000:
            item = todo.pop()
            generated.add(item)
            todo.extend(c for c in item.co_consts if type_(c) is code_t)

    def behalf(frame: Any, skip_importlib: bool = False) -> bool:
        """Acts `frame` for the program? Gadget frames (and, for imports, importlib's) act for their caller."""
        while frame is not None:
            code = frame.f_code
            kind = of(code)
            if kind == gadget or (skip_importlib and code.co_filename.startswith("<frozen importlib")):
                frame = frame.f_back
                continue
            return kind == cand
        return False

    def nearest(frame: Any) -> int:
        """The origin of the nearest frame that is neither library nor gadget code."""
        while frame is not None and of(frame.f_code) in (lib, gadget):
            frame = frame.f_back
        return cand if frame is None else of(frame.f_code)

    return of_file, of, behalf, nearest, register_generated


def install(box: list[Any], wfd: int, origins: tuple[Callable[..., Any], ...],
            protocol: Callable[[tuple[Any, ...], Any, Callable[..., None]], str]) -> None:
    """Add the hook. `box` holds the report secret (bytes) and is emptied here; `origins` comes
    from make_origins, `protocol` from unittest_verdict.make_protocol: (args, frame, emit) ->
    refusal or "". Everything the hook uses is captured now: the program can rebind module
    globals and builtins later, but not these closure variables (nothing outside reaches them)."""
    secret = box.pop()
    box.clear()
    of_file, of, behalf, _nearest, register_generated = origins
    getframe, ident, write, getpid, exit_ = sys._getframe, _thread.get_ident, os.write, os.getpid, os._exit
    pid, type_, str_, bytes_, getattr_, base_exc = getpid(), type, str, bytes, getattr, BaseException
    value_error = ValueError
    fsdecode, realpath, basename, memoryview_ = os.fsdecode, os.path.realpath, os.path.basename, memoryview
    code_t, func_t = types.CodeType, types.FunctionType
    watched, runner_only, behalf_only, blocked = WATCHED, _RUNNER_ONLY, _BEHALF_ONLY, _BLOCKED_IMPORTS
    frame_attrs, code_attrs, func_attrs, generators = _FRAME_ATTRS, _CODE_ATTRS, _FUNC_ATTRS, _GENERATORS
    cand, lib, gadget, test, runner, event_name = CANDIDATE, LIBRARY, GADGET, TEST, RUNNER, EVENT
    busy: set[int] = set()
    last_open: dict[int, bool] = {}  # per thread: was the last opened file trusted?

    def emit(*fields: str) -> None:
        line = secret + b" " + b" ".join(f.encode("utf-8", "replace").hex().encode() or b"-" for f in fields) + b"\n"
        view = memoryview_(line)
        while view:
            view = view[write(wfd, view):]

    def proc_path(path: Any) -> bool:
        """Does `path` (as opened) lead into /proc/self, /proc/thread-self or /proc/<pid>?"""
        if type_(path) is bytes_:
            path = fsdecode(path)
        if type_(path) is not str_:
            return False
        real = realpath(path)
        if not real.startswith("/proc/"):
            return False
        head = real[6:].split("/", 1)[0]
        return head in ("self", "thread-self") or head.isdigit()

    def decide(event: str, args: tuple[Any, ...], frame: Any) -> str:
        if event == event_name:
            return protocol(args, frame, emit)
        if event in runner_only:
            return "" if of(frame.f_code) == runner else event
        if event in behalf_only:
            return event if behalf(frame) and (event != "ctypes.dlopen" or args[0] is not None) else ""
        if event == "object.__getattr__":
            obj, name = args[0], args[1]
            if name in frame_attrs:
                return f"reading {name}" if behalf(frame) else ""
            if name in code_attrs and of(getattr_(obj, name, None)) == test:  # the runner's code is no secret
                return f"reading the test code's {name}" if behalf(frame) else ""
            return ""
        if event in ("object.__setattr__", "object.__delattr__"):
            obj, name = args[0], args[1]
            if name == "__class__" or (name in func_attrs and type_(obj) is func_t and of(obj.__code__) != cand):
                return f"changing {name}" if behalf(frame) else ""
            return ""
        if event == "import":
            name = args[0]
            if type_(name) is str_ and name.split(".")[0] in blocked and behalf(frame, True):
                return f"import {name}"
            return ""
        if event == "compile":
            via_import = frame.f_code.co_filename.startswith("<frozen importlib")
            claims = of_file(args[1]) != cand or (type_(args[1]) is str_ and args[1].startswith("<frozen"))
            return "compiling code that claims a trusted file" if claims and not via_import and behalf(frame) else ""
        if event == "exec":
            code, fcode = args[0], frame.f_code
            if type_(code) is code_t and of(fcode) == lib and (basename(fcode.co_filename), fcode.co_name) in generators:
                register_generated(code)
            elif type_(code) is code_t and of(code) != cand and behalf(frame):
                return "executing a trusted code object"
            return ""
        if event == "marshal.loads":
            importing = frame.f_code.co_filename.startswith("<frozen")
            return "" if (importing and last_open.get(ident(), False)) or not behalf(frame) else event
        if event == "code.__new__":
            return "creating code that claims a trusted file" if of_file(args[1]) != cand and behalf(frame) else ""
        if event == "function.__new__":
            return "making a function of trusted code" if of(args[0]) != cand and behalf(frame) else ""
        if event in ("open", "os.listdir", "os.scandir"):
            path = args[0]
            if proc_path(path):
                return f"{event} of a /proc path"
            if event == "open" and type_(path) in (str_, bytes_):
                last_open[ident()] = of_file(fsdecode(path)) in (lib, gadget, runner)
            return ""
        return ""

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if type_(event) is not str_ or event not in watched:
            return
        tid = ident()
        if tid in busy:
            return
        busy.add(tid)
        try:
            try:
                frame = getframe(1)
            except value_error:  # raised from C with no Python caller: not the program's doing
                frame = None
            verdict = decide(event, args, frame) if frame is not None else ""
        except base_exc as exc:  # noqa: BLE001 - never let a hook frame escape in a traceback
            verdict = f"audit hook error ({type_(exc).__name__}) on {event}"
        if verdict:
            if getpid() == pid:
                emit("refused", f"{verdict} (not allowed in a unittest task)"[:500])
            exit_(0)
        busy.discard(tid)

    sys.addaudithook(hook)
