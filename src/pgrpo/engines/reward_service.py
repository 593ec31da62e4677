"""`pgrpo reward serve`: a recipe's whole P-GRPO reward behind OpenRLHF's POST /get_reward.

Guards are pgrpo.serving's (loopback unless a token is set, bounded bodies, 422 naming the field).
A failing reward (a service down, past the call's bound, default below OpenRLHF's 180 s client
timeout) is a 502 naming the URL or the items, never a 0.
"""

from __future__ import annotations

import functools
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

import pgrpo
from pgrpo import serving
from pgrpo.engines.openrlhf import response_of, reward_tokenizer, rewards_reply, special_tokens_of
from pgrpo.engines.posterior import PosteriorReward
from pgrpo.serving import StrictModel

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
        for name, values in (("labels", req.labels), ("prompts", req.prompts)):
            if values is not None and len(values) != n:
                raise HTTPException(422, f"{name}: {len(values)} for {n} queries")
        if req.labels is None:
            raise HTTPException(422, "labels: required (the pgrpo task id of each query: OpenRLHF's --label_key)")
        try:
            prompts: list[str | None] = list(req.prompts) if req.prompts is not None else [None] * n
            texts = [response_of(q, p, specials, f"query[{i}]") for i, (q, p) in enumerate(zip(req.query, prompts))]
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        ids = check_labels(req.labels, reward.evaluator().targets)  # the client's fault: 422 naming them
        try:
            rewards = await reward.ascore(ids, texts)
        except Exception as exc:  # noqa: BLE001 - any scoring failure is the service's: a 502 naming it
            raise HTTPException(502, f"reward failed: {type(exc).__name__}: {exc}") from None
        return JSONResponse(rewards_reply(rewards).to_wire())

    return app


def check_labels(labels: list[str | None], known: Any) -> list[str]:
    """The task ids of a request; an empty label or one that is no task of the recipe is a 422
    naming the first few."""
    for i, label in enumerate(labels):
        if not label:
            raise HTTPException(422, f"labels[{i}]: expected the pgrpo task id, got {label!r}")
    ids = [str(label) for label in labels]
    unknown = [f"labels[{i}]={task!r}" for i, task in enumerate(ids) if task not in known]
    if unknown:
        raise HTTPException(422, f"labels: not a task id of the recipe's data: {', '.join(unknown[:5])}"
                                 + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""))
    return ids


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
