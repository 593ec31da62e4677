"""What each kind of RM server speaks: `RM_BACKENDS` (`reward.rm_backend`), used by `RMClient`.

    pgrpo  `pgrpo rm serve` (pgrpo.rm.wire, API v1): either head; the service encodes the items,
           /health carries the manifest.
    vllm   `vllm serve RM_DIR --runner pooling --convert classify ...` (vLLM 0.31's pooling API,
           docs/rm-service.md): the scalar head only. The client renders and tokenises each item
           itself, exactly as `RewardScorer` does (`pgrpo.rm.template.encode_rm_input`, same
           truncation, the manifest's layout), and sends TOKEN IDS to POST /classify with
           `use_activation: false`, so vLLM's tokenizer and chat template play no part; the raw
           logit it returns goes through the same `sigmoid` as in process. The manifest and the
           tokenizer are read from a local copy of the RM directory (`reward.rm_path`; no weights
           are loaded). The implicit head is refused: it is a log-ratio of two models, which a
           pooling endpoint cannot compute.

A backend turns a chunk of items into (path, JSON body, reply parser) and reads what a URL
serves (manifest, max_length) from its health route; transport, batching and retries are the
client's. Garbage replies raise `Retryable` (the client retries, then fails naming the URL).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from pgrpo.config import ConfigError, build_dataclass
from pgrpo.errors import PgrpoError
from pgrpo.registry import Registry
from pgrpo.rm.manifest import RMManifest
from pgrpo.rm.scoring import RMItem, sigmoid
from pgrpo.rm.wire import API_VERSION, SCORE_PATH, Health, ItemScore, ScoreResponse
from pgrpo.serving import HEALTH_PATH, Retryable

Get = Callable[[str, str], Awaitable[bytes]]  # (url, path) -> body of a 200 reply
Parse = Callable[[bytes], list[ItemScore]]


class RMBackendError(PgrpoError):
    """A served RM that this client cannot use (wrong API, head, length), or a bad backend setup."""


class RMBackend(Protocol):
    server: str  # how the docs name the server, for error messages

    async def served(self, url: str, get: Get) -> tuple[RMManifest, int]:
        """(manifest, max_length) of what `url` serves; RMBackendError when unusable, Retryable when unreadable."""
        ...

    def request(self, chunk: Sequence[RMItem], manifest: RMManifest) -> tuple[str, dict[str, Any], Parse]:
        """(path, JSON body, parser of the reply into one ItemScore per item) for one chunk."""
        ...


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend: `make(rm_path, max_length)`; `needs_rm_path`: reward.rm_path is required."""

    make: Callable[[str | None, int | None], RMBackend]
    needs_rm_path: bool
    server: str


RM_BACKENDS: Registry[BackendSpec] = Registry("reward-model backend")


def _check_count(n: int, expected: int) -> None:
    if n != expected:
        raise Retryable(f"garbage reply: {n} results for {expected} items")


# -- pgrpo rm serve ------------------------------------------------------------------------
class PgrpoBackend:
    """`pgrpo rm serve` (pgrpo.rm.wire)."""

    server = "`pgrpo rm serve`"

    async def served(self, url: str, get: Get) -> tuple[RMManifest, int]:
        try:
            health = Health.model_validate_json(await get(url, HEALTH_PATH))
        except ValidationError as exc:
            raise Retryable(f"unreadable /health reply: {exc.errors()[:1]}") from None
        if health.api_version != API_VERSION:
            raise RMBackendError(f"reward-model service {url}: speaks API version {health.api_version}, "
                                 f"this pgrpo speaks {API_VERSION}")
        try:
            manifest = build_dataclass(RMManifest, health.manifest, prefix=f"{url}{HEALTH_PATH} manifest")
        except (ConfigError, ValueError) as exc:
            raise RMBackendError(str(exc)) from None
        return manifest, health.max_length

    def request(self, chunk: Sequence[RMItem], manifest: RMManifest) -> tuple[str, dict[str, Any], Parse]:
        body = {"items": [{"statement": it.statement, "reasoning": it.reasoning,
                           "code": it.code if manifest.include_code else None} for it in chunk]}

        def parse(raw: bytes) -> list[ItemScore]:
            try:
                reply = ScoreResponse.model_validate_json(raw)
            except ValidationError as exc:
                raise Retryable(f"garbage reply: {exc.errors()[:1]}") from None
            _check_count(len(reply.results), len(chunk))
            return reply.results

        return SCORE_PATH, body, parse


RM_BACKENDS.add("pgrpo", BackendSpec(lambda rm_path, max_length: PgrpoBackend(), False, PgrpoBackend.server))


# -- vLLM 0.31: POST /classify ---------------------------------------------------------------
VLLM_MODELS_PATH = "/v1/models"
VLLM_CLASSIFY_PATH = "/classify"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")  # vLLM's replies carry more (id, created, usage, ...)


class _ModelCard(_Lenient):
    id: str
    root: str | None = None
    max_model_len: int | None = None


class _ModelList(_Lenient):
    data: list[_ModelCard]


class _ClassificationData(_Lenient):
    index: int
    probs: list[float]
    num_classes: int


