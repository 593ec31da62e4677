"""The sandbox-limit flags of `pgrpo check`, `evaluate` and `bench build`, generated from
`SandboxConfig`'s fields (names, types, defaults, descriptions): field `memory_mb` is
`--sandbox-memory-mb`, `url` is `--sandbox-url URL [URL ...]` (send jobs to `pgrpo sandbox serve`
instead of a local pool). A bad value is a ConfigError naming the flag.

Owns `add_sandbox_arguments` and `sandbox_config_from_args`. SHORT_FLAGS keeps the older names
where they clash with nothing (bench build's `--timeout` is the LLM request timeout).
"""

from __future__ import annotations

import argparse

from pgrpo.config import validate
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.types import ISOLATION_MODES

SHORT_FLAGS = {"timeout_per_test_s": "--timeout", "memory_mb": "--memory-mb", "workers": "--workers"}
FLAGS = {name: f"--sandbox-{name.replace('_', '-')}" for name in SandboxConfig.model_fields}
_DEST = "sandbox_"


def add_sandbox_arguments(parser: argparse.ArgumentParser, short_flags: bool = True) -> None:
    """One `--sandbox-<field>` flag per SandboxConfig field (plus SHORT_FLAGS if `short_flags`)."""
    group = parser.add_argument_group("sandbox limits")
    for name, info in SandboxConfig.model_fields.items():
        names = [FLAGS[name], *([SHORT_FLAGS[name]] if short_flags and name in SHORT_FLAGS else [])]
        if name == "url":  # one or more: --sandbox-url URL [URL ...]
            group.add_argument(*names, dest=_DEST + name, nargs="+", default=None, metavar="URL",
                               help=f"{info.description} (default: a local sandbox pool)")
            continue
        choices = ISOLATION_MODES if name == "isolation" else None
        kind = type(info.default)
        group.add_argument(*names, dest=_DEST + name, type=kind, default=None, choices=choices,
                           metavar=None if choices else kind.__name__.upper(),
                           help=f"{info.description} (default: {info.default})")


def sandbox_config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """The SandboxConfig of the flags given (defaults for the rest; `explicit` names the given ones).
    A per-test timeout longer than the per-program cap raises the cap too, unless the cap was given."""
    given = {name: getattr(args, _DEST + name) for name in SandboxConfig.model_fields}
    given = {name: value for name, value in given.items() if value is not None}
    per_test = given.get("timeout_per_test_s", 0.0)
    if "timeout_per_program_s" not in given and per_test > SandboxConfig.model_fields["timeout_per_program_s"].default:
        given["timeout_per_program_s"] = per_test
    return validate(SandboxConfig, given, flags=FLAGS).with_explicit(given)
