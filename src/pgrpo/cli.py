"""The `pgrpo` command: each stage's `commands.py` (imported in `build_parser`) and each plugin registers
its subcommands with `@command`; "rm train" becomes a nested subcommand. Heavy imports happen inside each
command's `run`, so `pgrpo --help` is instant.
"""

from __future__ import annotations

import argparse
import sys

from pgrpo import __version__
from pgrpo.commands import COMMANDS
from pgrpo.errors import PgrpoError
from pgrpo.plugins import load_plugins


def build_parser() -> argparse.ArgumentParser:
    # Importing each stage's commands module registers its subcommands (each imports no model library).
    import pgrpo.bench.commands  # noqa: F401
    import pgrpo.data.commands  # noqa: F401
    import pgrpo.engines.commands  # noqa: F401
    import pgrpo.evaluation.commands  # noqa: F401
    import pgrpo.llm.commands  # noqa: F401
    import pgrpo.rm.commands  # noqa: F401
    import pgrpo.sandbox.commands  # noqa: F401
    import pgrpo.train.build_rl_commands  # noqa: F401

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
    groups = {"": parser.add_subparsers(dest="command", metavar="COMMAND")}  # "rm" -> its subparsers
    for name in COMMANDS:
        spec = COMMANDS.get(name)
        *group_path, leaf = name.split(" ")
        for depth in range(len(group_path)):
            group_name = " ".join(group_path[: depth + 1])
            if group_name not in groups:
                children = sorted({n.split(" ")[depth + 1] for n in COMMANDS if n.startswith(group_name + " ")})
                parent = groups[" ".join(group_path[:depth])]
                group_parser = parent.add_parser(group_path[depth], help=", ".join(children))
                groups[group_name] = group_parser.add_subparsers(dest=f"cmd_{depth}", metavar="COMMAND")
                group_parser.set_defaults(_group_parser=group_parser)
        sub = groups[" ".join(group_path)].add_parser(leaf, help=spec.help, description=spec.help)
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
