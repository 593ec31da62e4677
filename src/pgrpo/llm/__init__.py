"""Chat LLM backends behind one interface, with an on-disk cache, and `pgrpo serve`.

Public API: `ChatRequest`, `ChatResult` (pgrpo.llm.types); `ChatBackend`, `BACKENDS`,
`make_backend` (pgrpo.llm.make); `CachedBackend`, `UsageReport` (pgrpo.llm.cache).
Backends: "hf" (local transformers model, pgrpo.llm.hf), "openai" (any OpenAI-compatible
endpoint, pgrpo.llm.openai_compat), "vllm" (pgrpo.llm.vllm_backend). Importing this package
loads no model library.
"""

from pgrpo.llm.base import BACKENDS, BackendError, ChatBackend
from pgrpo.llm.cache import CachedBackend, UsageReport
from pgrpo.llm.make import make_backend
from pgrpo.llm.types import ChatRequest, ChatResult

__all__ = [
    "BACKENDS",
    "BackendError",
    "CachedBackend",
    "ChatBackend",
    "ChatRequest",
    "ChatResult",
    "UsageReport",
    "make_backend",
]
