"""The implicit reward head: encoding, scoring (beta * response log-ratio), training on DPOTrainer."""

from __future__ import annotations

import functools
import json
import math
import os
import shutil

import pytest

from pgrpo.config import ConfigError
from pgrpo.parsing import format_response, parse_response
from pgrpo.rm.implicit import encode_implicit, prompt_text
from pgrpo.rm.manifest import (
    MANIFEST_FILE,
    REFERENCE_DIR,
    ImplicitParams,
    RMManifest,
    read_manifest,
    write_manifest,
)
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


@pytest.mark.parametrize("text", [
    "why" + response_text("", "x = 1")[2:] + "\nThis works.",  # text after the fence
    response_text("why", "x = 1") + "\n```",  # a second fence
    "see ### Code below" + response_text("a", "x = 1"),  # still exact: split
    "### Code\n```python\nx = 1\n```",  # header without its leading blank line
])
def test_split_response_splits_only_exact_code_sections(text):
    reasoning, code = split_response(text)
    if code is None:
        assert reasoning == text.strip()
    assert response_text(reasoning, code) == text.strip()  # never changes the text the scalar head reads


def test_encoding_is_prompt_then_response_tokenized_apart(tiny_tokenizer):
    enc = encode_implicit(tiny_tokenizer, "Add two numbers.", "Step 1: add.", None, "pgrpo")
    prompt = tiny_tokenizer(prompt_text("Add two numbers.", tiny_tokenizer, "pgrpo"), add_special_tokens=False)
    response = tiny_tokenizer(format_response("Step 1: add."), add_special_tokens=False)
    assert enc.input_ids == prompt["input_ids"] + response["input_ids"]
    assert enc.start == len(prompt["input_ids"]) and not enc.truncated


def test_truncation_keeps_the_prompt_start_and_the_response_end(tiny_tokenizer):
    full = encode_implicit(tiny_tokenizer, "word " * 200, "Step: " + "x " * 200 + "END", None, "pgrpo")
    cut = encode_implicit(tiny_tokenizer, "word " * 200, "Step: " + "x " * 200 + "END", None, "pgrpo", max_length=64)
    assert cut.truncated and len(cut.input_ids) == 64  # the whole budget is used
    assert cut.input_ids[:cut.start] == full.input_ids[:cut.start]  # prompt start kept
    assert cut.input_ids[-5:] == full.input_ids[-5:]  # response end kept
    assert cut.start >= 1  # the first response token is always scored from a prompt token


def _implicit_manifest(out, beta=1.0, include_code=False) -> None:
    write_manifest(out, RMManifest("implicit", "tiny-policy", include_code, 2048, implicit=ImplicitParams(beta, "pgrpo")))


def test_manifest_round_trip_and_malformed_files_name_the_file(tmp_path):
    manifest = RMManifest("implicit", "base", True, 512, 10, 2, ImplicitParams(0.5, "toy"))
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    data = json.loads((tmp_path / MANIFEST_FILE).read_text())
    for bad, match in (({**data, "implicit": {"beta": -1, "prompt_style": "toy"}}, "implicit.*beta"),
                       ({**data, "implicit": {"beta": 1, "prompt_style": "no-such-style"}}, "no-such-style"),
                       ({**data, "implicit": {**data["implicit"], "reference": "/abs/ref"}}, "reference"),
                       ({**data, "implicit": None}, "implicit"), ({**data, "include_code": "yes"}, "include_code")):
        (tmp_path / MANIFEST_FILE).write_text(json.dumps(bad))
        with pytest.raises(ConfigError, match=f"{MANIFEST_FILE}.*{match}"):
            read_manifest(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match=MANIFEST_FILE):
        read_manifest(tmp_path)


def test_at_least_one_prompt_token_stays_under_a_tiny_budget(tiny_tokenizer):
    enc = encode_implicit(tiny_tokenizer, "A problem.", "a long reasoning " * 30, None, "pgrpo", max_length=1)
    assert enc.start == 1 and len(enc.input_ids) == 1  # nothing left to score, but no crash
    enc = encode_implicit(tiny_tokenizer, "A problem.", "a long reasoning " * 30, None, "pgrpo", max_length=3)
    assert enc.start == 1 and len(enc.input_ids) == 3


