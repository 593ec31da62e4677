"""`evaluate(config)`: the whole evaluation pipeline behind `pgrpo evaluate`.

Owns `EvalConfig` and `EvalOutcome`. Stages: load benchmarks -> check that the sandbox can import
the libraries BigCodeBench tasks use (pgrpo.evaluation.preflight) -> generate the missing samples
(resumable; skipped with `rescore`) -> check the samples that have no verdict yet (all of
them with `rescore`) -> summarize -> write summary.json / summary.md. Each stage appends
finished work to the output directory, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator

from pgrpo.config import OptionsModel
from pgrpo.data.cli_args import checked_prompt_style
from pgrpo.errors import PgrpoError
from pgrpo.evaluation.benchmarks import EvalTask, load_benchmark
from pgrpo.evaluation.generate import GenerationReport, generate_samples
from pgrpo.evaluation.lengths import make_token_counter
from pgrpo.evaluation.preflight import ensure_libraries
from pgrpo.evaluation.records import OutputDir, ResultRecord, RunSettings, SampleRecord
from pgrpo.evaluation.report import write_summary
from pgrpo.evaluation.scoring import check_samples
from pgrpo.evaluation.summary import DEFAULT_KS, DateWindow, EvalSummary, summarize
from pgrpo.sandbox.settings import SandboxConfig

if TYPE_CHECKING:
    from pgrpo.llm import CachedBackend, ChatBackend

LCB_OPTION_KEYS = ("start_date", "end_date", "difficulty")


class EvalConfig(OptionsModel):
    """Everything one `pgrpo evaluate` run needs. `data` maps benchmark -> local file;
    `lcb_options` go to the LiveCodeBench loader (start_date, end_date, difficulty, ...).
    A bad value is a ConfigError naming its flag."""

    FLAGS: ClassVar[dict[str, str]] = {"out_dir": "--out", "prompt_style": "--prompt", "ks": "--k"}

    benchmarks: list[str] = Field(min_length=1)  # e.g. --benchmarks humaneval
    out_dir: str
    model: str | None = None
    backend: str = "hf"
    backend_options: dict[str, Any] = Field(default_factory=dict)
    prompt_style: str = "pgrpo"
    n: int = Field(default=1, ge=1)
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 4096
    seed: int = 0
    rescore: bool = False
    data: dict[str, str] = Field(default_factory=dict)
    limit: int | None = None
    ks: tuple[int, ...] = DEFAULT_KS
    lcb_windows: tuple[DateWindow, ...] = ()
    lcb_options: dict[str, Any] = Field(default_factory=dict)
    sandbox: SandboxConfig = SandboxConfig()
    cache_dir: str | None = None
    progress: bool = True

    @model_validator(mode="after")
    def _check(self) -> EvalConfig:
        if len(set(self.benchmarks)) != len(self.benchmarks):
            raise ValueError(f"benchmarks listed twice: {self.benchmarks}")
        checked_prompt_style(self.prompt_style)  # a registered style, else an error naming them
        if not self.rescore and not self.model:
            raise ValueError("--model is required unless --rescore")
        unknown = set(self.lcb_options) - set(LCB_OPTION_KEYS)
        if unknown:
            raise ValueError(f"unknown LiveCodeBench options {sorted(unknown)}; known: {list(LCB_OPTION_KEYS)}")
        return self

    def settings(self) -> RunSettings:
        return RunSettings(str(self.model), self.backend, self.prompt_style, float(self.temperature),
                           float(self.top_p), int(self.max_tokens), int(self.n), int(self.seed),
                           dict(self.backend_options))


@dataclass
class EvalOutcome:
    summary: EvalSummary
    generation: GenerationReport | None
    checked: int
    out: OutputDir


def load_tasks(config: EvalConfig) -> dict[str, list[EvalTask]]:
    return {name: load_benchmark(name, data=config.data, limit=config.limit,
                                 options=config.lcb_options if name == "lcb" else {})
            for name in config.benchmarks}


def build_backend(config: EvalConfig) -> CachedBackend:
    """The configured ChatBackend wrapped in CachedBackend (per-item errors, optional disk cache)."""
    from pgrpo.llm import CachedBackend, make_backend

    return CachedBackend(make_backend(config.backend, str(config.model), **config.backend_options), config.cache_dir)


def _attach_benchmark(samples: Sequence[SampleRecord], benchmarks: Sequence[str]) -> list[SampleRecord]:
    """Samples written by other tools carry no benchmark: with one benchmark, they are its."""
    if len(benchmarks) != 1:
        return list(samples)
    return [SampleRecord(benchmarks[0], s.task_id, s.sample_index, s.prompt, s.response) if not s.benchmark else s
            for s in samples]


def evaluate(config: EvalConfig, backend: ChatBackend | None = None) -> EvalOutcome:
    """Run the pipeline; `backend` (a ChatBackend) overrides building one from the config."""
    out = OutputDir(config.out_dir)
    tasks = load_tasks(config)
    ensure_libraries(tasks, config.sandbox)  # before anything is generated or checked
    generation = None
    if config.rescore:
        if not out.samples_path.is_file():
            raise PgrpoError(f"--rescore: {out.samples_path}: no samples to check")
        settings = out.read_settings()
    else:
        settings = config.settings()
        out.check_settings(settings)
        own = backend is None
        chat = build_backend(config) if backend is None else backend
        try:
            generation = generate_samples([t for ts in tasks.values() for t in ts], chat, out, settings,
                                          progress=config.progress)
        finally:
            if own:
                chat.close()

    out.prepare_append()
    samples = _attach_benchmark(out.read_samples(), config.benchmarks)
    index = {(t.benchmark, t.task_id): t for ts in tasks.values() for t in ts}
    max_n = None if config.rescore else config.n
    wanted = [s for s in samples if (s.benchmark, s.task_id) in index and (max_n is None or s.sample_index < max_n)]
    if config.rescore:
        out.drop_results({s.key for s in wanted})
        done: set[tuple[str, str, int]] = set()
    else:
        done = {r.key for r in out.read_results()}
    todo = [(index[(s.benchmark, s.task_id)], s) for s in wanted if s.key not in done]
    counter = make_token_counter(settings.model if settings is not None else config.model)
    check_samples(todo, out, counter, config.sandbox, progress=config.progress)

    wanted_keys = {s.key for s in wanted}
    results: list[ResultRecord] = [r for r in out.read_results() if r.key in wanted_keys]
    # pass@n is always reported next to the standard ks (those > n are skipped per benchmark).
    n = settings.n if settings is not None else max((r.sample_index + 1 for r in results), default=1)
    summary = summarize(tasks, results, ks=tuple(sorted({*config.ks, n})), windows=config.lcb_windows, settings=settings,
                        token_counter=counter.name)
    write_summary(summary, out.summary_json, out.summary_md)
    return EvalOutcome(summary, generation, len(todo), out)
