"""P-GRPO's reward behind OpenRLHF's remote-reward protocol (`--reward.remote_url`).

`reward_func` is the hook OpenRLHF loads from a Python file (recipe from env PGRPO_RECIPE). OpenRLHF
sends prompt + response decoded with special tokens and the label (the task id); the response is
the query after its prompt with the policy tokenizer's special tokens removed, as TRL decodes it.

`pgrpo reward serve` (`serve`, `create_app`): the same over HTTP, POST /get_reward. Guards are
pgrpo.serving's (loopback unless a token is set, bounded bodies, 422 naming the field); a failing
reward (a service down, past the call's bound, below OpenRLHF's 180 s client timeout) is a 502
naming the URL or the items, never a 0.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

import pgrpo
from pgrpo import serving
from pgrpo.engines import PosteriorReward, shared_reward
from pgrpo.rewards.batch import TIMEOUT_STATUS, CompletionReward
from pgrpo.serving import StrictModel

TOKENIZER_ENV = "PGRPO_TOKENIZER"  # the policy's tokenizer (its special tokens), else the recipe's model.path
LOGGED = ("format", "outcome", "thinking", "gated", "rm_scored", "pass_fraction", "timeout")
GET_REWARD_PATH = "/get_reward"
TOKEN_ENV = "PGRPO_REWARD_TOKEN"
DEFAULT_PORT = 8768
DEFAULT_MAX_QUERIES = 1024
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
# OpenRLHF's client gives up on a request after 180 s (openrlhf/utils/agent.py), retries, and then
# leaves the sample without a reward (logged at INFO): answer (or fail, naming why) before that.
DEFAULT_TIMEOUT_S = 150.0
check_binding = functools.partial(serving.check_binding, token_env=TOKEN_ENV,
                                  risk="run programs in its sandbox and spend its reward model")


def logged_components(r: CompletionReward) -> dict[str, float]:
    """The numbers an engine logs per completion (verl averages them, OpenRLHF's extra_logs)."""
    values = (r.format, r.outcome, r.thinking, float(r.gated), float(r.raw_thinking is not None),
              r.pass_fraction, float(r.status == TIMEOUT_STATUS))
    return dict(zip(LOGGED, values))


@lru_cache(maxsize=8)
def special_tokens_of(tokenizer_path: str | None) -> tuple[str, ...]:
    """The special-token strings of a tokenizer (longest first); () without one."""
    if not tokenizer_path:
        return ()
    from transformers import AutoTokenizer

    tokens = AutoTokenizer.from_pretrained(tokenizer_path).all_special_tokens
    return tuple(sorted({t for t in tokens if t}, key=len, reverse=True))


def response_of(query: str, prompt: str | None, special_tokens: Sequence[str], where: str = "query") -> str:
    """The response inside an OpenRLHF query (prompt + response), special tokens removed."""
    if prompt is not None:
        if not query.startswith(prompt):
            raise ValueError(f"{where}: does not start with its prompt (OpenRLHF sends prompt + response)")
        query = query[len(prompt):]
    for token in special_tokens:
        query = query.replace(token, "")
    return query


def parse_queries(queries: Sequence[str], prompts: Sequence[str | None] | None, labels: Sequence[Any],
                  specials: Sequence[str],
                  known: Mapping[str, Any] | None = None) -> tuple[list[str], list[str]]:
    """(responses, task ids) of an OpenRLHF request; ValueError naming the first bad item (a label that
    is empty or not in `known`, a query without its prompt)."""
    for name, values in (("labels", labels), ("prompts", prompts)):
        if values is not None and len(values) != len(queries):
            raise ValueError(f"{name}: {len(values)} for {len(queries)} queries")
    given = [None] * len(queries) if prompts is None else prompts
    texts = [response_of(q, p, specials, f"query[{i}]") for i, (q, p) in enumerate(zip(queries, given))]
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label:
            raise ValueError(f"labels[{i}]: expected the pgrpo task id, got {label!r} "
                             "(OpenRLHF's --label_key column)")
    unknown = [f"labels[{i}]={t!r}" for i, t in enumerate(labels) if known is not None and t not in known]
    if unknown:
        raise ValueError(f"labels: not a task id of the recipe's data: {', '.join(unknown[:5])}"
                         + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""))
    return texts, list(labels)


