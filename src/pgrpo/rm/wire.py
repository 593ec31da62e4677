"""The JSON API of `pgrpo rm serve` (version 1), shared by service and client (no fastapi/httpx here):
GET /health -> Health (the RM's manifest, limits, max_length); POST /v1/score ScoreRequest
{items: [{statement, reasoning, code?}]} -> ScoreResponse {results: [{raw, score = sigmoid(raw),
truncated}]}, in item order. Unknown fields are refused (422).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pgrpo.serving import HEALTH_PATH as HEALTH_PATH  # re-exported: every path of the API is here
from pgrpo.serving import StrictModel

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
