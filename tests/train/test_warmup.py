"""pgrpo.train.tasks' warm-up: the warm-up's full-batch SFT loop learns the response tokens only (sft_loss)
and is deterministic."""

from __future__ import annotations

import pytest


def _tuned(path, rows, pad_id, **kwargs):
    import torch
    from transformers import AutoModelForCausalLM

    from pgrpo.train.tasks import fine_tune

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model, fine_tune(model, rows, pad_id, **kwargs)


def test_fine_tune_learns_the_response_and_is_seeded(tiny_policy_path):
    import torch
    from transformers import AutoTokenizer

    from pgrpo.train.tasks import encode_example

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(tiny_policy_path)
    rows = [encode_example(tokenizer, f"Question {i}: add one.", f"<think>plus {i}</think>") for i in range(6)]
    ids, n_prompt = rows[0]
    assert ids[-1] == tokenizer.eos_token_id and 0 < n_prompt < len(ids)
    kwargs = dict(steps=12, learning_rate=5e-3)
    model, losses = _tuned(tiny_policy_path, rows, tokenizer.pad_token_id, **kwargs)
    assert len(losses) == 12 and losses[-1] < 0.5 * losses[0]
    assert _tuned(tiny_policy_path, rows, tokenizer.pad_token_id, **kwargs)[1] == pytest.approx(losses)
    # The loss covers the response tokens only: it equals a forward pass with the prompt masked.
    ids_t = torch.tensor([ids])
    expected = model.__class__.from_pretrained(tiny_policy_path, dtype=torch.float32)(
        input_ids=ids_t, labels=torch.tensor([[-100] * n_prompt + ids[n_prompt:]])).loss.item()
    _, first = _tuned(tiny_policy_path, rows[:1], tokenizer.pad_token_id, steps=1, learning_rate=0.0)
    assert first[0] == pytest.approx(expected, rel=1e-5)
