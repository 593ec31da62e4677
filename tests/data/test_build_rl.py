"""`pgrpo data build-rl`: planted duplicates and contaminations are removed and named in the
report; failing reference solutions are filtered; LiveCodeBench before the window is kept;
the sandbox stage resumes from its journal. Fixtures: tests/fixtures/data/build_rl (make_fixtures.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from pgrpo.data.build_rl import BuildConfig, SolutionCheck, SourceSpec, build_rl
from pgrpo.data.build_rl_report import write_outputs
from pgrpo.data.decontaminate import EvalIndex, EvalItem, EvalSpec, case_keys, statement_hash
from pgrpo.data.io import read_jsonl
from pgrpo.data.loaders import load_problems
from pgrpo.data.problem import Problem
from pgrpo.data.schema import problem_from_dict
from pgrpo.errors import DataError

HERE = Path(__file__).resolve().parent.parent / "fixtures" / "data"
FIX = HERE / "build_rl"
SOURCES = (f"lcb:{FIX / 'lcb_release.jsonl'}", f"taco:{FIX / 'taco_train.jsonl'}",
           f"codecontests:{FIX / 'code_contests_train.jsonl'}")
EVALS = ("humaneval", f"mbpp_plus={HERE / 'evalplus_mbpp_mini.jsonl'}",
         f"lcb={FIX / 'lcb_release.jsonl'}:2024-08-01..2025-02-01", f"bigcodebench={FIX / 'bigcodebench_mini.jsonl'}")
PLANTED = [
    "removed  taco/5  contaminated: humaneval/HumanEval/0 (13-gram overlap 1.00)",
    "removed  taco/6  contaminated: mbpp_plus/Mbpp/2 (13-gram overlap 1.00)",
    "removed  abc370_b  contaminated: lcb/abc370_b (13-gram overlap 1.00)",
    "removed  abc371_c  contaminated: lcb/abc371_c (13-gram overlap 1.00)",
    "removed  taco/7  contaminated: lcb/abc371_c (test overlap 5/5)",
    "removed  1501_B. Permutation Average  contaminated: bigcodebench/BigCodeBench/0 (13-gram overlap 1.00)",
    "removed  taco/2  duplicate: of taco/0 (same statement)",
    "removed  taco/3  duplicate: of taco/0 (same test set)",
    "removed  taco/4  filtered: too few tests (2 < 5)",
]
KEPT = {"abc340_a", "taco/0", "taco/8", "1500_A. Difference"}


def _config(out: Path, **overrides) -> BuildConfig:
    fields = {"sources": tuple(SourceSpec.parse(s) for s in SOURCES), "evals": tuple(EvalSpec.parse(e) for e in EVALS),
              "out": out} | overrides
    return BuildConfig(**fields)


class FakeRunner:
    """Solutions pass unless listed in `fail`; `seconds` per task; records what it ran."""

    def __init__(self, fail: Sequence[str] = (), seconds: dict[str, float] | None = None) -> None:
        self.fail, self.seconds, self.ran = set(fail), seconds or {}, []

    def __call__(self, problems: Sequence[Problem]) -> list[SolutionCheck]:
        self.ran += [p.task_id for p in problems]
        return [SolutionCheck(p.task_id not in self.fail, "failed" if p.task_id in self.fail else "passed",
                              self.seconds.get(p.task_id, 0.1)) for p in problems]


def test_cli_removes_every_planted_problem_by_name_and_runs_references_in_the_sandbox(tmp_path, monkeypatch, capsys):
    import pgrpo.cli

    monkeypatch.setattr(pgrpo.cli, "COMMAND_MODULES", ("pgrpo.bench.build_rl_commands",))
    out = tmp_path / "train" / "code-rl.jsonl"
    argv = ["data", "build-rl", "--out", str(out), "--quiet", "--sandbox-workers", "1"]
    argv += [a for s in SOURCES for a in ("--source", s)] + [a for e in EVALS for a in ("--eval", e)]
    assert pgrpo.cli.main(argv) == 0
    assert "kept 4 of 14 problems (6 contaminated, 2 duplicate, 2 filtered)" in capsys.readouterr().out

    report = (tmp_path / "train" / "code-rl.report.txt").read_text().splitlines()
    for line in PLANTED:
        assert line in report
    # the wrong reference solution ran in the sandbox and failed
    assert any(line.startswith("removed  taco/1  filtered: reference solution failed: test 1/5: wrong answer")
               for line in report)
    assert any(line.startswith("skipped  codecontests  unreadable:") and "input_file" in line for line in report)

    rows = read_jsonl(out)
    assert {problem_from_dict(r).task_id for r in rows} == KEPT  # abc340_a: LCB before the window, kept
    sheet = json.loads((tmp_path / "train" / "code-rl.datasheet.json").read_text())
    assert sheet["contaminated"] == {"humaneval": 1, "mbpp_plus": 1, "lcb": 3, "bigcodebench": 1}
    assert sheet["duplicates"] == {"same_statement": 1, "same_tests": 1}
    assert sheet["filtered"] == {"min_tests": 1, "solution_failed": 1}
    assert sheet["sources"]["taco"] | {"spec": ""} == {"spec": "", "loaded": 9, "kept": 2, "unreadable": 0}
    assert sheet["eval_sets"]["lcb [2024-08-01..2025-02-01]"] == 2
    assert sheet["reference_checks"] == {"passed": 2, "failed": 1, "unverified": 2}
    assert "| humaneval | 1 |" in (tmp_path / "train" / "code-rl.datasheet.md").read_text()


def test_before_drops_lcb_inside_the_window_and_keeps_earlier_releases(tmp_path):
    import datetime as dt

    config = _config(tmp_path / "o.jsonl", before=dt.date(2024, 8, 1))
    result = build_rl(config, FakeRunner())
    reasons = {r.task_id: r.reason for r in result.removals}
    assert reasons["abc370_b"] == reasons["abc371_c"] == "after_before"
    assert "abc340_a" in {p.task_id for _, p in result.kept}


def test_reference_checks_resume_from_the_journal(tmp_path):
    first = FakeRunner(fail=["taco/1"])
    build_rl(_config(tmp_path / "o.jsonl"), first)
    assert sorted(first.ran) == ["1500_A. Difference", "taco/0", "taco/1"]
    again = FakeRunner()  # would pass taco/1 now: the journaled verdict is reused instead
    result = build_rl(_config(tmp_path / "o.jsonl"), again)
    assert again.ran == []
    assert "taco/1" in {r.task_id for r in result.removals}
    changed = FakeRunner()  # other sandbox limits: verdicts are redone
    build_rl(_config(tmp_path / "o.jsonl", check_tag="timeout=1"), changed)
    assert len(changed.ran) == 3


def test_slow_reference_solutions_and_missing_ones_when_required(tmp_path):
    config = _config(tmp_path / "o.jsonl", max_solution_seconds=5.0, require_solution=True)
    result = build_rl(config, FakeRunner(seconds={"taco/0": 12.0}))
    details = {r.task_id: r.detail for r in result.removals}
    assert details["taco/0"] == "reference solution took 12.0s > 5s"
    assert details["taco/8"] == details["abc340_a"] == "no reference solution"


def test_a_rebuild_from_the_output_removes_nothing(tmp_path):
    config = _config(tmp_path / "o.jsonl")
    paths = write_outputs(build_rl(config, FakeRunner(fail=["taco/1"])), config)
    again = build_rl(_config(tmp_path / "p.jsonl", sources=(SourceSpec.parse(f"pgrpo:{paths.data}"),)), FakeRunner())
    assert again.removals == [] and {p.task_id for _, p in again.kept} == KEPT


def test_specs_parse_and_name_their_mistakes():
    assert SourceSpec.parse("taco:BAAI/TACO#train") == SourceSpec("taco", "BAAI/TACO", "train")
    assert SourceSpec.parse("taco:x.jsonl").format() == "apps"
    assert SourceSpec.parse("mine:x.jsonl").format() is None  # autodetected
    assert EvalSpec.parse("humaneval") == EvalSpec("humaneval", "humaneval")
    assert EvalSpec.parse("lcb=/d/lcb.jsonl:2024-08-01..") == EvalSpec("lcb", "/d/lcb.jsonl", "2024-08-01", None)
    assert EvalSpec.parse("lcb:2024-08-01..2025-02-01") == EvalSpec("lcb", "livecodebench/code_generation_lite",
                                                                    "2024-08-01", "2025-02-01")
    assert EvalSpec.parse("mbpp_plus").path == "evalplus/mbppplus"  # where `pgrpo evaluate` reads it
    with pytest.raises(DataError, match="not an ISO date"):
        EvalSpec.parse("lcb:2024-13-01..")
    with pytest.raises(DataError, match="NAME:PATH_OR_HUB"):
        SourceSpec.parse("nocolon")
    with pytest.raises(DataError, match="ngram-threshold"):
        _config(Path("o.jsonl"), ngram_threshold=0.0)


def test_statement_keys_ignore_case_and_punctuation_and_tests_ignore_the_function_name():
    assert statement_hash("Print the SUM, of a and b!") == statement_hash("print the sum of a  and b")
    problems = load_problems(str(HERE / "mbpp_mini.jsonl"))
    keys = case_keys(problems[0])
    assert keys and all(problems[0].entry_point not in k for k in keys)


def test_a_few_shared_trivial_tests_are_not_contamination(tmp_path):
    problem = load_problems(str(FIX / "taco_train.jsonl"))[0]
    shared = frozenset(case_keys(problem))
    index = EvalIndex(min_shared_tests=3)
    index.add("lcb", [EvalItem("q1", "Compute something entirely unrelated to anything else.",
                               frozenset(sorted(shared)[:2]) | {f"{i}\x00x{i}" for i in range(10)})])
    assert index.match(problem) is None  # 2 shared cases < min_shared_tests
    index.add("apps", [EvalItem("p9", "A completely different story about trains.", shared)])
    hit = index.match(problem)
    assert hit is not None and hit.format() == "apps/p9 (test overlap 5/5)"


def test_codecontests_rows_in_the_hub_layout():
    problems = load_problems(str(FIX / "code_contests_train.jsonl"), skip_bad=True)
    first = problems[0]
    assert first.task_id == "1500_A. Difference" and first.source == "codecontests"
    assert first.tests.count == 6 and first.public_tests is not None and first.public_tests.count == 1
    assert "input()" in (first.canonical_solution or "")  # the Python 3 solution, not the Python 2 one
    assert first.difficulty == "a" and first.metadata["time_limit_s"] == 2.0
    with pytest.raises(DataError, match="code_contests_train.jsonl:3: field 'input_file'"):
        load_problems(str(FIX / "code_contests_train.jsonl"))
