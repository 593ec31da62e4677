"""The sandbox flags are generated from SandboxConfig: every field has one, the old short
names still work, and the limits a job carries are exactly what the worker's JobSpec takes."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from pgrpo.config import ConfigError
from pgrpo.sandbox.cli_args import add_sandbox_arguments, sandbox_config_from_args
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.testrun import JobSpec


def _parse(argv: list[str], short_flags: bool = True) -> SandboxConfig:
    parser = argparse.ArgumentParser()
    add_sandbox_arguments(parser, short_flags=short_flags)
    return sandbox_config_from_args(parser.parse_args(argv))


def test_no_flags_give_the_defaults():
    assert _parse([]) == SandboxConfig()


def test_every_field_has_a_sandbox_flag():
    values = {"timeout_per_test_s": "2.5", "timeout_per_program_s": "9", "memory_mb": "512",
              "output_limit_bytes": "1000", "workers": "3", "isolation": "none", "max_processes": "7",
              "scratch_mb": "8", "url": "http://h:1", "request_timeout_s": "60", "retries": "1"}
    assert set(values) == set(SandboxConfig.model_fields)
    argv = [arg for name, value in values.items() for arg in (f"--sandbox-{name.replace('_', '-')}", value)]
    assert _parse(argv) == SandboxConfig(**{name: type(SandboxConfig.model_fields[name].default)(value)
                                            for name, value in values.items() if name != "url"},
                                         url=("http://h:1",)).with_explicit(values)  # flags are explicit


def test_several_sandbox_urls():
    assert _parse(["--sandbox-url", "http://a:1", "http://b:2/"]).urls == ("http://a:1", "http://b:2")
    with pytest.raises(ConfigError, match=r"sandbox.url\[0\]"):
        _parse(["--sandbox-url", "a:1"])


def test_short_names_and_a_longer_timeout_raising_the_program_cap():
    config = _parse(["--timeout", "40", "--memory-mb", "256", "--workers", "1"])
    assert (config.timeout_per_test_s, config.timeout_per_program_s, config.memory_mb, config.workers) == (
        40.0, 40.0, 256, 1)
    assert _parse(["--timeout", "40", "--sandbox-timeout-per-program-s", "35"]).timeout_per_program_s == 35.0
    assert _parse(["--timeout", "2"]).timeout_per_program_s == SandboxConfig().timeout_per_program_s


def test_without_short_flags_timeout_is_free_for_the_command():
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=120.0)  # e.g. bench build's LLM request timeout
    add_sandbox_arguments(parser, short_flags=False)
    args = parser.parse_args(["--timeout", "5", "--sandbox-workers", "2"])
    assert args.timeout == 5.0 and sandbox_config_from_args(args).timeout_per_test_s == 4.0
    assert sandbox_config_from_args(args).workers == 2


def test_bad_values_are_refused():
    with pytest.raises(ConfigError, match="--sandbox-memory-mb: must be > 0, got 0"):
        _parse(["--memory-mb", "0"])
    with pytest.raises(SystemExit):
        _parse(["--sandbox-isolation", "chroot"])


def test_a_job_carries_exactly_the_limits_jobspec_requires():
    from pgrpo.sandbox.kinds import SPECS, effective_limits

    required = {f.name for f in dataclasses.fields(JobSpec)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    for kind in SPECS:  # every test kind's job, local or served (kinds.effective_limits)
        assert set(effective_limits(SandboxConfig(), kind)) == required - {"kind", "program"}


def test_serve_command_takes_its_defaults_from_the_service(monkeypatch):
    """`pgrpo sandbox serve` repeats none of the service's facts: port, bounds and token variable are read
    from pgrpo.sandbox.wire (the service's own)."""
    from pgrpo import cli
    from pgrpo.sandbox import service, wire

    for name, value in {"DEFAULT_PORT": 1234, "DEFAULT_MAX_JOBS": 7, "DEFAULT_MAX_BODY_BYTES": 3 << 20,
                        "TOKEN_ENV": "PGRPO_TEST_SANDBOX_TOKEN"}.items():
        monkeypatch.setattr(wire, name, value)
    monkeypatch.setenv("PGRPO_TEST_SANDBOX_TOKEN", "tok")
    seen = {}
    monkeypatch.setattr(service, "serve", lambda config, **kw: seen.update(kw))
    assert cli.main(["sandbox", "serve"]) == 0
    assert seen == {"host": "127.0.0.1", "port": 1234, "token": "tok", "max_jobs": 7, "max_body_bytes": 3 << 20}
    # the service's names still work (imported there, not re-exported for the type checker)
    assert (service.DEFAULT_PORT, service.DEFAULT_MAX_JOBS) == (8766, 1024)  # type: ignore[attr-defined]
