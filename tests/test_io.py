"""pgrpo.data.io: JSONL with file:line errors, fsync'd appends, atomic writes."""

import gzip

import pytest

from pgrpo.data.io import BadLine, append_jsonl, iter_jsonl, read_jsonl, write_jsonl
from pgrpo.errors import DataError


def test_roundtrip_and_gzip(tmp_path):
    path = tmp_path / "a.jsonl"
    assert write_jsonl(path, [{"x": 1}, {"x": 2}]) == 2
    append_jsonl(path, {"x": 3})
    assert read_jsonl(path) == [{"x": 1}, {"x": 2}, {"x": 3}]
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert [n for n, _ in iter_jsonl(gz)] == [1, 2, 3]


def test_bad_line_is_named_or_collected(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"x": 1}\n\n{"x": \n[1, 2]\n{"x": 4}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:3: invalid JSON"):
        read_jsonl(path)
    bad: list[BadLine] = []
    assert read_jsonl(path, bad) == [{"x": 1}, {"x": 4}]
    assert [b.line for b in bad] == [3, 4]
    assert "expected a JSON object, got list" in str(bad[1])


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_write_text_atomic_replaces_or_keeps_the_old_file(tmp_path):
    from pgrpo.data.io import write_text_atomic

    path = tmp_path / "sub" / "report.json"
    write_text_atomic(path, "old")
    assert path.read_text() == "old"
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(path, "half \ud800 written")  # a lone surrogate fails mid-write
    assert path.read_text() == "old"
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.json"]  # no temp file left
    write_text_atomic(path, "new")
    assert path.read_text() == "new"
