"""Prompts that fit: the recipe's budget (context - completion), counted with the policy's tokenizer
and chat template; `pgrpo data build-rl --recipe` drops (and reports) longer prompts, prompts at or
under the budget stay; `pgrpo train` refuses a set with any, naming the first few."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.data.schema import problem_to_dict
from pgrpo.errors import DataError
from pgrpo.train.config import load_train_config
from pgrpo.train.tasks import (
    PromptBudget,
    check_prompts_fit,
    code_prompt,
    count_prompt_tokens,
    long_prompts,
    prompt_budget,
    recipe_policy,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes" / "tiny-cpu.yaml"
COMPLETION = 64  # tiny recipe: grpo.max_completion_length


def problem(task_id: str, words: int) -> Problem:
    statement = "Return the sum of a and b. " + " ".join(f"note{i}" for i in range(words))
    asserts = (f"assert add({words}, 2) == {words + 2}",)  # distinct tests: build-rl keeps no duplicates
    return Problem(task_id, statement, Tests(TestKind.ASSERTS, asserts=asserts),
                   entry_point="add", starter_code="def add(a, b):\n", canonical_solution="def add(a, b):\n    return a + b\n")


def test_budget_is_the_generators_context_minus_the_completion():
    model = SimpleNamespace(max_position_embeddings=32768)
    vllm = prompt_budget({"use_vllm": True, "vllm_max_model_length": 5120, "max_completion_length": 4096}, model, "p")
    assert (vllm.max_prompt_tokens, vllm.context_from) == (1024, "grpo.vllm_max_model_length")
    plain = prompt_budget({"use_vllm": False, "vllm_max_model_length": 5120, "max_completion_length": 4096}, model, "p")
    assert plain.max_prompt_tokens == 32768 - 4096 and "max_position_embeddings (p)" in plain.describe()
    assert prompt_budget({"use_vllm": True, "max_completion_length": 96}, model, "p").max_prompt_tokens == 32768 - 96
    with pytest.raises(DataError, match="grpo.max_completion_length: 4096 leaves no room"):
        prompt_budget({"max_completion_length": 4096}, SimpleNamespace(max_position_embeddings=4096), "p")


def test_tokens_are_counted_on_the_rendered_chat_prompt(tiny_tokenizer):
    config = load_train_config(TINY)
    p = problem("a", 3)
    prompt = code_prompt(p, tiny_tokenizer, config.data)
    assert prompt.startswith("<|im_start|>system")  # the chat template the trainer's prompts carry
    [n] = count_prompt_tokens(tiny_tokenizer, [prompt])
    assert n == len(tiny_tokenizer(prompt)["input_ids"]) > len(tiny_tokenizer(p.statement)["input_ids"])


def test_at_the_budget_fits_one_token_over_does_not(tiny_tokenizer):
    prompts = [("short", "a b"), ("long", "a b " * 50)]
    n_long = count_prompt_tokens(tiny_tokenizer, [prompts[1][1]])[0]
    at = PromptBudget(n_long, n_long + COMPLETION, "test", COMPLETION)
    assert long_prompts(prompts, tiny_tokenizer, at) == []
    under = PromptBudget(n_long - 1, n_long - 1 + COMPLETION, "test", COMPLETION)
    assert [(p.task_id, p.tokens) for p in long_prompts(prompts, tiny_tokenizer, under)] == [("long", n_long)]


def test_the_tiny_recipes_policy_is_known_before_it_is_built(tiny_policy_path, tiny_tokenizer):
    from transformers import AutoConfig, AutoTokenizer

    tokenizer, model_config, name = recipe_policy(load_train_config(TINY))
    built = AutoTokenizer.from_pretrained(tiny_policy_path)
    text = code_prompt(problem("a", 5), built, load_train_config(TINY).data)
    assert tokenizer(text)["input_ids"] == built(text)["input_ids"]
    assert model_config.max_position_embeddings == AutoConfig.from_pretrained(tiny_policy_path).max_position_embeddings
    assert "model.build_tiny" in name


def test_training_refuses_a_set_with_long_prompts_naming_the_first_few(tiny_policy_path, tiny_tokenizer):
    config = load_train_config(TINY)
    model_positions = 4096  # pgrpo.tiny's default max_positions
    items = [(f"long/{i}", "word " * (model_positions + i)) for i in range(7)] + [("ok", "fine")]
    with pytest.raises(DataError) as info:
        check_prompts_fit(config, {"max_completion_length": COMPLETION}, tiny_tokenizer, tiny_policy_path, items)
    message = str(info.value)
    assert "7 prompt(s) longer than the budget of 4032 tokens" in message
    assert "long/0 (" in message and "long/4 (" in message and "long/5" not in message and "and 2 more" in message
    assert "pgrpo data build-rl --recipe" in message
    fit = check_prompts_fit(config, {"max_completion_length": COMPLETION}, tiny_tokenizer, tiny_policy_path,
                            [("ok", "fine")])
    assert fit.max_prompt_tokens == model_positions - COMPLETION


def test_build_rl_drops_and_reports_prompts_over_the_recipes_budget(tmp_path, capsys, tiny_tokenizer):
    import pgrpo.cli

    data = load_train_config(TINY).data
    problems = [problem("short", 2), problem("edge", 40), problem("long", 41), problem("longer", 200)]
    counts = dict(zip([p.task_id for p in problems],
                      count_prompt_tokens(tiny_tokenizer, [code_prompt(p, tiny_tokenizer, data) for p in problems])))
    assert counts["short"] < counts["edge"] < counts["long"] < counts["longer"]
    source = tmp_path / "src.jsonl"
    source.write_text("".join(json.dumps(problem_to_dict(p)) + "\n" for p in problems))
    recipe = yaml.safe_load(TINY.read_text())
    recipe["model"]["tiny"] = {"max_positions": counts["edge"] + COMPLETION}  # "edge" is exactly at the budget
    recipe["data"]["source"] = str(source)
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(recipe))

    out = tmp_path / "code-rl.jsonl"
    argv = ["data", "build-rl", "--source", f"pgrpo:{source}", "--out", str(out), "--quiet", "--no-verify",
            "--skip-eval", "all", "--min-tests", "1", "--recipe", str(recipe_path)]
    assert pgrpo.cli.main(argv) == 0
    assert "kept 2 of 4 problems (0 contaminated, 0 duplicate, 2 filtered)" in capsys.readouterr().out
    assert [json.loads(line)["task_id"] for line in out.read_text().splitlines()] == ["short", "edge"]
    report = (tmp_path / "code-rl.report.txt").read_text()
    budget = counts["edge"]
    for name in ("long", "longer"):
        assert (f"removed  {name}  filtered: prompt is {counts[name]} tokens, over the budget of {budget} "
                f"({recipe_path}: {budget} tokens (the policy's max_position_embeddings") in report
    sheet = json.loads((tmp_path / "code-rl.datasheet.json").read_text())
    assert sheet["filtered"] == {"prompt_too_long": 2} and sheet["settings"]["max_prompt_tokens"] == budget

    assert pgrpo.cli.main(argv[:-2] + ["--out", str(tmp_path / "all.jsonl")]) == 0  # no --recipe: nothing measured
    sheet = json.loads((tmp_path / "all.datasheet.json").read_text())
    assert sheet["kept"] == 4 and sheet["settings"]["prompt_budget"] == "prompts not measured (no --recipe)"
