"""What each kind of RM server speaks, for `RMClient`: `RM_BACKENDS` (`reward.rm_backend`): "pgrpo"
(`pgrpo rm serve`, either head; its JSON API v1 is the schemas below, shared with the service: no
fastapi/httpx here) and "vllm" (vLLM's /classify, the scalar head only: items are tokenised here
as `RewardScorer` does and sent as token ids; the served model name carries a fingerprint of the
RM's small files, `vllm_served_name`; docs/rm-service.md).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pgrpo.config import ConfigError, build_dataclass
from pgrpo.errors import PgrpoError
from pgrpo.hf_loading import ensure_pad_token
from pgrpo.rm.manifest import MANIFEST_FILE, RMManifest, read_manifest
from pgrpo.rm.scoring import RMItem, sigmoid
from pgrpo.rm.template import encode_rm_input
from pgrpo.serving import HEALTH_PATH as HEALTH_PATH  # re-exported: every path of the API is here
from pgrpo.serving import Retryable, StrictModel

# -- `pgrpo rm serve`'s API (v1): GET /health -> Health; POST /v1/score ScoreRequest -> ScoreResponse,
# results in item order, score = sigmoid(raw); unknown fields are refused (422).
API_VERSION = 1
SCORE_PATH = f"/v{API_VERSION}/score"
TOKEN_ENV = "PGRPO_RM_TOKEN"
DEFAULT_PORT = 8767
DEFAULT_MAX_ITEMS = 512
DEFAULT_MAX_BODY_BYTES = 32 << 20
MAX_TEXT_CHARS = 1 << 20  # per field: the RM cuts to max_length tokens anyway


class ScoreItem(StrictModel):
    statement: str = Field(max_length=MAX_TEXT_CHARS)
    reasoning: str = Field(max_length=MAX_TEXT_CHARS)
    code: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class ScoreRequest(StrictModel):
    items: list[ScoreItem]


class ItemScore(StrictModel):
    raw: float
    score: float = Field(ge=0.0, le=1.0)
    truncated: bool


class ScoreResponse(StrictModel):
    api_version: int = API_VERSION
    results: list[ItemScore]


class Health(StrictModel):
    api_version: int = API_VERSION
    pgrpo_version: str
    manifest: dict[str, Any]
    max_items: int
    max_body_bytes: int
    max_length: int  # tokens per item the service scores with (default: the manifest's)


Get = Callable[[str, str], Awaitable[bytes]]  # (url, path) -> body of a 200 reply
Parse = Callable[[bytes], list[ItemScore]]
ReplyT = TypeVar("ReplyT", bound=BaseModel)


class RMBackendError(PgrpoError):
    """A served RM that this client cannot use (wrong API, model, head, length), or a bad backend setup."""


class RMBackendConfigError(RMBackendError, ConfigError):
    """A backend that cannot be set up from the recipe; the message names the recipe key."""


class RMBackend(Protocol):
    server: str  # how the docs name the server, for error messages

    async def served(self, url: str, get: Get) -> tuple[RMManifest, int]:
        """(manifest, max_length) of what `url` serves; RMBackendError when unusable, Retryable when unreadable."""
        ...

    def request(self, chunk: Sequence[RMItem], manifest: RMManifest) -> tuple[str, dict[str, Any], Parse]:
        """(path, JSON body, parser of the reply into one ItemScore per item) for one chunk. Called off the
        client's event loop, on one worker thread (it may tokenise), so never twice at once."""
        ...