ITEMS = [RMItem("Add two numbers.", "Step 1: add them."), RMItem("Reverse a list.", "Use slicing with a step of -1."),
         RMItem("Sum a list.", "Loop and add.", "def f(xs):\n    return sum(xs)")]


def test_scorer_computes_beta_times_the_response_log_ratio(tmp_path, tiny_policy_path, nudged_implicit_rm):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rm = nudged_implicit_rm(tmp_path / "implicit-rm", tiny_policy_path, max_length=2048)
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
    # a pair side carrying a template code section is read as the item with that code (as trained)
    side = response_text(ITEMS[2].reasoning, ITEMS[2].code)
    chosen = RMItem.from_side(ITEMS[2].statement, side)
    assert scorer.raw_scores([chosen])[0] == pytest.approx(raw[2], abs=1e-4)
    # the scorer itself never cuts a reasoning at a header it happens to contain (RL reasoning)
    assert scorer.raw_scores([RMItem(ITEMS[2].statement, side)])[0] != pytest.approx(raw[2], abs=1e-3)


def test_training_batches_score_the_same_tokens_as_the_scorer(tmp_path, tiny_policy_path):
    # A long prompt makes the two sides' prompt cuts differ: each must keep its own start.
    from transformers import AutoTokenizer

    from pgrpo.rm.data import Pair
    from pgrpo.rm.fitting import collate_sides, tokenize_pairs

    tok = AutoTokenizer.from_pretrained(tiny_policy_path)
    pair = Pair(prompt="word " * 150, chosen="short", rejected="long " * 150)
    data, _ = tokenize_pairs([pair], functools.partial(encode_implicit, tok, style="pgrpo"), False, 256)
    batch = collate_sides([data[0]], tok.pad_token_id)
    for row, side in enumerate((pair.chosen, pair.rejected)):
        enc = encode_implicit(tok, pair.prompt, side, None, "pgrpo", 256)
        n = len(enc.input_ids)
        assert batch["input_ids"][row, :n].tolist() == enc.input_ids
        assert batch["completion_mask"][row].tolist() == [0] * enc.start + [1] * (n - enc.start) + [0] * (
            batch["input_ids"].shape[1] - n)
    assert data[0]["chosen_start"] != data[0]["rejected_start"]


def test_an_untrained_implicit_rm_scores_zero(tmp_path, tiny_policy_path):
    out = tmp_path / "same"
    shutil.copytree(tiny_policy_path, out)
    shutil.copytree(tiny_policy_path, out / REFERENCE_DIR)
    _implicit_manifest(out)
    assert RewardScorer(str(out), device="cpu").raw_scores(ITEMS) == pytest.approx([0.0] * 3, abs=1e-6)


def test_training_batch_and_scorer_compute_the_same_log_ratio(tmp_path, tiny_policy_path, nudged_implicit_rm):
    # collate_sides' completion mask fed to the scorer's kernel gives the scorer's own scores
    import torch

    from pgrpo.rm.data import Pair
    from pgrpo.rm.fitting import collate_sides, tokenize_pairs
    from pgrpo.rm.implicit import response_log_ratio

    rm = nudged_implicit_rm(tmp_path / "implicit-rm", tiny_policy_path, max_length=2048)
    scorer = RewardScorer(str(rm), max_length=96, device="cpu")
    pairs = [Pair(prompt="word " * 60, chosen="short", rejected="long " * 60), Pair(prompt="p", chosen="a", rejected="b")]
    data, _ = tokenize_pairs(pairs, functools.partial(encode_implicit, scorer.tokenizer, style="pgrpo"), False, 96)
    batch = collate_sides([data[0], data[1]], scorer.tokenizer.pad_token_id)
    mask = batch["completion_mask"]
    starts = [int(row.nonzero()[0]) for row in mask]
    lengths = batch["attention_mask"].sum(1).tolist()
    with torch.no_grad():
        ratio = response_log_ratio(scorer.head.model, scorer.head.reference,  # type: ignore[attr-defined]
                                   batch["input_ids"],
                                   batch["attention_mask"], starts, lengths)
    items = [RMItem(p.prompt, getattr(p, side)) for side in ("chosen", "rejected") for p in pairs]
    assert (0.5 * ratio).tolist() == pytest.approx(scorer.raw_scores(items), abs=1e-4)


