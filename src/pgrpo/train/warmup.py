"""Format warm-up for a freshly built tiny policy (the CPU recipe only).

Owns `format_warmup(model_dir, examples, steps)`: a few supervised steps (loss on response
tokens only) teaching a randomly initialised tiny model the response *structure*
(`<think>..</think><answer>```python ..```</answer>`) with a placeholder solution that does
not solve the problem. Why: a random policy never produces the format, so every reward is
0, every GRPO advantage is 0 and nothing trains; after the warm-up sampled completions
sometimes keep and sometimes break the structure, so R_f (and, through it, the gated terms)
varies within groups and GRPO has a signal in every reward mode. It teaches no solutions,
so R_o stays honest. Saves the model in place; a marker file makes it run once per model dir.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pgrpo.train.tasks import TrainExample

MARKER = "pgrpo_format_warmup.json"


def placeholder_response(example: TrainExample) -> str:
    """A well-formatted response with short reasoning and a stub (non-solving) program."""
    entry = getattr(example.target.payload, "entry_point", "") or "solve"
    return (f"<think>\nI will write {entry}.\n</think>\n<answer>\n```python\n"
            f"def {entry}(*args):\n    return None\n```\n</answer>")


def format_warmup(model_dir: str | Path, examples: Sequence[TrainExample], steps: int, *,
                  lr: float = 3e-3, seed: int = 0) -> bool:
    """Fine-tune the model in `model_dir` for `steps` steps on placeholder responses; False if already done."""
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
        answer_ids = tokenizer(placeholder_response(ex), add_special_tokens=False)["input_ids"]
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
        loss_value = float(loss)
    model.save_pretrained(model_dir)
    (model_dir / MARKER).write_text(json.dumps({"steps": steps, "final_loss": loss_value}), encoding="utf-8")
    return True
