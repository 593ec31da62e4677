"""Supervised fine-tuning of tiny CPU policies: the one SFT loop and the format warm-up.

Owns `encode_example` / `fine_tune`, the causal-LM loop (loss on response tokens only; at this
size a trainer adds only overhead; public as `pgrpo.train.fine_tune` for a caller's own rows,
batches and schedule), and `format_warmup(model_dir, examples, steps)` (the CPU recipe only): full-batch steps
teaching a randomly initialised tiny model the response structure (`<think>..</think><answer>
```python ..```</answer>`) around the training problems' canonical solutions (a non-solving
stub when a problem has none). Why: a random policy never produces the format or passing code,
so every reward is 0, every GRPO advantage is 0 and nothing trains; after a short warm-up,
sampled completions sometimes keep and sometimes break the structure or the code, so R_f and
R_o vary within groups, the RM gate is exercised and GRPO has a signal in every reward mode.
It memorises the answers: plumbing only, never a benchmark. Saves the model in place; a
marker file makes it run once per model dir.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
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


def fine_tune(model: Any, rows: Sequence[Encoded], pad_id: int, *, steps: int, learning_rate: float,
              batch_size: int | None = None, seed: int = 0, lr_lambda: Callable[[int], float] | None = None,
              max_grad_norm: float | None = None, progress: bool = False) -> list[float]:
    """Train `model` in place for `steps` AdamW steps on `batch_size` rows drawn at random (seeded;
    None: every row), LR `learning_rate * lr_lambda(step)`; returns the loss of each step."""
    import torch
    from tqdm.auto import tqdm

    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda or (lambda step: 1.0))
    model.train()
    losses = []
    for _ in tqdm(range(steps), desc="SFT", disable=not progress):
        batch = rows if batch_size is None else rng.sample(list(rows), min(batch_size, len(rows)))
        width = max(len(ids) for ids, _ in batch)
        # Right padding; pads are masked out of attention and loss.
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, (seq, n_prompt) in enumerate(batch):
            ids[r, :len(seq)] = torch.tensor(seq)
            labels[r, n_prompt:len(seq)] = torch.tensor(seq[n_prompt:])
            mask[r, :len(seq)] = 1
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
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
    losses = fine_tune(model, rows, tokenizer.pad_token_id, steps=steps, learning_rate=lr, seed=seed)
    model.save_pretrained(model_dir)
    (model_dir / MARKER).write_text(json.dumps({"steps": steps, "final_loss": losses[-1]}), encoding="utf-8")
    return True
