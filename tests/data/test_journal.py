"""Journal: records survive a kill mid-write (torn tail cut), keys never duplicate, trims are atomic."""

from __future__ import annotations

import json

import pytest

from pgrpo.data.journal import Journal
from pgrpo.errors import DataError


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_torn_tail_is_cut_and_keys_never_duplicate(tmp_path):
    path = tmp_path / "j.jsonl"
    journal = Journal(path, key="id")
    assert journal.append({"id": "a", "v": 1}) and journal.append({"id": "b", "v": 2})
    assert not journal.append({"id": "a", "v": 99})  # already done: ignored
    with path.open("a") as handle:
        handle.write('{"id": "c", "v": 3')  # the process died mid-write
    with pytest.warns(UserWarning, match=r"j\.jsonl:3: dropped a half-written last line"):
        reopened = Journal(path, key="id")
    assert reopened.repaired and len(reopened) == 2 and not reopened.done("c")
    assert reopened.get("a") == {"id": "a", "v": 1}
    reopened.append({"id": "c", "v": 3})
    assert rows(path) == [{"id": "a", "v": 1}, {"id": "b", "v": 2}, {"id": "c", "v": 3}]
    assert not Journal(path, key="id").repaired


def test_field_keys_compare_as_strings_and_a_whole_tail_is_kept(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"index": 3, "v": "x"}\n{"index": 4, "v": "y"}')  # another tool's file, no final newline
    journal = Journal(path, key="index")
    assert journal.repaired and journal.done(4) and journal.done("3") and len(journal) == 2
    assert path.read_text().endswith('"y"}\n')


def test_replace_keeps_the_latest_record_of_a_key(tmp_path):
    path = tmp_path / "j.jsonl"
    journal = Journal(path, key=lambda r: (r["task"], r["i"]), replace=True)
    journal.append({"task": "t", "i": 0, "passed": False})
    journal.append({"task": "t", "i": 0, "passed": True})
    assert (Journal(path, key=lambda r: (r["task"], r["i"]), replace=True).get(("t", 0)) or {})["passed"] is True
    assert (Journal(path, key=lambda r: (r["task"], r["i"])).get(("t", 0)) or {})["passed"] is False


def test_retain_rewrites_atomically_and_unkeyed_journals_keep_every_row(tmp_path):
    path = tmp_path / "metrics.jsonl"
    journal = Journal(path)
    for step in (1, 2, 2, 3):
        journal.append({"step": step})
    assert len(journal) == 4
    assert journal.retain(lambda r: r["step"] <= 2) == 3
    assert rows(path) == [{"step": 1}, {"step": 2}, {"step": 2}]
    journal.append({"step": 3})
    assert [r["step"] for r in Journal(path)] == [1, 2, 2, 3]
    assert Journal(tmp_path / "missing.jsonl").retain(lambda r: True) == 0
    assert not (tmp_path / "missing.jsonl").exists()


def test_damage_in_the_middle_is_an_error_or_skipped(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(DataError, match=r"j\.jsonl:2: corrupt journal line"):
        Journal(path, key="id")
    with pytest.warns(UserWarning, match=r"skipping .*j\.jsonl:2"):
        lenient = Journal(path, key="id", strict=False)
    assert [r["id"] for r in lenient] == ["a", "b"] and [b.line for b in lenient.bad_lines] == [2]
    path.write_text('{"other": 1}\n')
    with pytest.raises(DataError, match=r"without a key \(KeyError\('id'\)\)"):
        Journal(path, key="id")
