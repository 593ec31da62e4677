"""RM input alignment: the tokens the RM trains on (from `rm pairs` sides) equal the tokens it is
scored on by the RL thinking reward and by `rm eval`, for reasoning-only and with-code layouts,
and the recorded layout (pgrpo_pairs.json -> the RM's manifest) decides what every consumer sends."""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil

import pytest

from pgrpo.data.math import MathProblem
from pgrpo.rewards.batch import RewardEvaluator
from pgrpo.rm.bench_formats import EvalPair
from pgrpo.rm.data import Pair
from pgrpo.rm.evaluate import RewardModelEvaluator
from pgrpo.rm.fitting import tokenize_pairs
from pgrpo.rm.manifest import PairsSpec, read_manifest, training_include_code, write_manifest
from pgrpo.rm.od import build_pairs
from pgrpo.rm.scoring import RewardScorer, RMItem
from pgrpo.rm.template import encode_rm_input
from pgrpo.verify import Verdict

STATEMENT = "Write f(a, b) returning the sum of a and b."
REASONING = "We need the sum, so add the two numbers."
CODE = "def f(a, b):\n    return a + b"
GOOD = f"<think>\n{REASONING}\n</think>\n<answer>\n```python\n{CODE}\n```\n</answer>"
WORSE = GOOD.replace("add the two numbers", "multiply them").replace("a + b", "a * b")


class RecordingScorer:
    """Wraps a RewardScorer and keeps the token ids of every item it was asked to score."""

    def __init__(self, scorer: RewardScorer) -> None:
        self.scorer = scorer
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


@pytest.fixture(scope="module")
def code_scorer(tiny_rm_path, tmp_path_factory):
    """The same RM, its manifest saying it was trained with code."""
    model_dir = tmp_path_factory.mktemp("code-rm") / "rm"
    shutil.copytree(tiny_rm_path, model_dir)
    write_manifest(model_dir, dataclasses.replace(read_manifest(model_dir), include_code=True))
    return RewardScorer(str(model_dir), max_length=256, device="cpu")


def _training_ids(scorer: RewardScorer, include_code: bool) -> list[int]:
    """What `rm train` feeds the model for the chosen side of the pair built from GOOD."""
    raw = build_pairs(STATEMENT, GOOD, {"factual": {"optimized": None, "degraded": WORSE}}, include_code)
    pair = Pair(raw[0]["prompt"], raw[0]["chosen"], raw[0]["rejected"])
    encode = functools.partial(encode_rm_input, scorer.tokenizer)
    dataset, _ = tokenize_pairs([pair], encode, include_code, scorer.max_length)
    return list(dataset[0]["chosen_ids"])


def _rl_ids(scorer: RewardScorer) -> list[int]:
    """What the RL thinking reward sends the RM for the same completion (a passing one)."""
    recording = RecordingScorer(scorer)
    verdict = Verdict(True, "passed", 1.0, True, REASONING, CODE, CODE)
    evaluator = RewardEvaluator({"t": MathProblem("t", STATEMENT, "")}, lambda items: [verdict] * len(items),
                                recording.score, mode="posterior")
    evaluator.evaluate(["t"], [GOOD])
    assert len(recording.seen) == 1
    return recording.seen[0]


def _eval_ids(scorer: RewardScorer) -> list[int]:
    """What `rm eval` scores for an LCB-RB row holding the same (problem, reasoning, code)."""
    recording = RecordingScorer(scorer)
    pair = EvalPair("easy", RMItem(STATEMENT, REASONING, CODE), RMItem(STATEMENT, "Multiply them.", "x"))
    RewardModelEvaluator(recording).compare([pair])
    return recording.seen[0]


def test_reasoning_only_layout_is_the_same_everywhere(scorer):
    assert scorer.manifest.include_code is False
    train_ids = _training_ids(scorer, include_code=False)
    assert train_ids == scorer.encode(RMItem(STATEMENT, REASONING))
    assert train_ids == _rl_ids(scorer) == _eval_ids(scorer)  # the code they were given is dropped
    assert train_ids == scorer.encode(RMItem(STATEMENT, REASONING, CODE))


def test_with_code_layout_is_the_same_everywhere(code_scorer):
    train_ids = _training_ids(code_scorer, include_code=True)
    assert train_ids == code_scorer.encode(RMItem(STATEMENT, REASONING, CODE))
    assert train_ids == _rl_ids(code_scorer) == _eval_ids(code_scorer)
    assert train_ids != _training_ids(code_scorer, include_code=False)  # the flag really changes the input


def test_rm_train_takes_the_pairs_layout(tmp_path):
    pairs_dir = tmp_path / "pairs"
    pairs_dir.mkdir()
    rows = build_pairs(STATEMENT, GOOD, {"factual": {"optimized": None, "degraded": WORSE}}, include_code=True)
    (pairs_dir / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train = str(pairs_dir / "pairs.jsonl")
    include_code, source = training_include_code(train)
    assert include_code is True and "detected" in source  # the sides carry code sections
    PairsSpec(False).write(pairs_dir)
    assert training_include_code(train)[0] is False  # the pairs' own spec wins
    assert training_include_code(train, "true") == (True, "rm train --include-code")
