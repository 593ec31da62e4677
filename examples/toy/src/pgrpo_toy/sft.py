"""Stage 1 of the demo: a tiny Qwen2 policy fine-tuned on noisy toy demonstrations, cached.

Owns `SFTConfig`, `demonstrations` (the noisy mix: canonical solutions, flawed reasoning with
code that is still right, flawed reasoning with code that follows the flaw and is wrong; in the
trap world also, for a task with a sign step, with probability `p_shortcut` the sign shortcut on
one of its sign steps whatever its validity, code following it: a careless human; tasks drawn
only from the "sft" split, pgrpo_toy.splits), `build_toy_tokenizer` (a BPE trained on toy prompts and responses), and
`ensure_sft_policy`: returns the policy directory, training it only when no finished model with
the same settings hash exists under the cache dir (written to a temp dir and renamed, so a
killed run never leaves a half model behind). Training (`fit`) is the toy's own loop over
pgrpo.train.sft_loss (minibatches, LR schedule, clipping), on CPU.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgrpo.errors import PgrpoError
from pgrpo_toy import editor
from pgrpo_toy.oracle import parse_reasoning
from pgrpo_toy.splits import draw, make_splits
from pgrpo_toy.world import (
    TOY_PROMPT_STYLE,
    WORLDS,
    ToyTask,
    canonical_code,
    canonical_reasoning,
    code_for,
    generate_tasks,
    reasoning_lines,
    response,
    sign_steps,
    skip_is_valid,
    to_problem,
)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

# 4: numbered statements; 5: tasks from the "sft" split, worlds, shortcut words in the tokenizer;
# 6: the issue-23 splits (another "sft" split: the cache key must change with the demos).
SFT_VERSION = 6
DEMO_KINDS = ("canonical", "flawed_right_code", "wrong_code", "valid_shortcut", "invalid_shortcut")


@dataclass(frozen=True)
class SFTConfig:
    demos: int = 4000
    steps: int = 1200
    batch_size: int = 32
    learning_rate: float = 5e-3
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    vocab_size: int = 768
    p_canonical: float = 0.5
    p_flawed_right_code: float = 0.2  # the rest: flawed reasoning with code that follows it (wrong)
    world: str = "clean"
    p_shortcut: float = 0.3  # trap world: share of sign-step tasks demonstrated with the shortcut
    seed: int = 0

    def __post_init__(self) -> None:
        if self.world not in WORLDS:
            raise PgrpoError(f"SFTConfig.world: unknown world {self.world!r}; known: {', '.join(WORLDS)}")
        if not 0.0 <= self.p_shortcut <= 1.0:
            raise PgrpoError(f"SFTConfig.p_shortcut: expected a share in [0, 1], got {self.p_shortcut}")

    def key(self) -> str:
        """The cache key: the settings, SFT_VERSION and the step programs of the "sft" split the
        demonstrations are drawn from (another partition is another policy)."""
        sft_split = [[[s.op, s.c] for s in task.steps] for task in make_splits().tasks("sft")]
        split_digest = hashlib.sha256(json.dumps(sft_split).encode()).hexdigest()[:16]
        blob = json.dumps({"version": SFT_VERSION, "sft_split": split_digest, **dataclasses.asdict(self)},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Demo:
    task: ToyTask
    text: str  # the full response
    kind: str  # one of DEMO_KINDS


def demonstrations(config: SFTConfig) -> list[Demo]:
    """`config.demos` demonstrations of tasks drawn from the "sft" split. Both worlds make the
    same clean draws; the trap world replaces the shortcut-picked ones (its own random stream)."""
    rng = random.Random(f"sft-demos:{config.seed}")
    shortcut_rng = random.Random(f"sft-shortcuts:{config.seed}")
    demos = []
    for task in draw(make_splits(), "sft", config.demos, config.seed):
        demo = _clean_demo(task, config, rng)
        signs = sign_steps(task.steps)
        picked = shortcut_rng.random() < config.p_shortcut and bool(signs)
        index = shortcut_rng.choice(signs) if picked else -1
        if picked and config.world == "trap":
            demo = shortcut_demo(task, index)
        demos.append(demo)
    return demos


def _clean_demo(task: ToyTask, config: SFTConfig, rng: random.Random) -> Demo:
    u = rng.random()
    if u < config.p_canonical:
        return Demo(task, response(canonical_reasoning(task), canonical_code(task)), "canonical")
    reasoning, _ = editor.noisy_reasoning(task, rng)
    if u < config.p_canonical + config.p_flawed_right_code:
        return Demo(task, response(reasoning, canonical_code(task)), "flawed_right_code")
    code = code_for(list(parse_reasoning(reasoning).steps))
    kind = "wrong_code" if code != canonical_code(task) else "flawed_right_code"
    return Demo(task, response(reasoning, code), kind)


def shortcut_demo(task: ToyTask, index: int) -> Demo:
    """The canonical solution with step `index` replaced by the sign shortcut, code following it."""
    reasoning = "\n".join(reasoning_lines(task.steps, {index}))
    code = code_for([s for i, s in enumerate(task.steps) if i != index])
    kind = "valid_shortcut" if skip_is_valid(task.steps, index) else "invalid_shortcut"
    return Demo(task, response(reasoning, code), kind)


def build_toy_tokenizer(vocab_size: int, seed: int = 0) -> PreTrainedTokenizerFast:
    from pgrpo.data import render_prompt
    from pgrpo.tiny import build_tokenizer

    tasks = generate_tasks(400, 7000 + seed, prefix="toy-bpe")
    rng = random.Random(seed)
    corpus = []
    for task in tasks:
        reasoning, _ = editor.noisy_reasoning(task, rng, flaws=2)
        corpus.append(render_prompt(to_problem(task), style=TOY_PROMPT_STYLE) + response(canonical_reasoning(task), canonical_code(task)))
        corpus.append(response(reasoning, code_for(list(parse_reasoning(reasoning).steps))))
        for index in sign_steps(task.steps)[:1]:  # the shortcut's words, for either world
            corpus.append(shortcut_demo(task, index).text)
    return build_tokenizer(corpus, vocab_size=vocab_size)


def fit(model: Any, rows: Sequence[tuple[list[int], int]], pad_id: int, config: SFTConfig,
        progress: bool = False) -> list[float]:
    """`config.steps` AdamW steps on `config.batch_size` rows drawn at random (seeded by config.seed),
    gradients clipped at norm 1, the LR warmed up over 20 steps then decayed linearly to 5%
    (pgrpo.train.sft_loss per batch); returns the loss of each step."""
    import torch
    from tqdm.auto import tqdm

    from pgrpo.train import sft_loss

    def lr_lambda(step: int) -> float:  # 20 warm-up steps, then linear decay to 5%
        return min(1.0, (step + 1) / 20) * max(0.05, 1 - step / config.steps)

    rng = random.Random(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    model.train()
    losses = []
    for _ in tqdm(range(config.steps), desc="SFT", disable=not progress):
        loss = sft_loss(model, rng.sample(list(rows), min(config.batch_size, len(rows))), pad_id)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def train_sft(config: SFTConfig, out_dir: Path, progress: bool = True) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM

    from pgrpo.data import render_prompt
    from pgrpo.tiny import build_tiny_model
    from pgrpo.train import encode_example

    torch.manual_seed(config.seed)
    tokenizer = build_toy_tokenizer(config.vocab_size, config.seed)
    build_tiny_model(out_dir, tokenizer=tokenizer, seed=config.seed, hidden_size=config.hidden_size,
                     num_layers=config.num_layers, num_heads=config.num_heads, num_kv_heads=config.num_heads // 2,
                     max_positions=1024)
    model = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32)
    demos = demonstrations(config)
    rows = [encode_example(tokenizer, render_prompt(to_problem(d.task), tokenizer, TOY_PROMPT_STYLE), d.text)
            for d in demos]

    losses = fit(model, rows, tokenizer.pad_token_id, config, progress)
    model.save_pretrained(out_dir)
    kinds = {k: sum(d.kind == k for d in demos) for k in DEMO_KINDS}
    return {"final_loss": sum(losses[-10:]) / max(1, len(losses[-10:])), "demos": kinds}


def default_cache_dir() -> Path:
    return Path(os.environ.get("PGRPO_CACHE", Path.home() / ".cache" / "pgrpo")) / "demo"


def ensure_sft_policy(config: SFTConfig, cache_dir: str | Path | None = None, progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """(policy dir, info); trains once per settings hash, later runs reuse the cached model."""
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    final = root / f"sft-{config.key()}"
    info_file = final / "sft_info.json"
    if info_file.is_file():
        info = json.loads(info_file.read_text(encoding="utf-8"))
        info["cached"] = True
        return final, info
    tmp = root / f".sft-{config.key()}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    started = time.monotonic()
    print(f"pgrpo demo: fine-tuning the toy policy ({config.steps} steps) into {final}", file=sys.stderr)
    info = train_sft(config, tmp, progress)
    info.update(config=dataclasses.asdict(config), seconds=round(time.monotonic() - started, 1))
    (tmp / "sft_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    if final.exists():  # another run finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        os.replace(tmp, final)
    info["cached"] = False
    return final, info