def rewards_reply(rewards: Sequence[CompletionReward]) -> dict[str, Any]:
    """OpenRLHF's reply: the totals as "rewards" and "scores", each logged component in "extra_logs"."""
    totals = [r.total for r in rewards]
    rows = [logged_components(r) for r in rewards]
    logs = {name: [row[name] for row in rows] for name in LOGGED}
    return {"rewards": totals, "scores": list(totals), "extra_logs": logs}


def reward_tokenizer(reward: PosteriorReward) -> str | None:
    """Whose special tokens are stripped: env PGRPO_TOKENIZER, else the recipe's model.path."""
    return os.environ.get(TOKENIZER_ENV) or reward.config.model.path


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any]) -> dict[str, Any]:
    """OpenRLHF's file hook: the recipe from env PGRPO_RECIPE; see the module docstring."""
    reward = shared_reward()
    texts, ids = parse_queries(queries, prompts, labels, special_tokens_of(reward_tokenizer(reward)))
    return rewards_reply(reward.score(ids, texts))


class GetRewardRequest(StrictModel):
    query: list[str]
    prompts: list[str] | None = None
    labels: list[str | None] | None = None


class RewardHealth(StrictModel):
    pgrpo_version: str
    task: str
    mode: str
    max_queries: int
    max_body_bytes: int


def create_app(reward: PosteriorReward, *, token: str | None = None, tokenizer: str | None = None,
               max_queries: int = DEFAULT_MAX_QUERIES, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Any:
    """The FastAPI app; `tokenizer`: whose special tokens leave the responses (default: see
    `pgrpo.engines.openrlhf.reward_tokenizer`)."""
    health = RewardHealth(pgrpo_version=pgrpo.__version__, task=reward.config.task, mode=reward.mode,
                          max_queries=max_queries, max_body_bytes=max_body_bytes)
    app = serving.make_app("pgrpo reward", health, token)
    specials = special_tokens_of(tokenizer or reward_tokenizer(reward))

    @app.post(GET_REWARD_PATH)
    async def get_reward(request: Request) -> JSONResponse:
        req = await serving.read_model(request, GetRewardRequest, max_body_bytes)
        n = len(req.query)
        if n > max_queries:
            raise HTTPException(422, f"query: {n} queries, at most {max_queries} per request")
        if req.labels is None:
            raise HTTPException(422, "labels: required (the pgrpo task id of each query: OpenRLHF's --label_key)")
        known = reward.evaluator().targets  # built at serve start; a failure here is the service's (500)
        try:  # the client's fault: a 422 naming the item
            texts, ids = parse_queries(req.query, req.prompts, req.labels, specials, known)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        try:
            rewards = await reward.ascore(ids, texts)
        except Exception as exc:  # noqa: BLE001 - any scoring failure is the service's: a 502 naming it
            raise HTTPException(502, f"reward failed: {type(exc).__name__}: {exc}") from None
        return JSONResponse(rewards_reply(rewards))

    return app


def serve(reward: PosteriorReward, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, token: str | None = None,
          tokenizer: str | None = None) -> None:
    """Run the service until interrupted (the CLI); it prints its URL once listening."""
    check_binding(host, token)
    reward.evaluator()  # a broken recipe, data file or sandbox fails here, before the first request
    app = create_app(reward, token=token, tokenizer=tokenizer)
    try:
        serving.serve_forever("pgrpo reward serve", app, serving.bind(host, port), token,
                              f"POST {GET_REWARD_PATH}, {reward!r}")
    finally:
        reward.close()


class BackgroundRewardService(serving.BackgroundServer):
    """The service in a thread on loopback (port 0: a free one), over a given PosteriorReward (tests)."""

    def __init__(self, reward: PosteriorReward, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 tokenizer: str | None = None) -> None:
        check_binding(host, token)
        self.reward = reward
        super().__init__(create_app(reward, token=token, tokenizer=tokenizer), serving.bind(host, port),
                         "pgrpo-reward-service", reward.close)
