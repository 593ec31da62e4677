"""`parse_date`: the one ISO-date reader (contest dates, load options, --lcb-window)."""

from __future__ import annotations

import datetime as dt

import pytest

from pgrpo.data.problem import parse_date
from pgrpo.errors import DataError

MAY_1 = dt.date(2024, 5, 1)


@pytest.mark.parametrize("value", ["2024-05-01", " 2024-05-01T13:00:00Z ", "2024-05-01T13:00:00+00:00",
                                   dt.datetime(2024, 5, 1, 13), MAY_1, 1714561200000])
def test_accepted_forms(value):
    assert parse_date(value, "contest_date") == MAY_1


def test_empty_is_none_and_errors_name_the_field():
    assert parse_date(None, "d") is None and parse_date("", "d") is None
    with pytest.raises(DataError, match=r"^f.jsonl:3: field 'contest_date' is not an ISO date \(YYYY-MM-DD\): 'May 1st'$"):
        parse_date("May 1st", "contest_date", "f.jsonl:3")
    with pytest.raises(DataError, match="field 'start' is not an ISO date"):
        parse_date(True, "start")
