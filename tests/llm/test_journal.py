"""Journal: per-item records survive a kill mid-write (torn tail cut), never duplicate a key."""

from __future__ import annotations

import json

import pytest

from pgrpo.errors import DataError
from pgrpo.llm.journal import Journal


def test_torn_tail_is_cut_and_keys_never_duplicate(tmp_path):
    path = tmp_path / "j.jsonl"
    journal = Journal(path, key="id")
    journal.append({"id": "a", "v": 1})
    journal.append({"id": "b", "v": 2})
    journal.append({"id": "a", "v": 99})  # already done: ignored
    with path.open("a") as handle:
        handle.write('{"id": "c", "v": 3')  # the process died mid-write
    reopened = Journal(path, key="id")
    assert reopened.repaired and len(reopened) == 2 and not reopened.done("c")
    reopened.append({"id": "c", "v": 3})
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [{"id": "a", "v": 1}, {"id": "b", "v": 2}, {"id": "c", "v": 3}]
    assert not Journal(path, key="id").repaired


def test_damage_in_the_middle_is_an_error(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(DataError, match=r"j\.jsonl:2: corrupt journal line"):
        Journal(path, key="id")
    path.write_text('{"other": 1}\n')
    with pytest.raises(DataError, match="without 'id'"):
        Journal(path, key="id")
