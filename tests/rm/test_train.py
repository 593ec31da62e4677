"""`pgrpo rm train` on CPU with a tiny model: learns a learnable preference, saves a scorer-ready RM."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pgrpo.cli import main
from pgrpo.config import ConfigError, load_config
from pgrpo.data.io import read_jsonl, write_jsonl
from pgrpo.rm.config import RMTrainConfig
from pgrpo.rm.data import load_pairs, split_pairs
from pgrpo.rm.manifest import read_manifest
from pgrpo.rm.scoring import RewardScorer, RMItem
from pgrpo.rm.train import evaluate_pairs

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "rm"


def _synthetic(fixtures_dir):
    return os.path.join(fixtures_dir, "rm", "synthetic_pairs.jsonl")


@pytest.mark.slow
def test_tiny_training_learns_and_saves_a_loadable_rm(fixtures_dir, tmp_path, capsys):
    out = tmp_path / "rm"
    code = main(["rm", "train", "--config", str(RECIPES / "tiny-cpu.yaml"), "--train", _synthetic(fixtures_dir),
                 "--out", str(out), "train.epochs=2", "train.logging_steps=20",
                 "train.eval_strategy=never"])
    assert code == 0
    assert '"heldout_accuracy"' in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_heldout"] == 300 and metrics["n_heldout"] == 60
    assert metrics["heldout"]["overall"]["accuracy"] >= 0.8
    assert set(metrics["heldout"]["by_pair_type"]) == {"strong", "degraded", "optimized"}
    assert set(metrics["heldout"]["by_dimension"]) == {"factual", "logic", "coherence"}
    assert list(out.glob("runs/*/events.out.tfevents.*")), "TensorBoard logs missing"
    # The saved model + tokenizer load in the scorer and reproduce the held-out accuracy.
    config = load_config(RMTrainConfig, RECIPES / "tiny-cpu.yaml", [f"data.train={_synthetic(fixtures_dir)}"])
    _, heldout = split_pairs(load_pairs(config.data.train).pairs, config.data.heldout_fraction, config.seed)
    scorer = RewardScorer(str(out), max_length=config.train.max_length)
    again = evaluate_pairs(scorer, heldout, n_boot=0)
    assert again.overall.accuracy == pytest.approx(metrics["heldout"]["overall"]["accuracy"])


@pytest.mark.slow
def test_lora_with_skip_bad(fixtures_dir, tmp_path, capsys):
    rows = read_jsonl(_synthetic(fixtures_dir))[:30]
    data = tmp_path / "pairs.jsonl"
    write_jsonl(data, rows)
    with data.open("a") as handle:
        handle.write('{"prompt": "x", "chosen": "same", "rejected": "same"}\n{"prompt": "y"}\n')
    out = tmp_path / "rm-lora"
    code = main(["rm", "train", "--config", str(RECIPES / "tiny-cpu.yaml"), "--train", str(data), "--out", str(out),
                 "--skip-bad", "lora.enabled=true", "lora.r=4", "train.max_steps=2", "train.eval_strategy=never",
                 "train.report_to=[]"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"skipped: {data}:31: chosen is identical to rejected" in printed
    assert f"skipped: {data}:32: missing field 'chosen'" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_skipped"] == 2 and metrics["n_train"] + metrics["n_heldout"] == 30
    assert not (out / "adapter_config.json").exists()  # LoRA merged into a plain model
    # the input layout is recorded in the manifest every consumer reads (these pairs carry no code)
    assert "RM input: problem + reasoning (detected" in printed
    manifest = read_manifest(out)
    assert (manifest.head, manifest.include_code, manifest.max_length) == ("scalar", False, 256)
    assert manifest.train_pairs == metrics["n_train"] and manifest.heldout_pairs == metrics["n_heldout"]
    scores = RewardScorer(str(out)).score([RMItem(rows[0]["prompt"], rows[0]["chosen"])])
    assert len(scores) == 1 and 0.0 <= scores[0] <= 1.0


def test_malformed_pairs_fail_before_training(fixtures_dir, tmp_path, capsys):
    bad = os.path.join(fixtures_dir, "rm", "bad_pairs.jsonl")
    code = main(["rm", "train", "--config", str(RECIPES / "tiny-cpu.yaml"), "--train", bad,
                 "--out", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert "bad_pairs.jsonl:2: chosen is identical to rejected" in err and "--skip-bad" in err
    assert not (tmp_path / "x" / "model.safetensors").exists()


def test_recipes_validate():
    for recipe in ("tiny-cpu.yaml", "qwen2.5-coder-7b-od.yaml"):
        config = load_config(RMTrainConfig, RECIPES / recipe, ["data.train=pairs.jsonl"])
        assert config.train.max_length >= 256
    big = load_config(RMTrainConfig, RECIPES / "qwen2.5-coder-7b-od.yaml")
    assert big.train.bf16 and big.model.dtype == "bfloat16" and not big.model.tiny
    with pytest.raises(ConfigError, match="train.epoch: unknown key"):
        load_config(RMTrainConfig, RECIPES / "tiny-cpu.yaml", ["train.epoch=3"])
    with pytest.raises(ConfigError, match="model"):
        load_config(RMTrainConfig, None, ["output_dir=x", "data.train=p.jsonl", "model.tiny=false"])


def test_training_inputs_use_the_shared_template_and_margins(tiny_tokenizer):
    import functools

    from pgrpo.rm.data import Pair
    from pgrpo.rm.fitting import tokenize_pairs
    from pgrpo.rm.template import encode_rm_input

    encode = functools.partial(encode_rm_input, tiny_tokenizer)
    pairs = [Pair("Sum a list.", "Loop and add.", "Return 0.", margin=1.5), Pair("Max.", "Use max.", "Use min.")]
    dataset, truncated = tokenize_pairs(pairs, encode, include_code=False, max_length=64, use_margin=True)
    assert truncated == 0 and list(dataset["margin"]) == [1.5, 0.0]
    assert dataset["chosen_ids"][0] == encode_rm_input(tiny_tokenizer, "Sum a list.", "Loop and add.").input_ids
    assert dataset["rejected_ids"][1] == encode_rm_input(tiny_tokenizer, "Max.", "Use min.").input_ids
    long_pairs = [Pair("p " * 200, "c " * 200, "r " * 200)]
    dataset, truncated = tokenize_pairs(long_pairs, encode, include_code=False, max_length=64)
    assert truncated == 2 and "margin" not in dataset.column_names
    assert len(dataset[0]["chosen_ids"]) == len(dataset[0]["rejected_ids"]) == 64
