"""`pgrpo.paths`: the one rule deciding between a local path and a hub id, and recipe-relative paths."""

from __future__ import annotations

import pytest

from pgrpo.paths import is_local_path


@pytest.mark.parametrize("source", [
    "./ckpt", "../x", "/abs/x", "~/x", "runs/a/final", "data/train/code-rl.jsonl", "problems.jsonl",
    "org/rows.parquet", "x.json.gz", "Config.YAML",
])
def test_paths_are_local(source):
    assert is_local_path(source)


@pytest.mark.parametrize("source", ["Qwen/Qwen2.5-Coder-7B-Instruct", "google-research-datasets/mbpp", "gpt2"])
def test_hub_ids_are_not(source):
    assert not is_local_path(source)


def test_an_existing_path_is_local_whatever_its_shape(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "name").mkdir(parents=True)
    (tmp_path / "gpt2").mkdir()
    assert is_local_path("org/name") and is_local_path("gpt2")


def test_recipe_paths_resolve_against_the_recipe_directory(tmp_path, monkeypatch):
    from pgrpo.paths import resolve_recipe_path

    recipes = tmp_path / "recipes"
    (recipes / "runs" / "rm-od-7b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path.parent)  # the working directory plays no part
    assert resolve_recipe_path("../runs/x", recipes) == str(tmp_path / "runs" / "x")
    assert resolve_recipe_path("data/train/code-rl.jsonl", recipes) == str(recipes / "data/train/code-rl.jsonl")
    # "dir/name" is a hub id unless it exists next to the recipe
    assert resolve_recipe_path("runs/rm-od-7b", recipes) == str(recipes / "runs" / "rm-od-7b")
    assert resolve_recipe_path("Qwen/Qwen2.5-Coder-7B", recipes) == "Qwen/Qwen2.5-Coder-7B"
    assert resolve_recipe_path("out", recipes, always_local=True) == str(recipes / "out")
    assert resolve_recipe_path("~/runs/x", recipes) == str(tmp_path.home() / "runs" / "x")
    assert resolve_recipe_path("/abs/x", recipes) == "/abs/x"
