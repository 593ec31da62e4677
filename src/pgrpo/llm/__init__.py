"""Chat LLM backends behind one interface (`ChatBackend`, registry `BACKENDS`, `make_backend`): "hf",
"openai" (any OpenAI-compatible endpoint), "vllm"; `CachedBackend` (on-disk cache); `pgrpo serve`.
Importing this package loads no model library.
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
