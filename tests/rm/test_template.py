"""The RM input template and its truncation policy (problem keeps its start, response its end)."""

from __future__ import annotations

import pytest

from pgrpo.rm.template import (
    CODE_HEADER,
    PROBLEM_HEADER,
    REASONING_HEADER,
    encode_rm_input,
    rm_input_text,
    truncate_parts,
)


def test_text_layout_with_and_without_code():
    text = rm_input_text("  Add two numbers.\n", "Use +.\n")
    assert text == PROBLEM_HEADER + "Add two numbers." + REASONING_HEADER + "Use +."
    with_code = rm_input_text("Add.", "Use +.", "def add(a, b):\n    return a + b\n")
    assert with_code.endswith(CODE_HEADER + "def add(a, b):\n    return a + b\n```")
    assert with_code.startswith(text.replace("Add two numbers.", "Add."))


def test_truncate_parts_policy():
    assert truncate_parts(10, 20, 100) == (10, 20)  # fits: nothing cut
    assert truncate_parts(80, 40, 100) == (60, 40)  # problem cut first
    assert truncate_parts(80, 90, 100) == (50, 50)  # problem keeps half of the budget
    assert truncate_parts(10, 500, 100) == (10, 90)  # short problem kept whole
    with pytest.raises(ValueError, match="budget"):
        truncate_parts(1, 1, 0)


def test_encode_untruncated_is_segment_concatenation(tiny_tokenizer):
    enc = encode_rm_input(tiny_tokenizer, "Sum a list.", "Loop and add.", max_length=512)
    assert not enc.truncated
    ids = enc.input_ids
    assert ids[-1] == tiny_tokenizer.eos_token_id
    assert tiny_tokenizer.decode(ids[:-1]) == rm_input_text("Sum a list.", "Loop and add.")
    assert encode_rm_input(tiny_tokenizer, "Sum a list.", "Loop and add.").input_ids == ids


def test_encode_truncation_keeps_problem_start_and_response_end(tiny_tokenizer):
    statement = "PROBLEM START " + "filler words here " * 200 + " PROBLEM END"
    reasoning = "REASONING START " + "more thinking steps " * 200 + " REASONING END"
    enc = encode_rm_input(tiny_tokenizer, statement, reasoning, code="print(1)", max_length=128)
    assert enc.truncated
    assert len(enc.input_ids) == 128
    assert enc.input_ids[-1] == tiny_tokenizer.eos_token_id
    text = tiny_tokenizer.decode(enc.input_ids)
    assert "PROBLEM START" in text and "PROBLEM END" not in text
    assert "REASONING START" not in text and "print(1)" in text
    assert "### Reasoning" in text  # the header is never cut
