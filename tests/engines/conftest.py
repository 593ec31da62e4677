"""Fixtures of the engine-adapter tests: a served tiny RM on loopback, and a recipe per reward mode
pointing at it (helpers in engine_cases)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engines.engine_cases import write_recipe


@pytest.fixture(scope="session")
def rm_service(tiny_rm_path) -> Iterator[object]:
    """`pgrpo rm serve`'s app over the tiny RM, on loopback; stopped after the session's tests."""
    from pgrpo.rm.scoring import RewardScorer
    from pgrpo.rm.service import BackgroundService

    with BackgroundService(RewardScorer(tiny_rm_path, device="cpu")) as svc:
        yield svc


@pytest.fixture
def recipe_for(tmp_path, rm_service) -> Callable[[str], Path]:
    """mode -> a recipe file for that mode, its RM the session's served one."""
    def make(mode: str) -> Path:
        return write_recipe(tmp_path / f"{mode}.yaml", mode, rm_service.url)
    return make


@pytest.fixture(scope="module")
def exported(tmp_path_factory, rm_service) -> Path:
    """`pgrpo data export --format verl` of the tiny problems, with a recipe whose RM is served."""
    from pgrpo.cli import main

    root = tmp_path_factory.mktemp("verl")
    recipe = write_recipe(root / "recipe.yaml", "posterior", rm_service.url)
    assert main(["data", "export", "--format", "verl", "--recipe", str(recipe), "--out", str(root / "data")]) == 0
    return root / "data"