def test_an_output_dir_of_the_other_head_or_another_base_is_refused(tmp_path, tiny_policy_path):
    from pgrpo.errors import PgrpoError
    from pgrpo.rm.fitting import _save_reference
    from pgrpo.rm.train import _refuse_other_head

    (tmp_path / "scalar" / "checkpoint-5").mkdir(parents=True)  # an unfinished scalar run
    with pytest.raises(PgrpoError, match="head.kind=scalar"):
        _refuse_other_head(tmp_path / "scalar", "implicit")
    _refuse_other_head(tmp_path / "scalar", "scalar")
    (tmp_path / REFERENCE_DIR).mkdir()  # an unfinished implicit run saved its reference first
    with pytest.raises(PgrpoError, match="head.kind=implicit"):
        _refuse_other_head(tmp_path, "scalar")
    _implicit_manifest(tmp_path / "done")  # a finished one says so in its manifest
    with pytest.raises(PgrpoError, match="head.kind=implicit"):
        _refuse_other_head(tmp_path / "done", "scalar")
    out = tmp_path / "rm"
    ref = _save_reference(tiny_policy_path, out, "float32")
    assert (ref / "config.json").is_file() and not (out / "reference.partial").exists()
    assert _save_reference(tiny_policy_path, out, "float32") == ref  # reused for the same base
    with pytest.raises(PgrpoError, match="saved from"):
        _save_reference(str(tmp_path / "another-base"), out, "float32")


def test_a_model_that_is_not_what_its_manifest_says_is_refused(tmp_path, tiny_policy_path):
    from pgrpo.errors import PgrpoError

    with pytest.raises(PgrpoError, match=f"{MANIFEST_FILE}: no reward-model manifest.*pgrpo rm train"):
        RewardScorer(tiny_policy_path, device="cpu")
    out = tmp_path / "lm"
    shutil.copytree(tiny_policy_path, out)
    write_manifest(out, RMManifest("scalar", "base", False, 256))
    with pytest.raises(PgrpoError, match="head=scalar but it holds"):
        RewardScorer(str(out), device="cpu")


def test_a_missing_reference_is_a_named_error(tmp_path, tiny_policy_path):
    from pgrpo.errors import PgrpoError

    out = tmp_path / "noref"
    shutil.copytree(tiny_policy_path, out)
    _implicit_manifest(out)
    with pytest.raises(PgrpoError, match="reference"):
        RewardScorer(str(out), device="cpu")


def test_head_section_errors_name_the_key():
    from pgrpo.config import validate
    from pgrpo.rm.config import RMTrainConfig

    base = {"output_dir": "x", "model": {"tiny": True}, "data": {"train": "p.jsonl"}}
    for extra, key in (({"head": {"beta": 0}}, "head.beta"), ({"head": {"prompt_style": "nope"}}, "head.prompt_style"),
                       ({"head": {"kind": "linear"}}, "head.kind"),
                       ({"head": {"kind": "implicit"}, "data": {"train": "p.jsonl", "use_margin": True}},
                        "data.use_margin"),
                       ({"head": {"kind": "implicit"}, "train": {"center_rewards_coefficient": 0.01}},
                        "train.center_rewards_coefficient")):
        with pytest.raises(ConfigError, match=key):
            validate(RMTrainConfig, {**base, **extra})


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
    assert result.heldout is not None
    assert result.heldout.overall.accuracy >= 0.9, result.heldout  # an untrained implicit RM ties: 0.5
    out = tmp_path / "rm"
    manifest = read_manifest(out)
    assert manifest.implicit == ImplicitParams(0.5, "pgrpo", REFERENCE_DIR) and manifest.head == "implicit"
    assert (manifest.train_pairs, manifest.heldout_pairs, manifest.max_length) == (result.n_train, result.n_heldout, 256)
    assert not (out / "reference.partial").exists()
    # the same output_dir cannot be reused for the other head
    from pgrpo.errors import PgrpoError

    with pytest.raises(PgrpoError, match="head.kind=implicit"):
        train_reward_model(config.model_copy(update={"head": HeadSection()}))
    # self-contained: the directory still scores after the base model is gone
    moved = tmp_path / "moved"
    shutil.move(str(out), moved)
    _, heldout = split_pairs(load_pairs(pairs).pairs, 0.2, config.seed)
    again = evaluate_pairs(RewardScorer(str(moved), max_length=256, device="cpu"), heldout, n_boot=0)
    assert result.heldout is not None and again.overall.accuracy == pytest.approx(result.heldout.overall.accuracy)
