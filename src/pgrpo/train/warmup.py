"""Format warm-up for a freshly built tiny policy (the CPU recipe only).

Owns `format_warmup(model_dir, examples, steps)`: a few supervised steps (loss on response
tokens only) teaching a randomly initialised tiny model the response structure
(`<think>..</think><answer>```python ..```</answer>`) around the training problems'
canonical solutions (a non-solving stub when a problem has none). Why: a random policy never
produces the format or passing code, so every reward is 0, every GRPO advantage is 0 and
nothing trains; after a short warm-up, sampled completions sometimes keep and sometimes
break the structure or the code, so R_f and R_o vary within groups, the RM gate is exercised
and GRPO has a signal in every reward mode. It memorises the answers: plumbing only, never
a benchmark. Saves the model in place; a marker file makes it run once per model dir.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pgrpo.train.tasks import TrainExample

MARKER = "pgrpo_format_warmup.json"


def _short_solution(problem: object) -> str | None:
    """The canonical solution without the statement's docstring (fewer tokens to memorise)."""
    canonical = getattr(problem, "canonical_solution", None)
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
    problem = example.target.payload
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
    rows = []
    for ex in examples:
        prompt_ids = tokenizer(ex.prompt, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(warmup_response(ex), add_special_tokens=False)["input_ids"]
        answer_ids.append(tokenizer.eos_token_id)
        rows.append((prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    # Right padding for training; pads are masked out of attention and loss.
    input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows])
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows])
    attention = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    loss_value = float("nan")
    for _ in range(steps):
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_value = loss.item()
    model.save_pretrained(model_dir)
    (model_dir / MARKER).write_text(json.dumps({"steps": steps, "final_loss": loss_value}), encoding="utf-8")
    return True
