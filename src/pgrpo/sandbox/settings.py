"""`SandboxConfig` (pydantic): the sandbox limits' names, defaults and meaning, kept out of types.py
(which the worker imports in the jail, standard library only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from pgrpo.config import ConfigModel
from pgrpo.sandbox.types import Isolation


class SandboxConfig(ConfigModel):
    """A recipe's `sandbox:` section and the `--sandbox-*` flags (pgrpo.sandbox.cli_args) are built from
    these fields. With `url`, jobs go to `pgrpo sandbox serve` services (pgrpo.sandbox.remote)."""

    model_config = ConfigDict(frozen=True)

    timeout_per_test_s: float = Field(default=4.0, gt=0, description="wall-clock seconds for one test (one call, "
                                      "one stdin case, or the whole humaneval `check`)")
    timeout_per_program_s: float = Field(default=30.0, gt=0, description="wall-clock seconds for all tests of one "
                                         "program together (CPU time is capped too: RLIMIT_CPU = this + 2 s)")
    memory_mb: int = Field(default=4096, gt=0, description="address-space cap (RLIMIT_AS) in MiB of every process "
                           "a program starts")
    output_limit_bytes: int = Field(default=1 << 20, gt=0, description="stdout+stderr kept per test; more is "
                                    "output_exceeded")
    workers: int = Field(default=0, ge=0, validate_default=True, description="sandboxed worker processes run in "
                         "parallel (0 = the CPUs this process may use - affinity and cgroup quota - divided by the "
                         "ranks on this node (LOCAL_WORLD_SIZE, or MPI's / Slurm's per-node count), at least 1)")
    isolation: Isolation = Field(default="auto", description="auto (bwrap if usable, else unshare; never none: an "
                                 "error if neither works), or demand bwrap / unshare, or accept none explicitly")
    max_processes: int = Field(default=64, gt=0, description="processes (incl. threads) one program may have at once")
    scratch_mb: int = Field(default=64, gt=0, description="size in MiB of the per-job private tmpfs scratch directory")
    url: str | tuple[str, ...] = Field(default=(), description="`pgrpo sandbox serve` URL(s) to send jobs to instead "
                                       "of a local pool (token: env PGRPO_SANDBOX_TOKEN)")
    request_timeout_s: float = Field(default=0.0, ge=0, description="seconds a sandbox service may take for one "
                                     "request (0 = from the batch size, the service's workers and the limits)")
    retries: int = Field(default=3, ge=0, description="retries (with backoff, on the next URL) of a failed "
                         "sandbox-service request")

    # The fields a user asked for by name (flags, `given`): a kind's own limits never replace them. Not the
    # fields a recipe writes: the shipped recipes write the defaults, which a kind's limits must still replace.
    _explicit: frozenset[str] = PrivateAttr(default=frozenset())

    @classmethod
    def given(cls, **values: Any) -> SandboxConfig:
        """A config of `values`, every one of them explicit (as `--sandbox-*` flags are)."""
        return cls(**values).with_explicit(values)

    def with_explicit(self, names: Iterable[str]) -> SandboxConfig:
        """This config with `names` marked explicit (kept over a test kind's own limits)."""
        config = self.model_copy()
        config._explicit = frozenset(names)
        return config

    @field_validator("workers")
    @classmethod
    def _default_workers(cls, workers: int) -> int:
        from pgrpo.sandbox.resources import default_workers

        return workers or default_workers()

    @field_validator("url", mode="before")
    @classmethod
    def _parse_urls(cls, url: Any) -> Any:
        from pgrpo.serving import parse_urls

        if isinstance(url, str) and not url.replace(",", " ").strip() or not url:
            return ()
        return parse_urls(url, "url") if isinstance(url, (str, list, tuple)) else url

    @property
    def explicit(self) -> frozenset[str]:
        """The fields given by flag or `given`: a test kind's own limits (pgrpo.sandbox.kinds) never
        replace those (nor a limit changed from its default, e.g. in a recipe)."""
        return self._explicit

    @property
    def urls(self) -> tuple[str, ...]:
        """The sandbox-service URLs (empty: run jobs in a local pool)."""
        return self.url if isinstance(self.url, tuple) else (self.url,)
