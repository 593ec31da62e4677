"""Held-out evaluation of a toy policy: pass@1 in the sandbox and oracle reasoning quality.

Owns `ToyEval` and `evaluate_policy(model_dir, problems, ...)`: samples `n` responses per
problem (the P-GRPO prompt, temperature as given), runs their code through the same sandbox
executor the pipelines use (pgrpo.bench.execution), and grades each reasoning with the exact
oracle. pass@1 = mean pass rate over all samples; reasoning quality = mean oracle quality.
Also `sample_responses`, reused to hand the policy's own reasoning to the OD editor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pgrpo.data.problem import Problem


@dataclass(frozen=True)
class ToyEval:
    pass_at_1: float
    reasoning_quality: float
    factual: float
    rigor: float
    coherence: float
    format_rate: float
    samples: int


def sample_responses(model_dir: str, problems: Sequence[Problem], n: int, temperature: float = 1.0,
                     max_new_tokens: int = 120, seed: int = 0, batch_size: int = 64) -> list[list[str]]:
    """`n` sampled responses per problem (decoded without special tokens)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pgrpo.data.prompts import render_prompt
    from pgrpo.toy.world import TOY_PROMPT_STYLE

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    rows = [p for p in problems for _ in range(n)]
    texts: list[str] = []
    torch.manual_seed(seed)
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        enc = tokenizer([render_prompt(p, tokenizer, TOY_PROMPT_STYLE) for p in chunk], return_tensors="pt", padding=True,
                        add_special_tokens=False)
        kwargs = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if temperature > 0 \
            else {"do_sample": False}
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id, **kwargs)
        new = out[:, enc["input_ids"].shape[1]:]
        texts += tokenizer.batch_decode(new, skip_special_tokens=True)
    return [texts[i * n:(i + 1) * n] for i in range(len(problems))]


def grade_responses(problems: Sequence[Problem], responses: Sequence[Sequence[str]], executor=None) -> ToyEval:
    from pgrpo.bench.execution import sandbox_executor
    from pgrpo.parsing import parse_response
    from pgrpo.sandbox.programs import program_from_response
    from pgrpo.toy.oracle import grade
    from pgrpo.toy.world import task_of

    executor = executor or sandbox_executor()
    items = [(p, program_from_response(p, t)) for p, texts in zip(problems, responses) for t in texts]
    outcomes = executor(items)
    grades, formats = [], []
    for p, texts in zip(problems, responses):
        task = task_of(p)
        for t in texts:
            parsed = parse_response(t)
            grades.append(grade(task, parsed.reasoning))
            formats.append(parsed.format_ok)
    n = max(1, len(grades))

    def mean(values) -> float:
        return round(sum(values) / n, 4)

    return ToyEval(mean(o.passed for o in outcomes), mean(g.quality for g in grades), mean(g.factual for g in grades),
                   mean(g.rigor for g in grades), mean(g.coherence for g in grades), mean(formats), len(grades))


def evaluate_policy(model_dir: str, problems: Sequence[Problem], n: int = 2, temperature: float = 1.0,
                    seed: int = 0, executor=None) -> ToyEval:
    return grade_responses(problems, sample_responses(model_dir, problems, n, temperature, seed=seed), executor)
