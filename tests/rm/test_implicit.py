"""The implicit reward head: encoding, scoring (beta * response log-ratio), training on DPOTrainer."""

from __future__ import annotations

import json
import math
import os
import shutil

import pytest

from pgrpo.config import ConfigError
from pgrpo.parsing import format_response, parse_response
from pgrpo.rm.implicit import IMPLICIT_SPEC_FILE, REFERENCE_DIR, ImplicitSpec, encode_implicit, prompt_text
from pgrpo.rm.scoring import RewardScorer, RMItem
from pgrpo.rm.template import response_text, split_response


def test_format_response_is_what_parse_response_reads():
    text = format_response("  Step 1: add 2.\n", "def f(x):\n    return x + 2\n")
    parsed = parse_response(text)
    assert parsed.format_ok and parsed.reasoning == "Step 1: add 2." and parsed.code == "def f(x):\n    return x + 2"
    assert format_response("why") == "<think>\nwhy\n</think>"


@pytest.mark.parametrize("reasoning,code", [("a\nb", None), ("a", "def f():\n    return 1"), ("a", "")])
def test_split_response_inverts_response_text(reasoning, code):
    assert split_response(response_text(reasoning, code)) == (reasoning, code)


def test_encoding_is_prompt_then_response_tokenized_apart(tiny_tokenizer):
    enc = encode_implicit(tiny_tokenizer, "Add two numbers.", "Step 1: add.", None, "pgrpo")
    prompt = tiny_tokenizer(prompt_text("Add two numbers.", tiny_tokenizer, "pgrpo"), add_special_tokens=False)
    response = tiny_tokenizer(format_response("Step 1: add."), add_special_tokens=False)
    assert enc.input_ids == prompt["input_ids"] + response["input_ids"]
    assert enc.start == len(prompt["input_ids"]) and not enc.truncated


def test_truncation_keeps_the_prompt_start_and_the_response_end(tiny_tokenizer):
    full = encode_implicit(tiny_tokenizer, "word " * 200, "Step: " + "x " * 200 + "END", None, "pgrpo")
    cut = encode_implicit(tiny_tokenizer, "word " * 200, "Step: " + "x " * 200 + "END", None, "pgrpo", max_length=64)
    assert cut.truncated and len(cut.input_ids) <= 64
    assert cut.input_ids[:cut.start] == full.input_ids[:cut.start]  # prompt start kept
    assert cut.input_ids[-5:] == full.input_ids[-5:]  # response end kept
    assert cut.start >= 1  # the first response token is always scored from a prompt token


def test_spec_round_trip_and_malformed_files_name_the_file(tmp_path):
    ImplicitSpec(0.5, "toy").write(tmp_path)
    assert ImplicitSpec.read(tmp_path) == ImplicitSpec(0.5, "toy", REFERENCE_DIR)
    assert ImplicitSpec.read(tmp_path / "nowhere") is None
    (tmp_path / IMPLICIT_SPEC_FILE).write_text(json.dumps({"beta": -1, "prompt_style": "toy"}))
    with pytest.raises(ConfigError, match=IMPLICIT_SPEC_FILE):
        ImplicitSpec.read(tmp_path)
    (tmp_path / IMPLICIT_SPEC_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match=IMPLICIT_SPEC_FILE):
        ImplicitSpec.read(tmp_path)


