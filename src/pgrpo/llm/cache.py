"""`CachedBackend`: every backend call goes through it. Results are keyed by a hash of backend, model,
messages and sampling parameters in an append-only sqlite table, one transaction per chunk: a killed run
keeps its finished chunks, a rerun resumes; failed items are never cached. Identical requests get the
same cached texts even when sampling: ask for `n` samples or vary `seed` for different ones.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pgrpo.errors import PgrpoError
from pgrpo.llm.base import ChatBackend, ChatRequest, ChatResult

CACHE_FILE = "chat_cache.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    texts TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created REAL NOT NULL
)
"""
MAX_ERROR_EXAMPLES = 5


@dataclass
class UsageReport:
    """Counts for one CachedBackend's lifetime (`requests` = calls + cache_hits + duplicates)."""

    requests: int = 0
    calls: int = 0  # requests actually sent to the backend
    cache_hits: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    error_examples: list[str] = field(default_factory=list)

    def format(self) -> str:
        lines = [
            f"LLM usage: {self.requests} requests, {self.calls} backend calls, {self.cache_hits} cache hits, "
            f"{self.failures} failures; tokens {self.prompt_tokens} prompt + {self.completion_tokens} "
            f"completion; {self.seconds:.1f}s in the backend"
        ]
        lines += [f"  failure: {e}" for e in self.error_examples]
        return "\n".join(lines)


class CompletionCache:
    """The sqlite store: `get(keys)` and `put(rows)` (one transaction, INSERT OR IGNORE)."""

    def __init__(self, cache_dir: str | Path) -> None:
        self.path = Path(cache_dir) / CACHE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(_SCHEMA)
            self._conn.commit()
        except sqlite3.DatabaseError as exc:
            raise PgrpoError(f"{self.path}: cannot open the LLM cache: {exc}") from exc

    def get(self, keys: Sequence[str]) -> dict[str, ChatResult]:
        found: dict[str, ChatResult] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):  # sqlite caps bound parameters
                part = unique[start:start + 500]
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(
                    f"SELECT key, texts, prompt_tokens, completion_tokens FROM completions WHERE key IN ({marks})",  # noqa: S608
                    part,
                ).fetchall()
                for key, texts, ptok, ctok in rows:
                    found[key] = ChatResult(json.loads(texts), None, True, ptok, ctok)
        return found

    def put(self, backend: str, model: str, items: Sequence[tuple[str, ChatRequest, ChatResult]]) -> None:
        now = time.time()
        rows = [
            (key, backend, model, json.dumps(req.to_dict(), ensure_ascii=False),
             json.dumps(res.texts, ensure_ascii=False), res.prompt_tokens, res.completion_tokens, now)
            for key, req, res in items
        ]
        with self._lock, self._conn:  # one transaction: all rows of the chunk or none
            self._conn.executemany("INSERT OR IGNORE INTO completions VALUES (?,?,?,?,?,?,?,?)", rows)

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class CachedBackend(ChatBackend):
    """Wraps `backend`: cached results come from disk, misses are generated chunk by chunk and saved."""

    def __init__(self, backend: ChatBackend, cache_dir: str | Path | None, chunk_size: int | None = None) -> None:
        self.backend = backend
        self.name = backend.name
        self.model = backend.model
        self.chunk_size = int(chunk_size or backend.chunk_size)
        self.cache = CompletionCache(cache_dir) if cache_dir is not None else None
        self.usage = UsageReport()

    def generate(self, requests: Sequence[ChatRequest], progress: bool = False) -> list[ChatResult]:
        from tqdm.auto import tqdm

        keys = [r.cache_key(self.name, self.model) for r in requests]
        first: dict[str, ChatRequest] = {}  # each distinct request, generated once
        for key, req in zip(keys, requests):
            first.setdefault(key, req)
        counts = Counter(keys)
        done = self.cache.get(keys) if self.cache is not None else {}
        n_hits = sum(counts[k] for k in done)
        misses = [k for k in first if k not in done]
        self.usage.requests += len(requests)
        self.usage.cache_hits += n_hits
        bar = tqdm(total=len(requests), initial=n_hits, desc=f"{self.name}:{Path(self.model).name or self.model}",
                   unit="req", disable=not progress, dynamic_ncols=True)
        try:
            for start in range(0, len(misses), self.chunk_size):
                chunk = misses[start:start + self.chunk_size]
                done.update(zip(chunk, self._call([first[k] for k in chunk])))
                to_store = [(k, first[k], done[k]) for k in chunk if done[k].ok]
                if to_store and self.cache is not None:
                    self.cache.put(self.name, self.model, to_store)
                bar.update(sum(counts[k] for k in chunk))
                bar.set_postfix(hits=self.usage.cache_hits, failed=self.usage.failures)
        finally:
            bar.close()
        # copies: callers may edit
        return [dataclasses.replace(done[k], texts=list(done[k].texts)) for k in keys]

    def _call(self, requests: list[ChatRequest]) -> list[ChatResult]:
        """Run the inner backend on one chunk; any crash or bad result becomes per-item errors."""
        t0 = time.perf_counter()
        try:
            out = list(self.backend.generate(requests, progress=False))
            if len(out) != len(requests):
                raise RuntimeError(f"backend returned {len(out)} results for {len(requests)} requests")
        except Exception as exc:  # noqa: BLE001 - a backend bug must not lose the run's finished work
            out = [ChatResult([], f"{type(exc).__name__}: {exc}") for _ in requests]
        self.usage.seconds += time.perf_counter() - t0
        self.usage.calls += len(requests)
        checked = []
        for req, res in zip(requests, out):
            if res.ok and len(res.texts) != req.n:
                res = ChatResult([], f"backend returned {len(res.texts)} texts, expected n={req.n}")
            if res.ok:
                self.usage.prompt_tokens += res.prompt_tokens
                self.usage.completion_tokens += res.completion_tokens
            else:
                self.usage.failures += 1
                if len(self.usage.error_examples) < MAX_ERROR_EXAMPLES:
                    self.usage.error_examples.append(str(res.error))
            checked.append(res)
        return checked

    def close(self) -> None:
        self.backend.close()
        if self.cache is not None:
            self.cache.close()
