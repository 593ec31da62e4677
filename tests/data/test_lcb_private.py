"""LiveCodeBench private tests: decoded without executing anything from the pickle."""

from __future__ import annotations

import base64
import builtins
import datetime
import json
import os
import pickle
import zlib

import pytest

from pgrpo.data.loaders import decode_private_tests, load_problems
from pgrpo.errors import DataError


class _RunsShell:
    """Unpickling this calls os.system (a classic pickle exploit)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _OpensFile:
    """Unpickling this calls builtins.open(marker, "w"), creating the file without a shell."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (str(self.marker), "w"))


def _encode(obj, protocol):
    return base64.b64encode(zlib.compress(pickle.dumps(obj, protocol=protocol))).decode()


def test_real_format_roundtrip():
    tests = [{"input": "1\n", "output": "1\n", "testtype": "stdin"}]
    for protocol in (0, 2, 4, 5):
        assert decode_private_tests(_encode(json.dumps(tests), protocol), "q") == tests
    assert decode_private_tests(json.dumps(tests), "q") == tests  # plain JSON mirrors
    assert decode_private_tests(tests, "q") == tests  # already decoded (parquet / datasets)
    assert decode_private_tests("", "q") == []


@pytest.mark.parametrize("protocol", [0, 2, 4])
@pytest.mark.parametrize("payload_cls", [_RunsShell, _OpensFile])
def test_malicious_pickle_is_rejected_and_never_runs(tmp_path, protocol, payload_cls):
    marker = tmp_path / "pwned"
    blob = _encode([payload_cls(marker)], protocol)
    with pytest.raises(DataError) as info:
        decode_private_tests(blob, "abc999_x")
    assert "abc999_x" in str(info.value) and "forbidden global" in str(info.value)
    assert not marker.exists()


def test_malicious_row_in_a_file_fails_loading_naming_the_problem(tmp_path, lcb, capsys, cli):
    marker = tmp_path / "pwned"
    good = lcb.row("good_1")
    evil = lcb.row("evil_2", private_test_cases=_encode(_RunsShell(marker), 4))
    path = lcb.write(tmp_path / "lcb.jsonl", [good, evil])
    with pytest.raises(DataError, match="problem evil_2: rejected private_test_cases pickle"):
        load_problems(path)
    assert not marker.exists()
    # skip_bad keeps the good problem and still runs nothing
    assert [p.task_id for p in load_problems(path, skip_bad=True)] == ["good_1"]
    assert cli(["data", "inspect", path]) == 2
    assert "evil_2" in capsys.readouterr().err
    assert not marker.exists()


def test_non_plain_types_are_rejected_even_without_globals():
    # sets pickle with the EMPTY_SET opcode (no global lookup): the type check catches them
    with pytest.raises(DataError, match="disallowed type set"):
        decode_private_tests(_encode({1, 2}, 4), "q7")
    with pytest.raises(DataError, match="forbidden global"):
        decode_private_tests(_encode(datetime.date(2024, 1, 1), 4), "q7")  # any class is a global


def test_garbage_payloads_name_the_problem():
    with pytest.raises(DataError, match="problem q8: private_test_cases is not base64"):
        decode_private_tests("!!!not base64 at all", "q8")
    with pytest.raises(DataError, match="problem q8: .*must decode to a list"):
        decode_private_tests(_encode(json.dumps({"a": 1}), 4), "q8")
    with pytest.raises(DataError, match="problem q8: decoded private_test_cases is not JSON"):
        decode_private_tests(_encode("not json", 4), "q8")


def test_functional_input_that_is_not_json_names_the_problem(tmp_path, lcb):
    bad = lcb.row("lc_42", public_test_cases=json.dumps(
        [{"input": "[1, 2\n3", "output": "1", "testtype": "functional"}]),
        starter_code="class Solution:\n    def f(self, a, b):\n        ", metadata='{"func_name": "f"}')
    with pytest.raises(DataError, match="problem lc_42: public_test_cases\\[0\\] input line 1 is not a JSON value"):
        load_problems(lcb.write(tmp_path / "x.jsonl", [bad]))


def test_functional_without_func_name(tmp_path, lcb):
    bad = lcb.row("lc_43", public_test_cases=json.dumps([{"input": "1", "output": "1", "testtype": "functional"}]))
    with pytest.raises(DataError, match=r"x.jsonl:1: field 'metadata.func_name' is missing"):
        load_problems(lcb.write(tmp_path / "x.jsonl", [bad]))
