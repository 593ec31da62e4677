"""Fixtures for the data tests: fixture-file paths and LiveCodeBench payload builders."""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "data"


def fixture(name: str) -> str:
    return str(FIXTURES / name)


def compress(obj: object) -> str:
    """LiveCodeBench's private-test encoding: pickle -> zlib -> base64."""
    return base64.b64encode(zlib.compress(pickle.dumps(obj))).decode("ascii")


def lcb_row(question_id: str = "q1", **overrides: object) -> dict:
    row: dict[str, object] = {
        "question_title": "t", "question_content": "Print 1.", "platform": "atcoder",
        "question_id": question_id, "contest_id": "abc1", "contest_date": "2024-02-03T00:00:00",
        "starter_code": "", "difficulty": "easy",
        "public_test_cases": json.dumps([{"input": "", "output": "1\n", "testtype": "stdin"}]),
        "private_test_cases": compress(json.dumps([])), "metadata": "{}",
    }
    row.update(overrides)
    return row


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def data_file():
    """`data_file("x.jsonl")` -> path of tests/fixtures/data/x.jsonl."""
    return fixture


@pytest.fixture(scope="session")
def lcb():
    """Builders for LiveCodeBench rows: `.row(...)`, `.compress(obj)`, `.write(path, rows)`."""
    class Builders:
        row = staticmethod(lcb_row)
        compress = staticmethod(compress)
        write = staticmethod(write_jsonl)

    return Builders


@pytest.fixture
def cli():
    """`pgrpo.cli.main`."""
    import pgrpo.cli

    return pgrpo.cli.main
