"""RM input alignment: the tokens the RM trains on (from `rm pairs` sides) equal the tokens it is
scored on by the RL thinking reward and by `rm eval`, for reasoning-only and with-code layouts,
and the recorded layout (pgrpo_pairs.json -> pgrpo_rm.json -> reward.rm_include_code) is enforced."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest

from pgrpo.config import ConfigError
from pgrpo.rewards.batch import Outcome, RewardEvaluator, Target
from pgrpo.rewards.outcomes import rm_include_code, rm_thinking_fn
from pgrpo.rm.benchmarks import EvalPair
from pgrpo.rm.data import Pair
from pgrpo.rm.evaluate import RewardModelEvaluator
from pgrpo.rm.pairs import PAIRS_META_FILE, RM_META_FILE, RMInputMeta, build_pairs, read_rm_meta
from pgrpo.rm.scoring import RewardScorer, RMItem
from pgrpo.rm.train import _tokenize_pairs, train_input_meta

STATEMENT = "Write f(a, b) returning the sum of a and b."
REASONING = "We need the sum, so add the two numbers."
CODE = "def f(a, b):\n    return a + b"
GOOD = f"<think>\n{REASONING}\n</think>\n<answer>\n```python\n{CODE}\n```\n</answer>"
WORSE = GOOD.replace("add the two numbers", "multiply them").replace("a + b", "a * b")


class RecordingScorer:
    """Wraps a RewardScorer and keeps the token ids of every item it was asked to score."""

    def __init__(self, scorer: RewardScorer) -> None:
        self.scorer = scorer
        self.model = scorer.model
        self.seen: list[list[int]] = []

    def score(self, items):
        self.seen += [self.scorer.encode(item) for item in items]
        return self.scorer.score(items)

    def raw_scores(self, items):
        self.seen += [self.scorer.encode(item) for item in items]
        return self.scorer.raw_scores(items)


@pytest.fixture(scope="module")
def scorer(tiny_rm_path):
    return RewardScorer(tiny_rm_path, max_length=256, device="cpu")


def _training_ids(scorer: RewardScorer, include_code: bool) -> list[int]:
    """What `rm train` feeds the model for the chosen side of the pair built from GOOD."""
    raw = build_pairs(STATEMENT, GOOD, {"factual": {"optimized": None, "degraded": WORSE}}, include_code)
    pair = Pair(raw[0]["prompt"], raw[0]["chosen"], raw[0]["rejected"])
    dataset, _ = _tokenize_pairs(scorer.tokenizer, [pair], scorer.max_length, False)
    return list(dataset[0]["chosen_ids"])


def _rl_ids(scorer: RewardScorer, include_code: bool | None) -> list[int]:
    """What the RL thinking reward sends the RM for the same completion (a passing one)."""
    recording = RecordingScorer(scorer)
    evaluator = RewardEvaluator({"t": Target("t", STATEMENT, None)},
                                lambda targets, texts: [Outcome(True, 1.0)] * len(texts),
                                rm_thinking_fn(recording, include_code), mode="posterior")
    evaluator.evaluate(["t"], [GOOD])
    assert len(recording.seen) == 1
    return recording.seen[0]


def _eval_ids(scorer: RewardScorer, include_code: bool | None) -> list[int]:
    """What `rm eval` scores for an LCB-RB row holding the same (problem, reasoning, code)."""
    recording = RecordingScorer(scorer)
    pair = EvalPair("easy", RMItem(STATEMENT, REASONING, CODE), RMItem(STATEMENT, "Multiply them.", "x"))
    RewardModelEvaluator(recording, include_code).compare([pair])
    return recording.seen[0]


def test_reasoning_only_layout_is_the_same_everywhere(scorer):
    train_ids = _training_ids(scorer, include_code=False)
    assert train_ids == scorer.encode(RMItem(STATEMENT, REASONING))
    assert train_ids == _rl_ids(scorer, include_code=False)
    assert train_ids == _rl_ids(scorer, include_code=None)  # no pgrpo_rm.json: reasoning only
    assert train_ids == _eval_ids(scorer, include_code=False)


def test_with_code_layout_is_the_same_everywhere(scorer):
    train_ids = _training_ids(scorer, include_code=True)
    assert train_ids == scorer.encode(RMItem(STATEMENT, REASONING, CODE))
    assert train_ids == _rl_ids(scorer, include_code=True)
    assert train_ids == _eval_ids(scorer, include_code=None)  # LCB-RB rows carry code
    assert train_ids != _training_ids(scorer, include_code=False)  # the flag really changes the input


def test_rl_side_reads_the_layout_recorded_with_the_rm(tiny_rm_path, tmp_path):
    model_dir = tmp_path / "rm"
    shutil.copytree(tiny_rm_path, model_dir)
    assert read_rm_meta(model_dir) is None
    RMInputMeta(True, "test").write(model_dir / RM_META_FILE)
    scorer = RewardScorer(str(model_dir), max_length=256, device="cpu")
    assert rm_include_code(scorer) is True
    assert _rl_ids(scorer, include_code=None) == scorer.encode(RMItem(STATEMENT, REASONING, CODE))


def test_rm_train_records_the_pairs_layout(tmp_path):
    pairs_dir = tmp_path / "pairs"
    pairs_dir.mkdir()
    rows = build_pairs(STATEMENT, GOOD, {"factual": {"optimized": None, "degraded": WORSE}}, include_code=True)
    (pairs_dir / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train = str(pairs_dir / "pairs.jsonl")
    assert train_input_meta(train).include_code is True  # detected: the sides carry code sections
    assert "detected" in train_input_meta(train).source
    RMInputMeta(False, "pgrpo rm pairs").write(pairs_dir / PAIRS_META_FILE)
    assert train_input_meta(train).include_code is False  # the pairs' own metadata wins
    assert train_input_meta(train, "true") == RMInputMeta(True, "rm train --include-code")


def test_training_config_must_match_the_rm(tiny_rm_path, tmp_path):
    from pgrpo.train.config import RewardSection, _validate_reward

    model_dir = tmp_path / "rm"
    shutil.copytree(tiny_rm_path, model_dir)
    with pytest.warns(UserWarning, match="no pgrpo_rm.json"):
        _validate_reward(RewardSection(rm_path=str(model_dir)), check_paths=True)
    RMInputMeta(True, "test").write(model_dir / RM_META_FILE)
    with pytest.raises(ConfigError, match="reward.rm_include_code: False, but the RM"):
        _validate_reward(RewardSection(rm_path=str(model_dir)), check_paths=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _validate_reward(RewardSection(rm_path=str(model_dir), rm_include_code=True), check_paths=True)
    (model_dir / RM_META_FILE).write_text("{}")
    with pytest.raises(ConfigError, match="pgrpo_rm.json: expected"):
        _validate_reward(RewardSection(rm_path=str(model_dir), rm_include_code=True), check_paths=True)
