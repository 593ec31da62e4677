"""The subcommand registry `COMMANDS` and `@command`; apart from cli.py, so registering a command never
imports the CLI (which loads every stage).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from pgrpo.registry import Registry

Runner = Callable[[argparse.Namespace], int]
Configure = Callable[[argparse.ArgumentParser], Runner]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Configure


COMMANDS: Registry[Command] = Registry("subcommand")


def command(name: str, help: str) -> Callable[[Configure], Configure]:
    """Register `configure(parser) -> run` as subcommand `name` (space-separated for nesting)."""

    def decorator(configure: Configure) -> Configure:
        COMMANDS.add(name, Command(name, help, configure))
        return configure

    return decorator