class _ClassificationResponse(_Lenient):
    data: list[_ClassificationData]


class VLLMBackend:
    """vLLM's classification endpoint serving the scalar RM saved at `rm_path` (read here for its
    manifest and tokenizer only)."""

    server = "`vllm serve` (docs/rm-service.md)"

    def __init__(self, rm_path: str | None, max_length: int | None = None) -> None:
        from transformers import AutoTokenizer

        from pgrpo.hf_loading import ensure_pad_token
        from pgrpo.rm.manifest import read_manifest

        if not rm_path:
            raise RMBackendError("reward.rm_path: reward.rm_backend=vllm needs a local copy of the RM directory "
                                 "vLLM serves (its manifest and tokenizer encode the items; no weights are loaded)")
        self.manifest = read_manifest(rm_path)
        if self.manifest.implicit is not None:
            raise RMBackendError(f"reward.rm_backend: vllm serves the scalar head only, but {rm_path} is an implicit "
                                 f"RM (a log-ratio of the model and its reference, which vLLM's pooling API cannot "
                                 f"compute); serve it with `pgrpo rm serve --model {rm_path}`")
        self.max_length = max_length or self.manifest.max_length
        try:
            self.tokenizer = ensure_pad_token(AutoTokenizer.from_pretrained(rm_path))
        except OSError as exc:
            raise RMBackendError(f"reward.rm_path: cannot load the tokenizer of {rm_path}: {exc}") from None
        self._model: dict[str, str] = {}  # url -> the served model's id

    async def served(self, url: str, get: Get) -> tuple[RMManifest, int]:
        try:
            models = _ModelList.model_validate_json(await get(url, VLLM_MODELS_PATH))
        except ValidationError as exc:
            raise Retryable(f"unreadable {VLLM_MODELS_PATH} reply (is this vLLM?): {exc.errors()[:1]}") from None
        if not models.data:
            raise RMBackendError(f"vLLM at {url}: {VLLM_MODELS_PATH} lists no model")
        card = models.data[0]
        if card.max_model_len is not None and card.max_model_len < self.max_length:
            raise RMBackendError(f"vLLM at {url}: max_model_len={card.max_model_len} is below the RM's max_length "
                                 f"{self.max_length}; restart it with --max-model-len {self.max_length}")
        self._model[url] = card.id
        return self.manifest, self.max_length

    def encode(self, item: RMItem) -> tuple[list[int], bool]:
        """(token ids vLLM must score, truncated): `encode_rm_input`'s ids, cut after the last token that
        is not the pad token - the token transformers' sequence-classification head reads (with pad ==
        eos, the one before the final eos), while vLLM reads the LAST token it is given."""
        from pgrpo.rm.template import encode_rm_input

        code = item.code if self.manifest.include_code else None
        encoded = encode_rm_input(self.tokenizer, item.statement, item.reasoning, code, self.max_length)
        ids, pad = encoded.input_ids, self.tokenizer.pad_token_id
        last = max((i for i, t in enumerate(ids) if t != pad), default=0)
        return ids[:last + 1], encoded.truncated

    def request(self, chunk: Sequence[RMItem], manifest: RMManifest) -> tuple[str, dict[str, Any], Parse]:
        encoded = [self.encode(it) for it in chunk]
        body: dict[str, Any] = {"input": [ids for ids, _ in encoded], "use_activation": False}
        if len(set(self._model.values())) == 1:  # vLLM's default model otherwise
            body["model"] = next(iter(self._model.values()))

        def parse(raw: bytes) -> list[ItemScore]:
            try:
                reply = _ClassificationResponse.model_validate_json(raw)
            except ValidationError as exc:
                raise Retryable(f"garbage reply: {exc.errors()[:1]}") from None
            _check_count(len(reply.data), len(chunk))
            rows = sorted(reply.data, key=lambda d: d.index)
            if [d.index for d in rows] != list(range(len(chunk))):
                raise Retryable(f"garbage reply: indices {[d.index for d in reply.data]} for {len(chunk)} items")
            if any(d.num_classes != 1 or len(d.probs) != 1 for d in rows):
                raise RMBackendError(f"vLLM at {VLLM_CLASSIFY_PATH} returned {rows[0].num_classes} classes per "
                                     f"item: not a scalar reward model (num_labels must be 1)")
            raws = [d.probs[0] for d in rows]
            if not all(math.isfinite(r) for r in raws):
                raise Retryable(f"garbage reply: non-finite scores {raws}")
            return [ItemScore(raw=r, score=s, truncated=t) for r, s, (_, t) in zip(raws, sigmoid(raws), encoded)]

        return VLLM_CLASSIFY_PATH, body, parse


RM_BACKENDS.add("vllm", BackendSpec(VLLMBackend, True, VLLMBackend.server))


def make_backend(name: str, rm_path: str | None = None, max_length: int | None = None) -> RMBackend:
    """The backend registered as `name` (`reward.rm_backend`); ConfigError naming the key if unknown."""
    try:
        spec = RM_BACKENDS.get(name)
    except KeyError as exc:
        raise ConfigError(f"reward.rm_backend: {exc.args[0]}") from None
    return spec.make(rm_path, max_length)
