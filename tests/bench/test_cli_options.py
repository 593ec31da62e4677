"""`pgrpo bench build` / `pgrpo rm pairs` command-line choices: `--judge` from JUDGES (the toy
world's "toy-oracle" needs no LLM), `--prompt-style` (incl. the toy world's), `--backend toy`
without importing pgrpo_toy first, and rm pairs' `--include-code` layout record."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pgrpo.cli import main
from pgrpo.data.loaders import problem_to_dict

CLI = [sys.executable, "-c", "import sys; from pgrpo.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def toy_problems(tmp_path_factory):
    from pgrpo_toy.world import generate_problems

    path = tmp_path_factory.mktemp("toy") / "problems.jsonl"
    path.write_text("".join(json.dumps(problem_to_dict(p)) + "\n" for p in generate_problems(3, 7)))
    return str(path)


def test_backend_toy_and_prompt_style_in_a_fresh_process(toy_problems, tmp_path):
    """A fresh interpreter: nothing imported pgrpo_toy, yet --backend toy and --prompt-style toy work."""
    out = tmp_path / "pairs"
    done = subprocess.run([*CLI, "rm", "pairs", "--problems", toy_problems, "--out", str(out), "--backend", "toy",
                           "--model", "toy", "--prompt-style", "toy", "--dimensions", "logic", "--include-code",
                           "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    pairs = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert pairs and all("### Code" in p["chosen"] for p in pairs)
    assert json.loads((out / "pgrpo_pairs.json").read_text())["include_code"] is True


def test_unknown_prompt_style_and_judge_are_user_errors(toy_problems, tmp_path, capsys):
    code = main(["rm", "pairs", "--problems", toy_problems, "--out", str(tmp_path / "p"), "--backend", "toy",
                 "--model", "toy", "--prompt-style", "fancy"])
    assert code == 2 and "prompt style" in capsys.readouterr().err
    code = main(["bench", "build", "--problems", toy_problems, "--out", str(tmp_path / "b"), "--backend", "toy",
                 "--model", "toy", "--judge", "nobody"])
    err = capsys.readouterr().err
    assert code == 2 and "--judge" in err and "toy-oracle" in err


def test_bench_build_with_toy_oracle_judge(toy_problems, tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(["bench", "build", "--problems", toy_problems, "--out", str(out), "--backend", "toy",
                 "--model", "toy", "--judge", "toy-oracle", "--prompt-style", "toy", "--samples", "8",
                 "--sandbox-workers", "1", "--quiet"])
    printed = capsys.readouterr()
    assert code == 0, printed.err[-2000:]
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    judged = [s for row in samples for s in row["samples"] if s.get("judge_raw")]
    assert judged, "the toy generator answered the toy-style prompts and the oracle judged them"
    assert {s["judge_raw"] for s in judged} <= {"CONSISTENT", "INCONSISTENT"}  # the oracle's words
    assert all(s["consistent"] == (s["judge_raw"] == "CONSISTENT") for s in judged)
    assert (out / "lcb_rb.jsonl").read_text().strip(), "pairs were built"


def test_fewer_than_two_samples_name_the_flag_and_why(toy_problems, tmp_path, capsys):
    for samples in ("0", "1"):
        code = main(["bench", "build", "--problems", toy_problems, "--out", str(tmp_path / "b"),
                     "--backend", "toy", "--model", "toy", "--samples", samples])
        err = capsys.readouterr().err
        assert code == 2 and "--samples: must be >= 2 (a pair needs a correct and an incorrect sample)" in err
