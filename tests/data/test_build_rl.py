"""`pgrpo data build-rl`: planted duplicates and contaminations are removed and named in the
report; failing reference solutions are filtered; LiveCodeBench before the window is kept;
the sandbox stage resumes from its journal (keyed on every sandbox limit); test cases match
across forms (asserts / call cases / EvalPlus inputs); every evaluation set the recipes report is
decontaminated against unless skipped out loud. Fixtures: tests/fixtures/data/build_rl (make_fixtures.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pgrpo.config import ConfigError
from pgrpo.data.build_rl import BuildConfig, SolutionCheck, SourceSpec, build_rl, write_outputs
from pgrpo.data.decontaminate import (
    CaseKey,
    EvalIndex,
    EvalItem,
    EvalSpec,
    assert_case_keys,
    case_keys,
    read_eval_set,
    statement_hash,
)
from pgrpo.data.io import read_jsonl
from pgrpo.data.loaders import load_problems
from pgrpo.data.problem import Problem
from pgrpo.data.schema import problem_from_dict
from pgrpo.errors import DataError

HERE = Path(__file__).resolve().parent.parent / "fixtures" / "data"
FIX = HERE / "build_rl"
SOURCES = (f"lcb:{FIX / 'lcb_release.jsonl'}", f"taco:{FIX / 'taco_train.jsonl'}",
           f"codecontests:{FIX / 'code_contests_train.jsonl'}")
EVALS = ("humaneval", f"humaneval_plus={FIX / 'humanevalplus_mini.jsonl'}", f"mbpp={FIX / 'mbpp_mini.jsonl'}",
         f"mbpp_plus={HERE / 'evalplus_mbpp_mini.jsonl'}",
         f"lcb={FIX / 'lcb_release.jsonl'}:2024-08-01..2025-02-01", f"bigcodebench={FIX / 'bigcodebench_mini.jsonl'}")
PLANTED = [
    "removed  taco/5  contaminated: humaneval/HumanEval/0 (13-gram overlap 1.00)",
    "removed  taco/6  contaminated: mbpp_plus/Mbpp/2 (13-gram overlap 1.00)",
    "removed  abc370_b  contaminated: lcb/abc370_b (13-gram overlap 1.00)",
    "removed  abc371_c  contaminated: lcb/abc371_c (13-gram overlap 1.00)",
    "removed  taco/7  contaminated: lcb/abc371_c (test overlap 5/5)",
    # EvalPlus ships inputs only: a copy with real outputs matches on the arguments
    "removed  taco/9  contaminated: humaneval_plus/HumanEval/12 (test overlap 5/5, 5 by arguments only)",
    # MBPP's `assert square_perimeter(10)==40` asserts, copied as call cases
    "removed  taco/10  contaminated: mbpp/17 (test overlap 3/5)",
    "removed  1501_B. Permutation Average  contaminated: bigcodebench/BigCodeBench/0 (13-gram overlap 1.00)",
    "removed  taco/2  duplicate: of taco/0 (same statement)",
    "removed  taco/3  duplicate: of taco/0 (same test set)",
    "removed  taco/4  filtered: too few tests (2 < 5)",
]
KEPT = {"abc340_a", "taco/0", "taco/8", "1500_A. Difference"}


def _config(out: Path, **overrides: Any) -> BuildConfig:
    fields: dict[str, Any] = {"sources": tuple(SourceSpec.parse(s) for s in SOURCES), "evals": tuple(EvalSpec.parse(e) for e in EVALS),
              "out": out} | overrides
    return BuildConfig(**fields)


class FakeRunner:
    """Solutions pass unless listed in `fail`; `seconds` per task; records what it ran."""

    def __init__(self, fail: Sequence[str] = (), seconds: dict[str, float] | None = None) -> None:
        self.fail, self.seconds = set(fail), seconds or {}
        self.ran: list[str] = []

    def __call__(self, problems: Sequence[Problem]) -> list[SolutionCheck]:
        self.ran += [p.task_id for p in problems]
        return [SolutionCheck(p.task_id not in self.fail, "failed" if p.task_id in self.fail else "passed",
                              self.seconds.get(p.task_id, 0.1)) for p in problems]


def test_cli_removes_every_planted_problem_by_name_and_runs_references_in_the_sandbox(tmp_path, capsys):
    import pgrpo.cli

    out = tmp_path / "train" / "code-rl.jsonl"
    argv = ["data", "build-rl", "--out", str(out), "--quiet", "--sandbox-workers", "1"]
    argv += [a for s in SOURCES for a in ("--source", s)] + [a for e in EVALS for a in ("--eval", e)]
    assert pgrpo.cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "kept 4 of 16 problems (8 contaminated, 2 duplicate, 2 filtered)" in printed
    assert "NOT decontaminated" not in printed

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
    assert sheet["contaminated"] == {"humaneval": 1, "humaneval_plus": 1, "mbpp": 1, "mbpp_plus": 1, "lcb": 3,
                                     "bigcodebench": 1}
    assert sheet["not_decontaminated_against"] == []
    assert sheet["duplicates"] == {"same_statement": 1, "same_tests": 1}
    assert sheet["filtered"] == {"min_tests": 1, "solution_failed": 1}
    assert sheet["sources"]["taco"] | {"spec": ""} == {"spec": "", "loaded": 11, "kept": 2, "unreadable": 0}
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
                                                                    "2024-08-01", "2025-02-01", "test")
    assert EvalSpec.parse("bigcodebench") == EvalSpec("bigcodebench", "bigcode/bigcodebench", split="v0.1.4")
    with pytest.raises(DataError, match="mine=PATH"):
        EvalSpec.parse("mine")  # no default source: never a guessed path
    with pytest.raises(DataError, match="not an ISO date"):
        EvalSpec.parse("lcb:2024-13-01..")
    with pytest.raises(DataError, match="NAME:PATH_OR_HUB"):
        SourceSpec.parse("nocolon")
    with pytest.raises(ConfigError, match=r"--ngram-threshold: must be > 0\.0, got 0\.0"):
        _config(Path("o.jsonl"), ngram_threshold=0.0)
    with pytest.raises(ConfigError, match=r"--source: .*at least 1 item"):
        _config(Path("o.jsonl"), sources=())


def test_statement_keys_ignore_case_and_punctuation_and_tests_ignore_the_function_name():
    assert statement_hash("Print the SUM, of a and b!") == statement_hash("print the sum of a  and b")
    problems = load_problems(str(HERE / "mbpp_mini.jsonl"))
    keys = case_keys(problems[0])
    assert keys and all(k.paired and problems[0].entry_point not in (k.exact or "") for k in keys)


def test_a_few_shared_trivial_tests_are_not_contamination(tmp_path):
    problem = load_problems(str(FIX / "taco_train.jsonl"))[0]
    shared = frozenset(case_keys(problem))
    index = EvalIndex(min_shared_tests=3)
    index.add("lcb", [EvalItem("q1", "Compute something entirely unrelated to anything else.",
                               frozenset(sorted(shared, key=CaseKey.sort_key)[:2])
                               | {CaseKey(f"x{i}") for i in range(10)})])
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


def _index(eval_set: str, items: list[EvalItem]) -> EvalIndex:
    index = EvalIndex()
    index.add(eval_set, items)
    return index


def test_evalplus_items_match_on_arguments_and_short_arguments_do_not_count():
    item = load_problems(str(FIX / "humanevalplus_mini.jsonl"))[0]
    assert item.tests.outputs_from_canonical
    index = _index("humaneval_plus", [EvalItem(item.task_id, "unrelated words", case_keys(item))])
    copy = next(p for p in load_problems(str(FIX / "taco_train.jsonl")) if p.task_id == "taco/9")
    hit = index.match(copy)  # a copy with real outputs: the same arguments are the same cases
    assert hit is not None and hit.format() == "humaneval_plus/HumanEval/12 (test overlap 5/5, 5 by arguments only)"
    # arguments like [1] tell nothing apart: an EvalPlus item of small ints matches nothing by them
    ints = EvalItem("Mbpp/3", "x", frozenset(case_keys(load_problems(str(HERE / "evalplus_mbpp_mini.jsonl"))[1])))
    square = next(p for p in load_problems(str(FIX / "taco_train.jsonl")) if p.task_id == "taco/10")
    assert ints.tests and all(k.inputs is None for k in ints.tests)
    assert _index("mbpp_plus", [ints]).match(square) is None


def test_asserts_and_call_cases_are_the_same_tests_in_either_direction():
    # eval in asserts form, training copy as call cases
    mbpp = load_problems(str(FIX / "mbpp_mini.jsonl"))[0]
    square = next(p for p in load_problems(str(FIX / "taco_train.jsonl")) if p.task_id == "taco/10")
    hit = _index("mbpp", [EvalItem("17", "x", case_keys(mbpp))]).match(square)
    assert hit is not None and hit.format() == "mbpp/17 (test overlap 3/5)"
    # eval as call cases, training copy in asserts form under another name (and `OUT == f(ARGS)`)
    from pgrpo.data.problem import Problem, TestKind, Tests

    asserts = ("assert perim(10) == 40", "assert 20 == perim(5)", "assert perim(4)==16", "assert perim(7) == 28")
    copy = Problem("mine/1", "boundary of a square", Tests(TestKind.ASSERTS, asserts=asserts), entry_point="perim")
    hit = _index("taco", [EvalItem("t10", "y", case_keys(square))]).match(copy)
    assert hit is not None and hit.format() == "taco/t10 (test overlap 4/4)"
    # a wrapped result keys its arguments; the MBPP+ hub script gives one case per input
    wrapped = assert_case_keys("assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))",
                               "similar_elements")
    assert [(k.inputs, k.paired) for k in wrapped] == [("[[3, 4, 5, 6], [5, 7, 4, 10]]", False)]
    hub = load_problems(str(HERE / "evalplus_mbpp_hub_mini.jsonl"))[0]
    assert {k.inputs for k in case_keys(hub)} >= {"[[3, 4, 5, 6], [5, 7, 4, 10]]", "[[1, 2, 3, 4], [5, 4, 3, 7]]"}
    script = ("inputs = [[[1, 2, 3], 2], [[4, 5, 6], 9]]\nresults = [True, False]\n"
              "for i, (inp, exp) in enumerate(zip(inputs, results)):\n    assertion(candidate(*inp), exp, 0)\n")
    assert {k.exact for k in assert_case_keys(script, "f")} == {'["io", [[1, 2, 3], 2], true]',
                                                               '["io", [[4, 5, 6], 9], false]'}


def test_every_evaluation_set_the_recipes_report_is_the_default_and_reads_where_evaluate_does():
    from pgrpo.evaluation.benchmarks import BENCHMARKS
    from pgrpo.train.build_rl_commands import eval_specs

    specs, skipped = eval_specs([], [])
    assert [s.label for s in specs] == ["humaneval", "humaneval_plus", "mbpp", "mbpp_plus",
                                        "lcb [2024-08-01..2025-02-01]", "bigcodebench"] and skipped == ()
    for spec in specs:  # one source of truth: `pgrpo evaluate`'s benchmark registry
        assert (spec.path, spec.split) == (BENCHMARKS.get(spec.name).source, BENCHMARKS.get(spec.name).split)
    # every code benchmark reads a default's source, except BigCodeBench-Hard: a subset of the full set
    sources = {(s.path, s.split) for s in specs}
    code = [BENCHMARKS.get(n) for n in BENCHMARKS if BENCHMARKS.get(n).kind == "code"]
    assert {b.name for b in code if (b.source, b.split) not in sources} == {"bigcodebench_hard",
                                                                          "bigcodebench_hard_instruct"}
    specs, skipped = eval_specs(["mbpp=/d/m.jsonl", "bigcodebench=/d/b.jsonl"], ["lcb"])
    assert [s.name for s in specs] == ["humaneval", "humaneval_plus", "mbpp", "mbpp_plus", "bigcodebench"]
    assert specs[2].path == "/d/m.jsonl" and specs[4].path == "/d/b.jsonl" and skipped == ("lcb",)
    assert eval_specs([], ["all"]) == ((), ("humaneval", "humaneval_plus", "mbpp", "mbpp_plus", "lcb",
                                            "bigcodebench"))
    with pytest.raises(DataError, match="not a default"):
        eval_specs([], ["bigcodebench_hard"])
    with pytest.raises(DataError, match="contradict"):
        eval_specs(["lcb=/d/l.jsonl"], ["lcb"])


def test_an_evaluation_set_that_cannot_be_read_is_an_error_saying_how_to_provide_it(monkeypatch):
    import pgrpo.data.loaders

    def offline(*args, **kwargs):
        raise DataError("evalplus/humanevalplus: cannot load hub dataset (split 'test'): Couldn't reach the Hub")

    monkeypatch.setattr(pgrpo.data.loaders, "load_problems", offline)
    with pytest.raises(DataError, match=r"--eval humaneval_plus: cannot load 'evalplus/humanevalplus'.*"
                                        r"--eval humaneval_plus=PATH.*--skip-eval humaneval_plus"):
        read_eval_set(EvalSpec.parse("humaneval_plus"))
    from pgrpo.data.decontaminate import load_eval_index

    with pytest.raises(DataError) as failed:  # every unreadable set named at once, not one per run
        load_eval_index([EvalSpec.parse(n) for n in ("humaneval_plus", "mbpp", "mbpp_plus")])
    assert [line.split(":")[0] for line in str(failed.value).splitlines()] == \
        ["--eval humaneval_plus", "--eval mbpp", "--eval mbpp_plus"]


def _cli(tmp_path: Path, *extra: str) -> int:
    import pgrpo.cli

    argv = ["data", "build-rl", "--out", str(tmp_path / "code-rl.jsonl"), "--quiet", *extra]
    return pgrpo.cli.main(argv + [a for s in SOURCES for a in ("--source", s)])


def test_skipped_evaluation_sets_are_named_in_the_datasheet_report_and_summary(tmp_path, capsys):
    assert _cli(tmp_path, "--no-verify", "--skip-eval", "humaneval_plus", "--skip-eval", "mbpp",
                "--skip-eval", "mbpp_plus", "--skip-eval", "lcb", "--skip-eval", "bigcodebench") == 0
    skipped = "humaneval_plus, mbpp, mbpp_plus, lcb, bigcodebench"
    assert f"NOT decontaminated against: {skipped}" in capsys.readouterr().out
    sheet = json.loads((tmp_path / "code-rl.datasheet.json").read_text())
    assert sheet["not_decontaminated_against"] == skipped.split(", ")
    assert f"**NOT decontaminated against: {skipped}**" in \
        (tmp_path / "code-rl.datasheet.md").read_text()
    assert f"# NOT decontaminated against: {skipped} (--skip-eval)" in \
        (tmp_path / "code-rl.report.txt").read_text()


def test_reference_verdicts_are_redone_when_any_sandbox_limit_changes(tmp_path, monkeypatch):
    import pgrpo.train.build_rl_commands as commands

    runs: list[FakeRunner] = []

    def fake_runner(verifier):
        runs.append(FakeRunner())
        return runs[-1]

    monkeypatch.setattr(commands, "verifier_runner", fake_runner)
    evals = [a for e in EVALS for a in ("--eval", e)]
    for flags in ([], ["--sandbox-workers", "3"], ["--sandbox-max-processes", "32"], ["--sandbox-scratch-mb", "8"],
                  ["--sandbox-isolation", "unshare"], ["--sandbox-isolation", "unshare"],
                  # the default memory given by flag: kept over BigCodeBench's own 30 GB (kinds.effective_limits)
                  ["--sandbox-isolation", "unshare", "--sandbox-memory-mb", "4096"]):
        assert _cli(tmp_path, *evals, *flags) == 0
    # the first run checks 3 solutions; workers do not change a verdict; each other limit does
    assert [len(r.ran) for r in runs] == [3, 0, 3, 3, 3, 0, 3]


def test_the_recipes_readme_says_where_the_math_recipe_data_comes_from():
    import yaml

    root = Path(__file__).resolve().parents[2]
    recipe = yaml.safe_load((root / "recipes" / "qwen2.5-math-7b-pgrpo.yaml").read_text())
    data = Path(recipe["data"]["source"]).name  # math-rl.jsonl
    readme = (root / "recipes" / "README.md").read_text()
    section = readme.split("## From nothing to a trained 7B P-GRPO policy")[1].split("\n## ")[0]
    assert f"no pgrpo command produces its `data/train/{data}`" in section  # said plainly, nothing invented
