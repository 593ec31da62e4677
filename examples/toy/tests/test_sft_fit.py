"""pgrpo_toy.sft.fit: the toy's own SFT loop (seeded minibatches, warm-up/decay schedule, clipping)
over pgrpo.train.sft_loss learns and is deterministic for a seed."""

from __future__ import annotations

import pytest


def test_fit_learns_and_is_seeded(tiny_policy_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pgrpo.train import encode_example
    from pgrpo_toy.sft import SFTConfig, fit

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(tiny_policy_path)
    rows = [encode_example(tokenizer, f"Question {i}: add one.", f"<think>plus {i}</think>") for i in range(6)]
    config = SFTConfig(steps=30, batch_size=4, learning_rate=5e-3, seed=3)

    def run(seed: int) -> list[float]:
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(tiny_policy_path, dtype=torch.float32)
        return fit(model, rows, tokenizer.pad_token_id, SFTConfig(**{**config.__dict__, "seed": seed}))

    losses = run(3)
    assert len(losses) == 30 and losses[-1] < 0.5 * losses[0]
    assert run(3) == pytest.approx(losses)
    assert run(4) != pytest.approx(losses)  # another seed draws other minibatches
