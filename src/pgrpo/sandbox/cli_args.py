"""The sandbox-limit flags of `pgrpo check`, `evaluate` and `bench build`, generated from
`SandboxConfig`'s fields (names, types, defaults, help): field `memory_mb` is `--sandbox-memory-mb`,
`url` is `--sandbox-url URL [URL ...]` (send jobs to `pgrpo sandbox serve` instead of a local pool).

Owns `add_sandbox_arguments` and `sandbox_config_from_args`. SHORT_FLAGS keeps the older names
where they clash with nothing (bench build's `--timeout` is the LLM request timeout).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing

from pgrpo.sandbox.types import ISOLATION_MODES, SandboxConfig

SHORT_FLAGS = {"timeout_per_test_s": "--timeout", "memory_mb": "--memory-mb", "workers": "--workers"}
_DEST = "sandbox_"


def add_sandbox_arguments(parser: argparse.ArgumentParser, short_flags: bool = True) -> None:
    """One `--sandbox-<field>` flag per SandboxConfig field (plus SHORT_FLAGS if `short_flags`)."""
    group = parser.add_argument_group("sandbox limits")
    types = typing.get_type_hints(SandboxConfig)
    for field in dataclasses.fields(SandboxConfig):
        names = [f"--sandbox-{field.name.replace('_', '-')}"]
        if short_flags and field.name in SHORT_FLAGS:
            names.append(SHORT_FLAGS[field.name])
        if field.name == "url":  # one or more: --sandbox-url URL [URL ...]
            group.add_argument(*names, dest=_DEST + field.name, nargs="+", default=None, metavar="URL",
                               help=f"{field.metadata['help']} (default: a local sandbox pool)")
            continue
        choices = ISOLATION_MODES if field.name == "isolation" else None
        group.add_argument(*names, dest=_DEST + field.name, type=types[field.name], default=None, choices=choices,
                           metavar=None if choices else types[field.name].__name__.upper(),
                           help=f"{field.metadata['help']} (default: {field.default})")


def sandbox_config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """The SandboxConfig of the flags given (defaults for the rest). A per-test timeout longer
    than the per-program cap raises the cap too, unless the cap was given."""
    given = {field.name: getattr(args, _DEST + field.name) for field in dataclasses.fields(SandboxConfig)}
    given = {name: value for name, value in given.items() if value is not None}
    if "url" in given:
        given["url"] = tuple(given["url"])
    config = SandboxConfig.given(**given)
    per_test = given.get("timeout_per_test_s", SandboxConfig.timeout_per_test_s)
    if "timeout_per_program_s" not in given and per_test > config.timeout_per_program_s:
        config = SandboxConfig.given(**given, timeout_per_program_s=per_test)
    return config
