"""`pgrpo data export --format verl` (needs pyarrow, not verl): the parquet has verl's RL layout
(chat-message prompts, the task id as ground truth and in extra_info), its rows score through
compute_score with the verdicts of the original problems (the round trip), and a prompt that
would have to end inside the assistant's turn is refused, naming the key."""

from __future__ import annotations

import pandas as pd
import pytest

from engines.engine_cases import TINY_DATA, batch, reference, write_recipe
from pgrpo.cli import main
from pgrpo.engines.verl import compute_score_batch


def test_the_exported_parquet_round_trips_with_the_original_verdicts(exported, rm_service, tmp_path):
    rows = pd.read_parquet(exported / "train.parquet")
    assert list(rows.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    assert all(r["reward_model"]["ground_truth"] == r["extra_info"]["task_id"] for _, r in rows.iterrows())
    assert [m["role"] for m in rows.iloc[0]["prompt"]] == ["system", "user"]
    ids, texts = batch()
    by_id = {r["extra_info"]["task_id"]: r for _, r in rows.iterrows()}
    got = compute_score_batch([by_id[t]["data_source"] for t in ids], texts,
                              [by_id[t]["reward_model"]["ground_truth"] for t in ids],
                              [dict(by_id[t]["extra_info"]) for t in ids],
                              recipe=str(exported / "reward_recipe.yaml"), overrides=["reward.mode=outcome"])
    original = write_recipe(tmp_path / "orig.yaml", "outcome", None)  # the problems as first loaded
    want = reference(original, ids, texts)
    assert [(g["format"], g["outcome"], g["pass_fraction"]) for g in got] == \
        [(w.format, w.outcome, w.pass_fraction) for w in want]
    with pytest.raises(ValueError, match="no extra_info.task_id"):
        compute_score_batch(["x"], ["y"], [None], [{}], recipe=str(exported / "reward_recipe.yaml"))


def test_a_think_prefilled_recipe_is_refused(tmp_path, capsys):
    recipe = write_recipe(tmp_path / "r.yaml", "outcome", None)
    code = main(["data", "export", "--format", "verl", "--recipe", str(recipe), "--out", str(tmp_path / "o"),
                 "data.think_prefilled=true", f"data.source={TINY_DATA}"])
    assert code == 2 and "data.think_prefilled" in capsys.readouterr().err
