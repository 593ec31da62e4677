"""The implicit reward head: score = beta * sum_t [log p_theta(y_t | x, y_<t) - log p_ref(y_t | x, y_<t)],
x the statement rendered as the policy's own prompt (`prompt_style`), y the response in the P-GRPO
format (`format_response`); DPO's loss is Bradley-Terry on this score. Owns `encode_implicit` and
`ImplicitHead` (the forward pass `RewardScorer` runs); its parameters are the manifest's `ImplicitParams`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrpo.data.cli_args import checked_prompt_style
from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.data.prompts import render_prompt
from pgrpo.parsing import format_response
from pgrpo.rm.manifest import ImplicitParams
from pgrpo.rm.template import EncodedInput, truncate_parts

if TYPE_CHECKING:
    import torch


def prompt_text(statement: str, tokenizer: Any, style: str) -> str:
    """The policy's prompt for a problem known only by its statement (pairs and RM items carry
    no tests or entry point), rendered through the tokenizer's chat template."""
    problem = Problem(task_id="rm-item", statement=statement.strip(), tests=Tests(TestKind.CALL))
    return render_prompt(problem, tokenizer, checked_prompt_style(style))


def encode_implicit(tokenizer: Any, statement: str, reasoning: str, code: str | None, style: str,
                    max_length: int | None = None) -> EncodedInput:
    """`input_ids` = prompt + response, the response (the scored tokens) from `start`. Tokenized
    apart (as the policy was fine-tuned and as it generates, so no token straddles the
    boundary), then cut with the RM template's truncation policy: the prompt keeps its start,
    the response its end; at least one prompt token stays (the first response token is scored
    from the one before it)."""
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


def response_log_ratio(policy: Any, reference: Any, ids: torch.Tensor, mask: torch.Tensor | None, starts: list[int],
                       lengths: list[int]) -> torch.Tensor:
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

    def sequence_logp(model: Any) -> torch.Tensor:
        out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
        logp: torch.Tensor = out.log_probs.float().sum(dim=1)
        return logp

    return sequence_logp(policy) - sequence_logp(reference)


class ImplicitHead:  # a pgrpo.rm.scoring.RewardHead
    """The forward pass of an implicit RM: the trained policy and its frozen reference."""

    def __init__(self, policy: Any, reference: Any, tokenizer: Any, params: ImplicitParams) -> None:
        from trl.trainer.utils import add_fused_lm_head

        for model in (policy, reference):
            add_fused_lm_head(model)
        self.model = policy.eval()
        self.reference = reference.eval()
        self.tokenizer = tokenizer
        self.params = params

    def encode(self, statement: str, reasoning: str, code: str | None, max_length: int) -> EncodedInput:
        """As training encoded a pair side (the reasoning taken as it is: pair sides are split by
        their readers; code only for an RM trained with it, which the scorer decides)."""
        return encode_implicit(self.tokenizer, statement, reasoning, code, self.params.prompt_style, max_length)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None, starts: list[int], lengths: list[int]) -> list[float]:
        ratio = response_log_ratio(self.model, self.reference, ids, mask, starts, lengths)
        scores: list[float] = (self.params.beta * ratio).cpu().tolist()
        return scores
