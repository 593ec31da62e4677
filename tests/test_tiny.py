"""pgrpo.tiny: tiny local Qwen2 models and tokenizers load like hub checkpoints."""

import pytest


def test_tokenizer_has_chat_template_and_format_tokens(tiny_tokenizer):
    text = tiny_tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    ids = tiny_tokenizer("<think>a</think><answer>", add_special_tokens=False)["input_ids"]
    assert tiny_tokenizer.convert_ids_to_tokens(ids)[0] == "<think>"
    roundtrip = "def f(x):\n    return x * 3 - 4\n"
    assert tiny_tokenizer.decode(tiny_tokenizer(roundtrip)["input_ids"]) == roundtrip


@pytest.mark.slow
def test_policy_and_reward_model_load_from_disk(tiny_policy_path, tiny_rm_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_policy_path)
    policy = AutoModelForCausalLM.from_pretrained(tiny_policy_path)
    batch = tok(["def f(x):", "return"], return_tensors="pt", padding=True)
    out = policy.generate(**batch, max_new_tokens=4, do_sample=False)
    assert out.shape[0] == 2 and out.shape[1] >= batch["input_ids"].shape[1]
    rm = AutoModelForSequenceClassification.from_pretrained(tiny_rm_path)
    assert rm.config.num_labels == 1
    with torch.no_grad():
        logits = rm(**batch).logits
    assert logits.shape == (2, 1)


def test_saved_tokenizer_reloads_with_the_same_ids(tmp_path):
    # transformers reloads a tiny Qwen2 checkpoint's tokenizer as Qwen2Tokenizer, which applies
    # Qwen2's own pre-tokenization: a model trained with the in-memory tokenizer must see the
    # same ids after reloading (a mismatch once split every digit differently in the toy demo).
    import unicodedata

    from transformers import AutoTokenizer

    from pgrpo.tiny import build_tiny_model, build_tokenizer

    corpus = ["Step 1: multiply x by 3.\nStep 2: add 12 to x.\n", "def f(x):\n    x = x * 3\n    return x\n"] * 20
    tokenizer = build_tokenizer(corpus, vocab_size=400)
    build_tiny_model(tmp_path, tokenizer=tokenizer)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    for text in ("Step 2: add 12 to x.\n\n", "def f(x):\n    x = x * 3\n\treturn x  ", "<think>\nok</think>", "é 1.5e3 x1", "cafe\u0301"):
        assert reloaded(text)["input_ids"] == tokenizer(text)["input_ids"], text
        assert reloaded.decode(reloaded(text)["input_ids"]) == unicodedata.normalize("NFC", text)
