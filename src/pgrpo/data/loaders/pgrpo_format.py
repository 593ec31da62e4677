"""pgrpo's own JSONL format -> Problem (the output of `pgrpo data convert`).

Owns the `pgrpo` loader; the format itself (to/from dict, JSON schema) lives in
pgrpo.data.schema and is documented in docs/problem-format.md.
"""

from __future__ import annotations

from pgrpo.data.loaders.base import LoadOptions, Record, loader
from pgrpo.data.problem import Problem
from pgrpo.data.schema import problem_from_dict


def _detect(keys: frozenset[str]) -> bool:
    return {"task_id", "statement", "tests"} <= keys


@loader("pgrpo", "pgrpo's own JSONL problem format (docs/problem-format.md)", _detect, priority=100)
def convert_pgrpo(record: Record, options: LoadOptions) -> Problem:
    return problem_from_dict(dict(record.data), where=record.where)
