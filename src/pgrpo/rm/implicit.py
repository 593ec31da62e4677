"""The implicit reward head: a reasoning reward model that is itself a language model.

    score(problem, reasoning[, code]) = beta * sum_t [log p_theta(y_t | x, y_<t) - log p_ref(y_t | x, y_<t)]

x is the problem statement rendered as the policy's own prompt (`render_prompt` in the
recorded prompt style) and y the response in the P-GRPO format the policy writes
(`pgrpo.parsing.format_response`: the `<think>` block, plus the `<answer>` block when the RM
reads code); t runs over y's tokens. Trained with the same Bradley-Terry loss as the scalar
head, -log sigmoid(score(chosen) - score(rejected)), which for this score is DPO's loss, so
training runs on TRL's DPOTrainer (`pgrpo.rm.implicit_train`), fed the tokenization below.

Why it exists: the scalar head reads one vector at the last token, so to notice that step 3
states the wrong constant the model has to learn to compare every step with the statement and
carry the verdict to the end. A policy already makes that comparison token by token when it
copies the statement's steps into its reasoning; this score reads it there. On the toy world
the scalar head reached at most 0.755 on the toy LCB-RB, this head 0.905 (docs/demo.md).

"The policy's own format" is approximate for real problems: pairs and RM items carry only the
statement, so the prompt is rendered from a statement-only `Problem` (no entry point or stdin
line), without a prefilled `<think>` and without an end-of-turn token. Training and scoring
encode the same way, so the two always agree.

Owns `ImplicitSpec` (`pgrpo_implicit_rm.json` in the model dir: beta, prompt style, where the
frozen reference model is), `encode_implicit` (ids + where the response starts) and
`ImplicitHead` (the forward pass `RewardScorer` runs for such a model).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from pgrpo.config import ConfigError
from pgrpo.data.io import write_text_atomic
from pgrpo.rm.template import EncodedInput, truncate_parts

log = logging.getLogger(__name__)

IMPLICIT_SPEC_FILE = "pgrpo_implicit_rm.json"
REFERENCE_DIR = "reference"


@dataclass(frozen=True)
class ImplicitSpec:
    """How an implicit RM scores: `beta` scales the log-ratio; `prompt_style` renders x;
    `include_code`: the response carries the code (else code given to `encode` is dropped, as in
    training); `reference` is the frozen model's directory, relative to the RM's own."""

    beta: float
    prompt_style: str
    include_code: bool = False
    reference: str = REFERENCE_DIR

    def write(self, model_dir: str | Path) -> None:
        write_text_atomic(Path(model_dir) / IMPLICIT_SPEC_FILE,
                          json.dumps({"head": "implicit", **asdict(self)}, indent=2) + "\n")

    @classmethod
    def read(cls, model_dir: str | Path) -> ImplicitSpec | None:
        """The spec in `model_dir`, None if it has none (a scalar-head RM); ConfigError naming
        the file if it is malformed."""
        path = Path(model_dir) / IMPLICIT_SPEC_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable implicit-RM spec: {exc}") from None
        data = data if isinstance(data, dict) else {}
        beta, style, code = data.get("beta"), data.get("prompt_style"), data.get("include_code", False)
        reference = data.get("reference", REFERENCE_DIR)
        if (isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta <= 0 or not isinstance(style, str)
                or not isinstance(code, bool) or not isinstance(reference, str)):
            raise ConfigError(f"{path}: expected a positive 'beta', a string 'prompt_style' and 'reference', "
                              f"a boolean 'include_code'")
        from pgrpo.data.cli_args import checked_prompt_style

        try:
            checked_prompt_style(style)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        return cls(float(beta), style, code, reference)


def prompt_text(statement: str, tokenizer, style: str) -> str:
    """The policy's prompt for a problem known only by its statement (pairs and RM items carry
    no tests or entry point), rendered through the tokenizer's chat template."""
    from pgrpo.data.cli_args import checked_prompt_style
    from pgrpo.data.problem import Problem, TestKind, Tests
    from pgrpo.data.prompts import render_prompt

    problem = Problem(task_id="rm-item", statement=statement.strip(), tests=Tests(TestKind.CALL))
    return render_prompt(problem, tokenizer, checked_prompt_style(style))


