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