def _implicit_rm(tmp_path, policy_path, beta=0.5):
    """An implicit RM directory: the policy with its weights nudged, the original as reference."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "implicit-rm"
    shutil.copytree(policy_path, out / REFERENCE_DIR)
    model = AutoModelForCausalLM.from_pretrained(policy_path)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(policy_path).save_pretrained(out)
    ImplicitSpec(beta, "pgrpo").write(out)
    return out


ITEMS = [RMItem("Add two numbers.", "Step 1: add them."), RMItem("Reverse a list.", "Use slicing with a step of -1."),
         RMItem("Sum a list.", "Loop and add.", "def f(xs):\n    return sum(xs)")]


def test_scorer_computes_beta_times_the_response_log_ratio(tmp_path, tiny_policy_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rm = _implicit_rm(tmp_path, tiny_policy_path)
    scorer = RewardScorer(str(rm), max_length=256, device="cpu")
    raw = scorer.raw_scores(ITEMS)
    tok = AutoTokenizer.from_pretrained(rm)
    policy, reference = AutoModelForCausalLM.from_pretrained(rm), AutoModelForCausalLM.from_pretrained(rm / REFERENCE_DIR)
    for item, value in zip(ITEMS, raw):
        prompt = tok(prompt_text(item.statement, tok, "pgrpo"), add_special_tokens=False)["input_ids"]
        response = tok(format_response(item.reasoning, item.code), add_special_tokens=False)["input_ids"]
        expected = 0.0
        for model, sign in ((policy, 1.0), (reference, -1.0)):
            with torch.no_grad():
                logps = model(torch.tensor([prompt + response])).logits[0].log_softmax(-1)
            expected += sign * sum(logps[len(prompt) + j - 1, t].item() for j, t in enumerate(response))
        assert value == pytest.approx(0.5 * expected, abs=1e-3)
    assert len({round(v, 4) for v in raw}) == 3  # the nudged policy really differs from its reference
    # batched (padded, longest first) equals one at a time, and `score` is the sigmoid
    assert [scorer.raw_scores([i])[0] for i in ITEMS] == pytest.approx(raw, abs=1e-4)
    assert scorer.score(ITEMS) == pytest.approx([1 / (1 + math.exp(-v)) for v in raw])


def test_an_untrained_implicit_rm_scores_zero(tmp_path, tiny_policy_path):
    out = tmp_path / "same"
    shutil.copytree(tiny_policy_path, out)
    shutil.copytree(tiny_policy_path, out / REFERENCE_DIR)
    ImplicitSpec(1.0, "pgrpo").write(out)
    assert RewardScorer(str(out), device="cpu").raw_scores(ITEMS) == pytest.approx([0.0] * 3, abs=1e-6)


def test_a_missing_reference_is_a_named_error(tmp_path, tiny_policy_path):
    from pgrpo.errors import PgrpoError

    out = tmp_path / "noref"
    shutil.copytree(tiny_policy_path, out)
    ImplicitSpec(1.0, "pgrpo").write(out)
    with pytest.raises(PgrpoError, match="reference"):
        RewardScorer(str(out), device="cpu")


def test_head_section_errors_name_the_key(fixtures_dir):
    from pgrpo.config import build_dataclass
    from pgrpo.rm.config import RMTrainConfig

    base = {"output_dir": "x", "model": {"tiny": True}, "data": {"train": "p.jsonl"}}
    for head, key in (({"beta": 0}, "head.beta"), ({"prompt_style": "nope"}, "head.prompt_style"),
                      ({"kind": "linear"}, "head.kind")):
        with pytest.raises(ConfigError, match=key):
            build_dataclass(RMTrainConfig, {**base, "head": head})


@pytest.mark.slow
def test_training_learns_and_saves_a_self_contained_implicit_rm(fixtures_dir, tmp_path, tiny_policy_path):
    from pgrpo.data.io import read_jsonl
    from pgrpo.rm.config import DataSection, HeadSection, ModelSection, RMTrainConfig, TrainSection
    from pgrpo.rm.data import load_pairs, split_pairs
    from pgrpo.rm.train import evaluate_pairs, train_reward_model

    pairs = os.path.join(fixtures_dir, "rm", "synthetic_pairs.jsonl")
    config = RMTrainConfig(
        output_dir=str(tmp_path / "rm"), model=ModelSection(path=tiny_policy_path),
        data=DataSection(train=pairs, heldout_fraction=0.2),
        train=TrainSection(epochs=3, learning_rate=1e-3, batch_size=16, max_length=256, logging_steps=5,
                           eval_strategy="never", report_to=[], save_steps=1000),
        head=HeadSection(kind="implicit", beta=0.5, prompt_style="pgrpo"))
    result = train_reward_model(config)
    assert result.n_train + result.n_heldout == len(read_jsonl(pairs))
    assert result.heldout.overall.accuracy >= 0.9, result.heldout  # an untrained implicit RM ties: 0.5
    out = tmp_path / "rm"
    assert ImplicitSpec.read(out) == ImplicitSpec(0.5, "pgrpo")
    # self-contained: the directory still scores after the base model is gone
    moved = tmp_path / "moved"
    shutil.move(str(out), moved)
    _, heldout = split_pairs(load_pairs(pairs).pairs, 0.2, config.seed)
    again = evaluate_pairs(RewardScorer(str(moved), max_length=256, device="cpu"), heldout, n_boot=0)
    assert again.overall.accuracy == pytest.approx(result.heldout.overall.accuracy)


def test_pair_margins_are_refused_by_the_implicit_head(fixtures_dir, tmp_path, tiny_policy_path):
    from pgrpo.errors import PgrpoError
    from pgrpo.rm.config import DataSection, HeadSection, ModelSection, RMTrainConfig, TrainSection
    from pgrpo.rm.train import train_reward_model

    config = RMTrainConfig(
        output_dir=str(tmp_path / "rm"), model=ModelSection(path=tiny_policy_path),
        data=DataSection(train=os.path.join(fixtures_dir, "rm", "synthetic_pairs.jsonl"), use_margin=True),
        train=TrainSection(max_steps=1, report_to=[]), head=HeadSection(kind="implicit"))
    with pytest.raises(PgrpoError, match="data.use_margin"):
        train_reward_model(config)
