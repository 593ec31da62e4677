"""Pairs JSONL validation: every malformed line is reported by file:line, never trained on."""

from __future__ import annotations

import os

import pytest

from pgrpo.errors import DataError
from pgrpo.rm.data import Pair, load_pairs, split_pairs


def test_bad_pairs_reported_with_line_numbers(fixtures_dir):
    path = os.path.join(fixtures_dir, "rm", "bad_pairs.jsonl")
    with pytest.raises(DataError) as info:
        load_pairs(path)
    message = str(info.value)
    assert "6 malformed" in message
    for line, reason in [(2, "identical"), (3, "missing field 'chosen'"), (5, "'chosen' is empty"),
                         (6, "invalid JSON"), (7, "pair_type"), (8, "margin")]:
        assert f"bad_pairs.jsonl:{line}: " in message and reason in message
    assert "bad_pairs.jsonl:1:" not in message and "bad_pairs.jsonl:9:" not in message


def test_skip_bad_keeps_valid_pairs_and_lists_skipped(fixtures_dir):
    pairs = load_pairs(os.path.join(fixtures_dir, "rm", "bad_pairs.jsonl"), skip_bad=True)
    assert [p.line for p in pairs.pairs] == [1, 9]
    assert [b.line for b in pairs.bad] == [2, 3, 5, 6, 7, 8]
    assert pairs.pairs[0] == Pair("p1", "good reasoning", "bad reasoning", "strong", "logic", None, 1)
    assert pairs.pairs[1].margin == 0.5 and pairs.pairs[1].pair_type == "degraded"


def test_all_bad_is_an_error_even_when_skipping(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "x", "chosen": "a", "rejected": "a"}\n')
    with pytest.raises(DataError, match="no valid pairs"):
        load_pairs(path, skip_bad=True)


def test_split_groups_by_problem_and_is_deterministic():
    pairs = [Pair(f"p{i // 3}", f"c{i}", f"r{i}") for i in range(60)]
    train, heldout = split_pairs(pairs, 0.25, seed=1)
    assert len(train) + len(heldout) == 60 and len(heldout) == 15
    assert not {p.prompt for p in train} & {p.prompt for p in heldout}
    assert split_pairs(pairs, 0.25, seed=1) == (train, heldout)
    assert split_pairs(pairs, 0.25, seed=2) != (train, heldout)
    assert split_pairs(pairs, 0.0, seed=1) == (pairs, [])
