"""`pgrpo evaluate`'s output directory: samples.jsonl and results.jsonl (`Journal`s keyed by
(benchmark, task_id, sample_index): a torn last line is cut on open), run.json (the generation
settings: a resumed run cannot silently mix models) and summary.json / summary.md.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from pgrpo.config import config_error
from pgrpo.data.journal import Journal
from pgrpo.errors import DataError, PgrpoError


@dataclass(frozen=True)
class _Keyed:
    benchmark: str
    task_id: str
    sample_index: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.benchmark, self.task_id, self.sample_index)


@dataclass(frozen=True)
class SampleRecord(_Keyed):
    """One generated response. `prompt` is the chat messages sent to the model."""

    prompt: list[dict[str, str]]
    response: str

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> SampleRecord:
        prompt = d.get("prompt") or []
        if isinstance(prompt, str):  # samples written by other tools: a plain prompt string
            prompt = [{"role": "user", "content": prompt}]
        return _record(cls, {"benchmark": "", **d, "prompt": prompt}, f"{where}: bad sample record")


@dataclass(frozen=True)
class ResultRecord(_Keyed):
    """The verdict on one sample (code: sandbox result; math: answer equivalence)."""

    passed: bool
    status: str
    pass_fraction: float = 0.0
    format_ok: bool = False
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    detail: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> ResultRecord:
        return _record(cls, d, f"{where}: bad result record")


R = TypeVar("R")


def _record(cls: type[R], d: dict[str, Any], what: str) -> R:
    """`cls` from a JSON line's fields (other keys ignored); DataError naming what is missing or wrong."""
    if "task_id" in d:  # other tools' samples may number their tasks
        d = {**d, "task_id": str(d["task_id"])}
    try:
        return TypeAdapter(cls).validate_python(d)
    except ValidationError as exc:
        raise DataError(f"{what}: {config_error(exc, d, None)}") from None


@dataclass(frozen=True)
class RunSettings:
    """What decides the samples; a resumed run must match (or pass --rescore)."""

    model: str
    backend: str
    prompt_style: str
    temperature: float
    top_p: float
    max_tokens: int
    n: int
    seed: int
    backend_options: dict[str, Any] = field(default_factory=dict)


def record_key(record: dict[str, Any]) -> Hashable:
    """(benchmark, task_id, sample_index) of a sample or result line (samples from other tools
    may have no benchmark)."""
    return (str(record.get("benchmark", "")), str(record["task_id"]), int(record["sample_index"]))


class OutputDir:
    """An evaluation output directory (created on first write)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.samples_path = self.root / "samples.jsonl"
        self.results_path = self.root / "results.jsonl"
        self.run_path = self.root / "run.json"
        self.summary_json = self.root / "summary.json"
        self.summary_md = self.root / "summary.md"
        self.prepare_append()

    def read_samples(self) -> list[SampleRecord]:
        return [SampleRecord.from_dict(r, str(self.samples_path)) for r in self.samples]

    def read_results(self) -> list[ResultRecord]:
        return [ResultRecord.from_dict(r, str(self.results_path)) for r in self.results]

    def append_sample(self, record: SampleRecord) -> None:
        self.samples.append(asdict(record))

    def append_result(self, record: ResultRecord) -> None:
        self.results.append(asdict(record))

    def prepare_append(self) -> None:
        """(Re)read both journals from disk, cutting an interrupted run's torn tails. In samples a
        duplicated key (two runs racing) keeps the first occurrence; in results the latest
        verdict (a re-check) wins."""
        self.samples = Journal(self.samples_path, key=record_key, strict=False)
        self.results = Journal(self.results_path, key=record_key, replace=True, strict=False)

    def drop_results(self, keys: set[tuple[str, str, int]]) -> None:
        """Forget the verdicts on `keys` (for --rescore), keeping all others; atomic rewrite."""
        self.results.retain(lambda r: record_key(r) not in keys)

    def check_settings(self, settings: RunSettings) -> None:
        """Record `settings`, or raise if existing samples were made with different ones."""
        if self.run_path.is_file():
            try:
                old = json.loads(self.run_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise DataError(f"{self.run_path}: invalid JSON: {exc}") from exc
            new = asdict(settings)
            diff = sorted(k for k in new if k in old and old[k] != new[k])
            if diff and self.samples_path.is_file() and self.samples_path.stat().st_size:
                changes = ", ".join(f"{k}: {old[k]!r} -> {new[k]!r}" for k in diff)
                raise PgrpoError(
                    f"{self.run_path}: existing samples were generated with different settings ({changes}); "
                    "use a new --out directory, or --rescore to only re-check the existing samples"
                )
        self.root.mkdir(parents=True, exist_ok=True)
        self.run_path.write_text(json.dumps(asdict(settings), indent=2) + "\n", encoding="utf-8")

    def read_settings(self) -> RunSettings | None:
        if not self.run_path.is_file():
            return None
        try:
            return RunSettings(**json.loads(self.run_path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError) as exc:
            raise DataError(f"{self.run_path}: not a pgrpo run settings file: {exc}") from exc
