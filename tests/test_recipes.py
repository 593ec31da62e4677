"""Every shipped recipe validates from any working directory once the earlier stages' outputs
exist (fixtures stand in for them), and recipe paths are relative to the recipe file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgrpo.cli import main
from pgrpo.config import load_config
from pgrpo.rm.config import RMTrainConfig
from pgrpo.train.config import load_train_config, validate_train_config

ROOT = Path(__file__).resolve().parents[1]
TRAIN_RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
RM_RECIPES = sorted((ROOT / "recipes" / "rm").glob("*.yaml"))


@pytest.mark.parametrize("recipe", TRAIN_RECIPES, ids=lambda p: p.name)
def test_every_training_recipe_checks_from_any_directory(recipe_project, recipe, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # neither the repository nor the recipe's directory
    assert main(["train", "--config", str(recipe_project / "recipes" / recipe.name), "--check"]) == 0
    assert capsys.readouterr().out.strip().endswith(": OK")


@pytest.mark.parametrize("recipe", RM_RECIPES, ids=lambda p: p.name)
def test_every_rm_recipe_checks_from_any_directory(recipe_project, recipe, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["rm", "train", "--config", str(recipe_project / "recipes" / "rm" / recipe.name), "--check"]) == 0
    assert capsys.readouterr().out.strip().endswith(": OK")


@pytest.mark.parametrize("recipe", RM_RECIPES, ids=lambda p: p.name)
def test_rm_recipes_resolve_their_paths_against_the_recipe(recipe):
    config = load_config(RMTrainConfig, recipe)
    assert Path(config.output_dir).resolve().is_relative_to(ROOT / "runs")
    if "tiny" in recipe.name:
        assert Path(config.data.train).is_file()


def test_rl_recipes_read_the_rm_the_rm_recipe_writes():
    written = Path(load_config(RMTrainConfig, ROOT / "recipes" / "rm" / "qwen2.5-coder-7b-od.yaml").output_dir)
    for recipe in TRAIN_RECIPES:
        config = load_train_config(recipe)
        if "coder" in recipe.name and config.reward.rm_path is not None:
            assert Path(config.reward.rm_path).resolve() == written.resolve(), recipe.name


def test_recipe_paths_are_relative_to_the_recipe_and_overrides_to_the_cwd(tmp_path, monkeypatch):
    recipes = tmp_path / "somewhere" / "recipes"
    recipes.mkdir(parents=True)
    (recipes / "r.yaml").write_text("output_dir: ../runs/x\ndata:\n  source: data/p.jsonl\n"
                                    "model:\n  path: Qwen/Qwen2.5-Coder-7B-Instruct\n")
    monkeypatch.chdir(tmp_path)
    config = load_train_config(recipes / "r.yaml")
    assert Path(config.output_dir) == tmp_path / "somewhere" / "runs" / "x"
    assert Path(config.data.source) == recipes / "data" / "p.jsonl"
    assert config.model.path == "Qwen/Qwen2.5-Coder-7B-Instruct"  # a hub id is left alone
    overridden = load_train_config(recipes / "r.yaml", ["output_dir=runs/y", "data.source=mine.jsonl"])
    assert (overridden.output_dir, overridden.data.source) == ("runs/y", "mine.jsonl")


def test_a_missing_earlier_stage_output_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception, match="code-rl.jsonl"):
        validate_train_config(load_train_config(ROOT / "recipes" / "qwen2.5-coder-7b-pgrpo.yaml"))
