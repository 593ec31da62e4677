"""The `pgrpo` command: one entry point, one subcommand per pipeline stage.

Thin by design: each stage's `commands.py` registers its subcommand(s) with `@command`
(pgrpo.commands), declaring arguments and a `run(args) -> exit code` that builds a config and
calls the library; plugins (pgrpo.plugins) add theirs when loaded at start-up. Heavy imports
(torch, transformers) happen inside `run`, so `pgrpo --help` is instant. Nested names ("rm train") become nested subcommands.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pgrpo import __version__
from pgrpo.commands import COMMANDS
from pgrpo.errors import PgrpoError
from pgrpo.plugins import load_plugins

# Modules whose import registers subcommands. Each stage owns its own module.
COMMAND_MODULES: tuple[str, ...] = (
    "pgrpo.data.commands",
    "pgrpo.llm.commands",
    "pgrpo.rm.pairs_commands",
    "pgrpo.bench.commands",
    "pgrpo.train.build_rl_commands",
    "pgrpo.evaluation.commands",
    "pgrpo.rm.commands",
    "pgrpo.train.commands",
    "pgrpo.sandbox.commands",
    "pgrpo.engines.commands",
)


def build_parser() -> argparse.ArgumentParser:
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    load_plugins()
    width = max(len(name) for name in COMMANDS) + 2
    listing = "\n".join(f"  pgrpo {name.ljust(width)}{COMMANDS.get(name).help}" for name in COMMANDS)
    parser = argparse.ArgumentParser(
        prog="pgrpo",
        description="Posterior-GRPO: RL for code LLMs that rewards reasoning, gated on passing tests.",
        epilog=f"every subcommand:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pgrpo {__version__}")
    root = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for name in COMMANDS:
        spec = COMMANDS.get(name)
        *group_path, leaf = name.split(" ")
        subparsers = root
        for depth in range(len(group_path)):
            group_name = " ".join(group_path[: depth + 1])
            if group_name not in groups:
                children = sorted({n.split(" ")[depth + 1] for n in COMMANDS if n.startswith(group_name + " ")})
                group_parser = subparsers.add_parser(group_path[depth], help=f"{', '.join(children)}")
                groups[group_name] = group_parser.add_subparsers(dest=f"cmd_{depth}", metavar="COMMAND")
                group_parser.set_defaults(_group_parser=group_parser)
            subparsers = groups[group_name]
        sub = subparsers.add_parser(leaf, help=spec.help, description=spec.help)
        sub.set_defaults(_run=spec.configure(sub))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        (getattr(args, "_group_parser", None) or parser).print_help()
        return 2
    try:
        return int(run(args) or 0)
    except PgrpoError as exc:
        print(f"pgrpo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run through the imported module so the registry the command modules fill is this one.
    from pgrpo.cli import main as _main

    sys.exit(_main())