def _reply(model: type[ReplyT], raw: bytes, what: str = "garbage reply") -> ReplyT:
    """A reply parsed as `model`; garbage is Retryable."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise Retryable(f"{what}: {exc.errors()[:1]}") from None


# -- pgrpo rm serve ------------------------------------------------------------------------
class PgrpoBackend:
    """`pgrpo rm serve` (the API above)."""

    server = "`pgrpo rm serve`"
    needs_rm_path = False  # reward.rm_path is not required

    def __init__(self, rm_path: str | None = None, max_length: int | None = None) -> None:
        pass  # the service encodes: nothing to read here

    async def served(self, url: str, get: Get) -> tuple[RMManifest, int]:
        health = _reply(Health, await get(url, HEALTH_PATH), "unreadable /health reply")
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
            reply = _reply(ScoreResponse, raw)
            if len(reply.results) != len(chunk):
                raise Retryable(f"garbage reply: {len(reply.results)} results for {len(chunk)} items")
            return reply.results

        return SCORE_PATH, body, parse


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


# The RM directory's small files that name the served model (present ones are hashed, in this
# order); the weights are left out, so a local copy without them has the same fingerprint.
FINGERPRINT_FILES = (MANIFEST_FILE, "config.json", "tokenizer.json", "tokenizer_config.json",
                     "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt", "tokenizer.model",
                     "chat_template.jinja")
FINGERPRINT_REQUIRED = (MANIFEST_FILE, "config.json")
SERVED_NAME_PREFIX = "pgrpo-rm-"


def vllm_served_name(rm_path: str | Path) -> tuple[str, tuple[str, ...]]:
    """(the --served-model-name vLLM must serve the RM in `rm_path` under, the files it hashes):
    "pgrpo-rm-" + 16 hex digits of a sha256 over FINGERPRINT_FILES' names and bytes.
    RMBackendError naming the directory when a required file is missing."""
    root = Path(rm_path)
    missing = [name for name in FINGERPRINT_REQUIRED if not (root / name).is_file()]
    if missing:
        raise RMBackendError(f"{rm_path} has no {' or '.join(missing)}: copy the whole served RM directory, "
                             f"weights excepted (docs/rm-service.md)")
    digest = hashlib.sha256()
    hashed = []
    for name in FINGERPRINT_FILES:
        path = root / name
        if path.is_file():
            digest.update(f"{name}\0{path.stat().st_size}\0".encode())
            digest.update(path.read_bytes())
            hashed.append(name)
    return SERVED_NAME_PREFIX + digest.hexdigest()[:16], tuple(hashed)


class VLLMBackend:
    """vLLM's classification endpoint serving the scalar RM saved at `rm_path` (read here for its
    manifest and tokenizer only) under the name `vllm_served_name(rm_path)`."""

    server = "`vllm serve` (docs/rm-service.md)"
    needs_rm_path = True

    def __init__(self, rm_path: str | None, max_length: int | None = None) -> None:
        from transformers import AutoTokenizer

        if not rm_path:
            raise RMBackendConfigError("reward.rm_path: reward.rm_backend=vllm needs a local copy of the RM directory "
                                       "vLLM serves (its manifest and tokenizer encode the items; no weights are "
                                       "loaded)")
        try:
            self.manifest = read_manifest(rm_path)
            self.served_name, self.fingerprinted = vllm_served_name(rm_path)
        except PgrpoError as exc:
            raise RMBackendConfigError(f"reward.rm_path: {exc}") from None
        if self.manifest.implicit is not None:
            raise RMBackendConfigError(
                f"reward.rm_backend: vllm serves the scalar head only, but {rm_path} is an implicit RM (a log-ratio "
                f"of the model and its reference, which vLLM's pooling API cannot compute); serve it with "
                f"`pgrpo rm serve --model {rm_path}`")
        self.rm_path = rm_path
        self.max_length = max_length or self.manifest.max_length
        try:
            self.tokenizer = ensure_pad_token(AutoTokenizer.from_pretrained(rm_path))
        except OSError as exc:
            raise RMBackendConfigError(f"reward.rm_path: cannot load the tokenizer of {rm_path}: {exc}") from None

    async def served(self, url: str, get: Get) -> tuple[RMManifest, int]:
        what = f"unreadable {VLLM_MODELS_PATH} reply (is this vLLM?)"
        models = _reply(_ModelList, await get(url, VLLM_MODELS_PATH), what)
        card = next((c for c in models.data if c.id == self.served_name), None)
        if card is None:
            listed = ", ".join(f"{c.id!r} (root {c.root!r})" for c in models.data) or "no model"
            raise RMBackendError(
                f"vLLM at {url} serves {listed}, not the RM in reward.rm_path={self.rm_path}: that RM is served as "
                f"{self.served_name!r} (a hash of its {', '.join(self.fingerprinted)}). Start vLLM on that RM with "
                f"--served-model-name {self.served_name} (`pgrpo rm vllm-name {self.rm_path}` prints it), or point "
                f"reward.rm_path at a copy of the directory that URL serves")
        if card.max_model_len is not None and card.max_model_len < self.max_length:
            raise RMBackendError(f"vLLM at {url}: max_model_len={card.max_model_len} is below the RM's max_length "
                                 f"{self.max_length}; restart it with --max-model-len {self.max_length}")
        return self.manifest, self.max_length

    def encode(self, item: RMItem) -> tuple[list[int], bool]:
        """(token ids vLLM must score, truncated): `encode_rm_input`'s ids, cut after the last token that
        is not the pad token - the token transformers' sequence-classification head reads (with pad ==
        eos, the one before the final eos), while vLLM reads the LAST token it is given."""
        code = item.code if self.manifest.include_code else None
        encoded = encode_rm_input(self.tokenizer, item.statement, item.reasoning, code, self.max_length)
        ids, pad = encoded.input_ids, self.tokenizer.pad_token_id
        last = max((i for i, t in enumerate(ids) if t != pad), default=0)
        return ids[:last + 1], encoded.truncated

    def request(self, chunk: Sequence[RMItem], manifest: RMManifest) -> tuple[str, dict[str, Any], Parse]:
        encoded = [self.encode(it) for it in chunk]
        body: dict[str, Any] = {"model": self.served_name, "input": [ids for ids, _ in encoded],
                                "use_activation": False}

        def parse(raw: bytes) -> list[ItemScore]:
            reply = _reply(_ClassificationResponse, raw)
            rows = sorted(reply.data, key=lambda d: d.index)
            if [d.index for d in rows] != list(range(len(chunk))):
                raise Retryable(f"garbage reply: indices {[d.index for d in reply.data]} for {len(chunk)} items")
            wrong = next((d for d in rows if d.num_classes != 1 or len(d.probs) != 1), None)
            if wrong is not None:
                raise RMBackendError(f"vLLM at {VLLM_CLASSIFY_PATH} returned {wrong.num_classes} classes "
                                     f"({len(wrong.probs)} values) for item {wrong.index}: not a scalar reward model "
                                     f"(num_labels must be 1)")
            raws = [d.probs[0] for d in rows]
            if not all(math.isfinite(r) for r in raws):
                raise Retryable(f"garbage reply: non-finite scores {raws}")
            return [ItemScore(raw=r, score=s, truncated=t) for r, s, (_, t) in zip(raws, sigmoid(raws), encoded)]

        return VLLM_CLASSIFY_PATH, body, parse


RM_BACKENDS: dict[str, type[PgrpoBackend] | type[VLLMBackend]] = {"pgrpo": PgrpoBackend, "vllm": VLLMBackend}


def make_backend(name: str, rm_path: str | None = None, max_length: int | None = None) -> RMBackend:
    """The backend named `name` (`reward.rm_backend`), set up for `rm_path`; ConfigError naming the
    recipe key when it cannot be (an unknown name; for vllm a missing, implicit or unreadable RM)."""
    if name not in RM_BACKENDS:
        raise ConfigError(f"reward.rm_backend: unknown reward-model backend {name!r}; known: "
                          f"{', '.join(sorted(RM_BACKENDS))}")
    return RM_BACKENDS[name](rm_path, max_length)
