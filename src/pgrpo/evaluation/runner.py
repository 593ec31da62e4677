"""`evaluate(config)`, the pipeline behind `pgrpo evaluate`: load -> preflight (BigCodeBench libraries) ->
generate the missing samples (not with `rescore`) -> check them through `pgrpo.verify` (the judgement
training uses) -> summarize. Every stage appends finished work to the output directory: resumable.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, field_validator, model_validator

from pgrpo.config import COMMA_LIST, KEY_YAML_VALUES, Flag, OptionsModel
from pgrpo.data.cli_args import PromptStyleName
from pgrpo.errors import PgrpoError
from pgrpo.evaluation.benchmarks import (
    EvalTask,
    ensure_libraries,
    load_benchmark,
    parse_data_overrides,
    task_messages,
)
from pgrpo.evaluation.records import OutputDir, ResultRecord, RunSettings, SampleRecord
from pgrpo.evaluation.summary import DEFAULT_KS, DateWindow, EvalSummary, summarize, write_summary
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.verify import Verifier

if TYPE_CHECKING:
    from pgrpo.llm import ChatBackend

CHUNK = 64  # samples per verification call between checkpoints
LCB_OPTION_KEYS = ("start_date", "end_date", "difficulty")


class EvalConfig(OptionsModel):
    """Everything one `pgrpo evaluate` run needs, and its flags. `data` maps benchmark -> local file;
    `lcb_options` go to the LiveCodeBench loader (start_date, end_date, difficulty, ...).
    A bad value is a ConfigError naming its flag."""

    model: str | None = Field(
        default=None, description="checkpoint path or hub id (not needed with --rescore)")
    benchmarks: Annotated[list[str], COMMA_LIST] = Field(
        default_factory=lambda: ["humaneval"], min_length=1,
        description="comma-separated: humaneval, humaneval_plus, mbpp, mbpp_plus, lcb, math500, aime24, "
                    "minerva, bigcodebench, bigcodebench_instruct, bigcodebench_hard, "
                    "bigcodebench_hard_instruct, file:PATH (default: humaneval)")
    out_dir: Annotated[str, Flag("--out")] = Field(
        description="output directory (samples, results, summary); resumable")
    n: int = Field(default=1, ge=1, description="samples per problem (default 1)")
    temperature: float = Field(default=0.0, description="0 = greedy (default)")
    top_p: float = 1.0
    max_tokens: int = Field(default=4096, description="generation limit (paper: 4K)")
    seed: int = 0
    backend: str = Field(default="hf", description="hf | vllm | openai (default hf)")
    backend_options: Annotated[dict[str, Any], KEY_YAML_VALUES,
                               Flag("--backend-option", metavar="KEY=VALUE", repeat=True)] = (
        Field(default_factory=dict,
              description="backend option, e.g. max_batch_size=4 or base_url=http://localhost:8000/v1"))
    prompt_style: Annotated[PromptStyleName, Flag("--prompt")] = Field(default="pgrpo", description=(
        "a registered prompt style: pgrpo = the training format (<think>/<answer>), plain = an instruct "
        "prompt, or one a plugin registers"))
    rescore: bool = Field(default=False, description="only re-check the samples already in --out")
    data: Annotated[dict[str, str], Flag(metavar="NAME=PATH", repeat=True)] = Field(
        default_factory=dict,
        description="use a local file for benchmark NAME (needed offline for all but humaneval)")
    limit: int | None = Field(default=None, description="first N problems of each benchmark (smoke tests)")
    ks: Annotated[tuple[int, ...], Flag("--k")] = Field(
        default=DEFAULT_KS, description="pass@k values to report (those <= n)")
    lcb_windows: Annotated[tuple[DateWindow, ...], Flag("--lcb-window", metavar="START:END", repeat=True)] = (
        Field(default=(), description="report LiveCodeBench pass@k for contest dates in this window (ISO "
                                      "dates)"))
    lcb_options: Annotated[dict[str, Any], Flag(cli=False)] = Field(default_factory=dict)
    sandbox: Annotated[SandboxConfig, Flag(cli=False)] = SandboxConfig()
    cache_dir: str | None = Field(
        default=None, description="also cache raw completions here (sqlite, shared across runs)")
    progress: Annotated[bool, Flag("--no-progress")] = True

    @field_validator("data", mode="before")
    @classmethod
    def _data_files(cls, value: Any) -> Any:
        return parse_data_overrides(value) if isinstance(value, list) else value

    @field_validator("ks", mode="before")
    @classmethod
    def _ks(cls, value: Any) -> Any:
        return cls.parse_ks(value) if isinstance(value, str) else value

    @staticmethod
    def parse_ks(text: str) -> tuple[int, ...]:
        """"1,10" -> (1, 10); a ValueError unless every k is an integer >= 1."""
        try:
            ks = tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise ValueError(f"expected comma-separated integers like 1,10, got {text!r}") from None
        if not ks or any(k < 1 for k in ks):
            raise ValueError(f"every k must be >= 1, got {text!r}")
        return ks

    @field_validator("lcb_windows", mode="before")
    @classmethod
    def _windows(cls, value: Any) -> Any:
        return tuple(DateWindow.parse(w) if isinstance(w, str) else w for w in value)

    @model_validator(mode="after")
    def _check(self) -> EvalConfig:
        if len(set(self.benchmarks)) != len(self.benchmarks):
            raise ValueError(f"benchmarks listed twice: {self.benchmarks}")
        if not self.rescore and not self.model:
            raise ValueError("--model is required unless --rescore")
        unknown = set(self.lcb_options) - set(LCB_OPTION_KEYS)
        if unknown:
            raise ValueError(f"unknown LiveCodeBench options {sorted(unknown)}; known: {list(LCB_OPTION_KEYS)}")
        return self

    def settings(self) -> RunSettings:
        return RunSettings(**self.model_dump(include={f.name for f in dataclasses.fields(RunSettings)}))


@dataclass(frozen=True)
class Pending:
    """A task still missing samples `indices`, with the messages to send."""

    task: EvalTask
    messages: list[dict[str, str]]
    indices: tuple[int, ...]


@dataclass
class GenerationReport:
    generated: int = 0
    reused: int = 0
    already_done: int = 0
    failed_requests: int = 0
    errors: list[str] = field(default_factory=list)


def _prompt_key(task_id: str, messages: list[dict[str, str]]) -> tuple[str, str]:
    return task_id, json.dumps(messages, sort_keys=True, ensure_ascii=False)


def plan_generation(tasks: Sequence[EvalTask], existing: Sequence[SampleRecord], n: int,
                    style: str) -> tuple[list[Pending], list[SampleRecord], int]:
    """-> (pending requests, samples to copy from an identical prompt, count already done)."""
    done = {s.key for s in existing}
    by_prompt: dict[tuple[str, str], dict[int, SampleRecord]] = {}
    for s in existing:
        by_prompt.setdefault(_prompt_key(s.task_id, s.prompt), {}).setdefault(s.sample_index, s)
    pending: list[Pending] = []
    copies: list[SampleRecord] = []
    already = 0
    for task in tasks:
        messages = task_messages(task, style)
        reusable = by_prompt.get(_prompt_key(task.task_id, messages), {})
        missing = []
        for i in range(n):
            if (task.benchmark, task.task_id, i) in done:
                already += 1
            elif i in reusable:
                copies.append(SampleRecord(task.benchmark, task.task_id, i, messages, reusable[i].response))
            else:
                missing.append(i)
        if missing:
            pending.append(Pending(task, messages, tuple(missing)))
    return pending, copies, already


def generate_samples(tasks: Sequence[EvalTask], backend: ChatBackend, out: OutputDir, settings: RunSettings,
                     progress: bool = True) -> GenerationReport:
    """Give every task `settings.n` samples in `out`, generating only what is missing (a failed request
    is counted and left for the next run); samples of an identical prompt (HumanEval -> HumanEval+) are
    copied, as EvalPlus does."""
    from tqdm.auto import tqdm

    from pgrpo.llm.base import ChatRequest

    report = GenerationReport()
    out.prepare_append()
    pending, copies, report.already_done = plan_generation(tasks, out.read_samples(), settings.n,
                                                           settings.prompt_style)
    for rec in copies:
        out.append_sample(rec)
    report.reused = len(copies)
    total = sum(len(p.indices) for p in pending)
    chunk = max(1, int(getattr(backend, "chunk_size", 8)))
    with tqdm(total=total, desc="generating", unit="sample", disable=not progress or total == 0) as bar:
        for start in range(0, len(pending), chunk):
            group = pending[start:start + chunk]
            requests = [ChatRequest(p.messages, temperature=settings.temperature, top_p=settings.top_p,
                                    max_tokens=settings.max_tokens, n=len(p.indices),
                                    seed=settings.seed + p.indices[0]) for p in group]
            results = backend.generate(requests)
            for p, res in zip(group, results):
                if not res.ok or len(res.texts) != len(p.indices):
                    report.failed_requests += 1
                    if len(report.errors) < 5:
                        report.errors.append(f"{p.task.benchmark} {p.task.task_id}: {res.error}")
                    continue
                for index, text in zip(p.indices, res.texts):
                    out.append_sample(SampleRecord(p.task.benchmark, p.task.task_id, index, p.messages, text))
                    report.generated += 1
            bar.update(sum(len(p.indices) for p in group))
    return report


@dataclass(frozen=True)
class TokenCounter:
    """`count(text)`; `name` ("tokenizer:<model>" or "whitespace") is printed, so numbers from different
    counters are never compared by accident."""

    name: str
    _count: Callable[[str], int]

    def count(self, text: str) -> int:
        return self._count(text) if text else 0


def whitespace_counter() -> TokenCounter:
    return TokenCounter("whitespace", lambda text: len(text.split()))


def make_token_counter(model: str | None) -> TokenCounter:
    """The model's tokenizer if it loads without network (a local dir, or a hub id already cached),
    else whitespace words."""
    if not model:
        return whitespace_counter()
    if Path(model).is_dir():
        found = any((Path(model) / name).is_file() for name in ("tokenizer_config.json", "tokenizer.json"))
    else:
        try:
            from huggingface_hub import try_to_load_from_cache

            found = isinstance(try_to_load_from_cache(model, "tokenizer_config.json"), str)
        except (ImportError, ValueError):  # ValueError: not a valid repo id (API model names)
            found = False
    if not found:
        return whitespace_counter()
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
    except (OSError, ValueError, ImportError, KeyError):
        return whitespace_counter()
    return TokenCounter(f"tokenizer:{model}",
                        lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"]))


def check_samples(items: Sequence[tuple[EvalTask, SampleRecord]], out: OutputDir, counter: TokenCounter,
                  sandbox: SandboxConfig | None = None, progress: bool = True) -> list[ResultRecord]:
    """Verify every (task, sample) with the `Verifier` the RL outcome reward uses (a test kind's own
    limits too), appending each ResultRecord to `out` as its chunk finishes."""
    from tqdm.auto import tqdm

    records: list[ResultRecord] = []
    with tqdm(total=len(items), desc="checking", unit="sample", disable=not progress) as bar, \
            Verifier(sandbox or SandboxConfig()) as verifier:
        for start in range(0, len(items), CHUNK):
            chunk = items[start:start + CHUNK]
            verdicts = verifier([(task.task, sample.response) for task, sample in chunk])
            for (_, sample), v in zip(chunk, verdicts, strict=True):
                rec = ResultRecord(sample.benchmark, sample.task_id, sample.sample_index, v.passed, v.status,
                                   v.pass_fraction, v.format_ok, counter.count(v.reasoning),
                                   counter.count(v.answer), v.detail)
                out.append_result(rec)
                records.append(rec)
            bar.update(len(chunk))
    return records


@dataclass
class EvalOutcome:
    summary: EvalSummary
    generation: GenerationReport | None
    checked: int
    out: OutputDir


def evaluate(config: EvalConfig, backend: ChatBackend | None = None) -> EvalOutcome:
    """Run the pipeline; `backend` (a ChatBackend) overrides building one from the config."""
    from pgrpo.llm import CachedBackend, make_backend

    out = OutputDir(config.out_dir)
    tasks = {name: load_benchmark(name, data=config.data, limit=config.limit,
                                  options=config.lcb_options if name == "lcb" else {})
             for name in config.benchmarks}
    ensure_libraries(tasks, config.sandbox)  # before anything is generated or checked
    generation = None
    if config.rescore:
        if not out.samples_path.is_file():
            raise PgrpoError(f"--rescore: {out.samples_path}: no samples to check")
        settings = out.read_settings()
    else:
        settings = config.settings()
        out.check_settings(settings)
        chat = backend
        if chat is None:  # per-item errors, optional disk cache
            chat = CachedBackend(make_backend(config.backend, str(config.model), **config.backend_options),
                                 config.cache_dir)
        try:
            generation = generate_samples([t for ts in tasks.values() for t in ts], chat, out, settings,
                                          progress=config.progress)
        finally:
            if backend is None:
                chat.close()

    out.prepare_append()
    samples = out.read_samples()
    if len(config.benchmarks) == 1:  # samples written by other tools carry no benchmark: they are its
        samples = [dataclasses.replace(s, benchmark=s.benchmark or config.benchmarks[0]) for s in samples]
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
