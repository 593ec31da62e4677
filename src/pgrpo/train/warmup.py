"""Supervised fine-tuning of tiny CPU policies: the SFT loop and the format warm-up.

A random tiny policy never produces the format or passing code, so every reward and advantage is 0;
`format_warmup` teaches it the response structure around canonical solutions so rewards vary within
groups. It memorises answers: plumbing only. A marker file makes it run once per model dir.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pgrpo.train.tasks import TrainExample

MARKER = "pgrpo_format_warmup.json"
# One training sequence: (prompt + response + eos token ids, number of prompt tokens).
Encoded = tuple[list[int], int]


def encode_example(tokenizer: Any, prompt: str, response: str) -> Encoded:
    """`prompt` (already rendered) and `response` tokenized without special tokens, plus eos."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    return prompt_ids + answer_ids + [tokenizer.eos_token_id], len(prompt_ids)


def sft_loss(model: Any, batch: Sequence[Encoded], pad_id: int) -> Any:
    """The causal-LM loss of one batch of encoded rows, on response tokens only: rows right-padded
    with `pad_id`, pads masked out of attention and loss. A caller's own loop backpropagates it."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, (seq, n_prompt) in enumerate(batch):
        ids[r, :len(seq)] = torch.tensor(seq)
        labels[r, n_prompt:len(seq)] = torch.tensor(seq[n_prompt:])
        mask[r, :len(seq)] = 1
    return model(input_ids=ids, attention_mask=mask, labels=labels).loss


def fine_tune(model: Any, rows: Sequence[Encoded], pad_id: int, *, steps: int, learning_rate: float) -> list[float]:
    """Train `model` in place for `steps` full-batch AdamW steps at `learning_rate`; returns the loss
    of each step."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        loss = sft_loss(model, rows, pad_id)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def _short_solution(problem: object) -> str | None:
    """The canonical solution without the statement's docstring (fewer tokens to memorise)."""
    canonical: str | None = getattr(problem, "canonical_solution", None)
    starter = getattr(problem, "starter_code", "") or ""
    entry = getattr(problem, "entry_point", "") or ""
    if not canonical:
        return None
    if starter and entry and canonical.startswith(starter):
        lines = starter.splitlines()
        header = [line for line in lines if line.lstrip().startswith(f"def {entry}(")]
        if header:
            head = lines[: lines.index(header[0]) + 1]
            return "\n".join(head) + "\n" + canonical[len(starter):].strip("\n")
    return canonical.strip("\n")


def warmup_response(example: TrainExample) -> str:
    """A well-formatted response: short reasoning, then the canonical solution when the problem
    has one (so some sampled completions can pass), else a stub that does not solve it."""
    problem = example.task
    entry = getattr(problem, "entry_point", "") or "solve"
    code = _short_solution(problem) or f"def {entry}(*args):\n    return None"
    return f"<think>\nI will write {entry}.\n</think>\n<answer>\n```python\n{code}\n```\n</answer>"


def format_warmup(model_dir: str | Path, examples: Sequence[TrainExample], steps: int, *,
                  lr: float = 5e-3, seed: int = 0) -> bool:
    """Fine-tune the model in `model_dir` for `steps` full-batch steps on formatted responses to
    the examples' prompts; returns False (and does nothing) if this dir was already warmed up."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    if steps <= 0 or (model_dir / MARKER).is_file():
        return False
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    rows = [encode_example(tokenizer, ex.prompt, warmup_response(ex)) for ex in examples]
    losses = fine_tune(model, rows, tokenizer.pad_token_id, steps=steps, learning_rate=lr)
    model.save_pretrained(model_dir)
    (model_dir / MARKER).write_text(json.dumps({"steps": steps, "final_loss": losses[-1]}), encoding="utf-8")
    return True
