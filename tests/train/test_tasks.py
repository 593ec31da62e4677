"""Training tasks: problems -> prompts + reward targets -> the HF dataset TRL reads."""

from __future__ import annotations

import os

import pytest

from pgrpo.data.math import MathProblem
from pgrpo.data.problem import Problem
from pgrpo.errors import DataError
from pgrpo.train.config import load_train_config
from pgrpo.train.tasks import load_examples, load_targets, make_verifier, to_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "recipes", "tiny-cpu.yaml")
TINY_DATA = os.path.join(ROOT, "recipes", "data", "tiny-humaneval.jsonl")


def test_code_examples_and_dataset(tiny_tokenizer, tmp_path):
    config = load_train_config(TINY, [f"output_dir={tmp_path}", f"data.source={TINY_DATA}"])
    examples = load_examples(config, tiny_tokenizer)
    assert len(examples) == 8
    ex = examples[0]
    assert isinstance(ex.task, Problem)
    assert ex.task_id == "TinyEval/0" and ex.task.entry_point == "add"
    assert "<|im_start|>assistant" in ex.prompt and "def add(a, b)" in ex.prompt
    ds = to_dataset(examples)
    assert ds.column_names == ["prompt", "task_id"] and ds[0]["task_id"] == "TinyEval/0"


@pytest.mark.sandbox
def test_think_prefill_reaches_prompt_and_verifier(tiny_tokenizer, tmp_path):
    config = load_train_config(TINY, [f"output_dir={tmp_path}", f"data.source={TINY_DATA}",
                                      "data.think_prefilled=true", "sandbox.workers=1"])
    examples = load_examples(config, tiny_tokenizer)
    assert examples[0].prompt.endswith("<think>\n")
    completion = "x</think>\n<answer>\n```python\ndef add(a, b):\n    return a + b\n```\n</answer>"
    with make_verifier(config) as verifier:
        verdict, = verifier([(examples[0].task, completion)])
    assert verdict.format_ok and verdict.passed and verdict.reasoning == "x"


def test_math_examples_and_outcome(tiny_tokenizer, tmp_path, fixtures_dir):
    source = os.path.join(fixtures_dir, "train", "math.jsonl")
    config = load_train_config(TINY, [f"output_dir={tmp_path}", "task=math", f"data.source={source}"])
    examples = load_examples(config, tiny_tokenizer)
    assert [e.task_id for e in examples] == ["m/1", "m/2"]
    assert isinstance(examples[1].task, MathProblem)
    assert "\\boxed" in examples[0].prompt and examples[1].task.answer == "\\frac{1}{2}"
    with make_verifier(config) as verifier:
        results = verifier([(e.task, text) for e, text in zip(examples, [
            "<think>a</think><answer>\\boxed{5}</answer>", "<think>a</think><answer>\\boxed{2}</answer>"])])
    assert [r.passed for r in results] == [True, False]


def test_duplicate_ids_rejected(tiny_tokenizer, tmp_path):
    data = tmp_path / "dup.jsonl"
    line = open(TINY_DATA).readline()
    data.write_text(line + line)
    config = load_train_config(TINY, [f"output_dir={tmp_path}", f"data.source={data}"])
    with pytest.raises(DataError, match="duplicate task.id 'TinyEval/0'"):
        load_examples(config, tiny_tokenizer)


@pytest.mark.parametrize("task", ["code", "math"])
def test_targets_without_a_tokenizer_are_the_training_targets(tiny_tokenizer, tmp_path, fixtures_dir, task):
    """pgrpo.engines.PosteriorReward scores with `load_targets`, pgrpo train with `load_examples`'s
    targets: the same problems, ids and targets, so the two score a completion alike."""
    source = TINY_DATA if task == "code" else os.path.join(fixtures_dir, "train", "math.jsonl")
    config = load_train_config(TINY, [f"output_dir={tmp_path}", f"task={task}", f"data.source={source}"])
    targets = load_targets(config)
    assert targets == {e.task_id: e.task for e in load_examples(config, tiny_tokenizer)}
    assert len(targets) == (8 if task == "code" else 2)
