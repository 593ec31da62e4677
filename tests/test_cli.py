"""The `pgrpo` command: version, help listing every subcommand, errors without tracebacks."""

import subprocess
import sys

import pytest

from pgrpo import __version__
from pgrpo.cli import build_parser, main
from pgrpo.commands import COMMANDS


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "pgrpo", *args], capture_output=True, text=True, timeout=120)


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"pgrpo {__version__}"


def test_help_lists_every_subcommand_with_its_help():
    build_parser()
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert len(COMMANDS) > 0
    for name in COMMANDS:
        spec = COMMANDS.get(name)
        assert spec.help and "\n" not in spec.help, f"{name}: help must be one line"
        lines = [line for line in proc.stdout.splitlines() if line.strip().startswith(f"pgrpo {name} ")]
        assert len(lines) == 1 and lines[0].rstrip().endswith(spec.help), f"{name} missing from pgrpo --help"


def test_help_does_not_import_torch():
    heavy = ("torch", "transformers", "trl", "datasets", "fastapi", "uvicorn", "httpx")
    code = (f"import sys; from pgrpo.cli import build_parser; build_parser(); "
            f"print([m for m in {heavy} if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: pgrpo" in capsys.readouterr().out


def test_unknown_command_is_an_argparse_error():
    with pytest.raises(SystemExit) as exc:
        main(["definitely-not-a-command"])
    assert exc.value.code == 2