def encode_implicit(tokenizer, statement: str, reasoning: str, code: str | None, style: str,
                    max_length: int | None = None) -> EncodedInput:
    """`input_ids` = prompt + response, the response (the scored tokens) from `start`. Tokenized
    apart (as the policy was fine-tuned and as it generates, so no token straddles the
    boundary), then cut with the RM template's truncation policy: the prompt keeps its start,
    the response its end; at least one prompt token stays (the first response token is scored
    from the one before it)."""
    from pgrpo.parsing import format_response

    prompt = list(tokenizer(prompt_text(statement, tokenizer, style), add_special_tokens=False)["input_ids"])
    response = list(tokenizer(format_response(reasoning, code), add_special_tokens=False)["input_ids"])
    truncated = False
    if max_length is not None:
        keep_p, keep_r = truncate_parts(len(prompt), len(response), max_length)
        if keep_p == 0 and prompt:
            keep_p, keep_r = 1, keep_r - 1
        truncated = keep_p < len(prompt) or keep_r < len(response)
        prompt, response = prompt[:keep_p], response[len(response) - keep_r:] if keep_r else []
    return EncodedInput(prompt + response, truncated, len(prompt))


def response_log_ratio(policy, reference, ids, mask, starts: list[int], lengths: list[int]):
    """Per row: sum over response tokens of log p_policy - log p_reference. Shapes: ids and mask
    (B, T) right-padded (mask may be None when no row is padded); returns a float tensor (B,).
    Both models must carry TRL's fused LM head (`trl.trainer.utils.add_fused_lm_head`, added by
    `ImplicitHead`): the same kernel DPOTrainer trains with (logit scaling and soft-capping
    included), chunked so full (B, T, vocab) logits never exist."""
    import torch

    positions = torch.arange(ids.shape[1], device=ids.device)[None, :]
    scored = (positions >= torch.tensor(starts, device=ids.device)[:, None]) & (
        positions < torch.tensor(lengths, device=ids.device)[:, None])
    labels = ids.masked_fill(~scored, -100)  # as DPOTrainer masks labels outside the completion

    def sequence_logp(model):
        out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
        return out.log_probs.float().sum(dim=1)

    return sequence_logp(policy) - sequence_logp(reference)


class ImplicitHead:  # a pgrpo.rm.scoring.RewardHead
    """The forward pass of an implicit RM: the trained policy and its frozen reference."""

    def __init__(self, policy, reference, tokenizer, spec: ImplicitSpec) -> None:
        from trl.trainer.utils import add_fused_lm_head

        for model in (policy, reference):
            add_fused_lm_head(model)
        self.model = policy.eval()
        self.reference = reference.eval()
        self.tokenizer = tokenizer
        self.spec = spec
        self._warned_code = False

    @classmethod
    def load(cls, model_dir: str | Path, spec: ImplicitSpec, device: str, dtype) -> ImplicitHead:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from pgrpo.errors import PgrpoError

        reference_dir = Path(model_dir) / spec.reference
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_dir)
            policy = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device)
            reference = AutoModelForCausalLM.from_pretrained(reference_dir, dtype=dtype).to(device)
        except OSError as exc:
            raise PgrpoError(f"{model_dir}: cannot load implicit reward model (policy and {reference_dir}): "
                             f"{exc}") from exc
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        return cls(policy, reference, tokenizer, spec)

    def encode(self, statement: str, reasoning: str, code: str | None, max_length: int) -> EncodedInput:
        """As training encoded a pair side: the code is dropped unless the RM was trained with it
        (said once). The reasoning is taken as it is (pair sides are split by their readers)."""
        if code is not None and not self.spec.include_code:
            if not self._warned_code:
                log.warning("this implicit RM was trained without code; the code given to it is ignored")
                self._warned_code = True
            code = None
        return encode_implicit(self.tokenizer, statement, reasoning, code, self.spec.prompt_style, max_length)

    def forward(self, ids, mask, starts: list[int], lengths: list[int]) -> list[float]:
        ratio = response_log_ratio(self.model, self.reference, ids, mask, starts, lengths)
        return (self.spec.beta * ratio).cpu().tolist()
