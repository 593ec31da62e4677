"""The `network` marker's rule (tests/conftest.py): a test that needs the package registry skips
when the registry is unreachable, fails instead when CI=true, and runs when it is reachable."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any

import pytest

conftest = importlib.import_module("conftest")  # tests/conftest.py (pytest's pythonpath = tests)


def item(*markers: str) -> Any:
    return SimpleNamespace(get_closest_marker=lambda name: object() if name in markers else None)


def test_offline_network_tests_skip_outside_ci_and_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "registry_host", lambda: None)
    monkeypatch.setenv("PIP_INDEX_URL", "https://registry.invalid/simple")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="registry.invalid.*unreachable"):
        conftest.pytest_runtest_setup(item("network"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true.*must run in CI"):
        conftest.pytest_runtest_setup(item("network"))
    conftest.pytest_runtest_setup(item("slow"))  # unmarked tests never ask


def test_network_tests_run_when_the_registry_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "registry_host", lambda: "pypi.org")
    monkeypatch.setenv("CI", "true")
    conftest.pytest_runtest_setup(item("network"))  # no skip, no failure
