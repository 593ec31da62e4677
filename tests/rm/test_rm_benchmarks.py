"""`pgrpo rm eval` on RM-Bench, JudgeBench and RewardBench 2: fixtures in each benchmark's real
layout, accuracies checked against hand counts (ties, position swaps), malformed rows."""

from __future__ import annotations

import json
import os

import pytest

from doubles import FunctionBackend
from pgrpo.cli import main
from pgrpo.data.io import BadLine
from pgrpo.errors import DataError
from pgrpo.llm import CachedBackend
from pgrpo.rm.bench_formats import best_of_n_credit
from pgrpo.rm.benchmarks import load_benchmark
from pgrpo.rm.commands import EVALUATORS
from pgrpo.rm.evaluate import RewardModelEvaluator, evaluate, render_markdown
from pgrpo.rm.judge_eval import LLMJudgeEvaluator

# Fixed scores per (row id, response position): what a reward model gives each response.
RMB_CHOSEN = {"101": [1, 2, 3], "102": [5, 5, 5], "103": [0, 2, 2], "104": [2, 2, 2], "105": [3, 3, 3],
              "106": [1, 1, 1]}
RMB_REJECTED = {"101": [0, 1, 2], "102": [1, 1, 1], "103": [1, 1, 3], "104": [2, 2, 2], "105": [1, 2, 4],
                "106": [0, 0, 0]}
RB2 = {"1": (5, [1, 2, 3]), "2": (2, [1, 2, 0]), "3": (2, [2, 2, 1]), "4": (1, [0, 3, 0]), "5": (4, [1, 1, 1]),
       "6": (0, [1, 0, 0]), "7": (2, [1, 1, 1]), "8": (3, [3, 4, 1])}
JB = {"82e65bbd": (2, 1), "1f0c3a52": (3, 1), "5a9e7c13": (1, 1), "e302b0a0": (0, 1), "7c2d9e41": (0, 5),
      "9b1e4f62": (1, 0)}  # (score of response_A, score of response_B)


class TableEvaluator:
    """A fake reward model: each response's score comes from the tables above."""

    name = "test-table"

    def compare(self, pairs):
        out = []
        for p in pairs:
            if p.pair_id in RMB_CHOSEN:
                i, j = p.slot
                out.append((RMB_CHOSEN[p.pair_id][i], RMB_REJECTED[p.pair_id][j]))
            elif p.pair_id in RB2:
                chosen, others = RB2[p.pair_id]
                out.append((chosen, others[p.slot[0]]))
            else:
                a, b = JB[p.pair_id[:8]]
                out.append((a, b) if p.slot == (0,) else (b, a))  # slot: where the file shows chosen
        return out


EVALUATORS.setdefault("test-table", lambda options: TableEvaluator())  # an evaluator the CLI can be driven with


def _path(fixtures_dir, name):
    return os.path.join(fixtures_dir, "rm_bench", name)


RMB, JBF, RB2F = "rm_bench_total_dataset.json", "judgebench_gpt-4o-2024-05-13.jsonl", "reward-bench-2_test.jsonl"


def test_formats_detected_from_real_layouts(fixtures_dir):
    fmt, pairs = load_benchmark(_path(fixtures_dir, RMB))
    assert fmt.name == "rm-bench" and len(pairs) == 6 * 9
    assert pairs[0].line == 2 and pairs[9].line > pairs[0].line  # lines of the JSON array's elements
    assert [p.slot for p in pairs[:4]] == [(0, 0), (0, 1), (0, 2), (1, 0)]
    assert pairs[1].chosen.reasoning == "Quantum superposition." and "entanglement:" in pairs[1].rejected.reasoning
    fmt, pairs = load_benchmark(_path(fixtures_dir, JBF))
    assert fmt.name == "judgebench" and [p.slot for p in pairs] == [(0,), (1,), (1,), (0,), (1,), (0,)]
    assert "n * (n + 1) // 2" in pairs[0].chosen.reasoning and "s[::-1]" in pairs[1].chosen.reasoning
    excluded: list[BadLine] = []
    fmt, pairs = load_benchmark(_path(fixtures_dir, RB2F), excluded=excluded)
    assert fmt.name == "rewardbench2" and len(pairs) == 8 * 3  # the Ties row is left out, and reported
    assert [(b.line, "Ties" in b.reason) for b in excluded] == [(9, True)]
    assert load_benchmark(_path(fixtures_dir, RB2F), subsets=["Math"])[1][-1].line == 4


# The fixture's 3x3 grids written out by hand from RMB_CHOSEN / RMB_REJECTED: row i = chosen style,
# column j = rejected style (concise, detailed, markdown); "1" chosen strictly higher, "0" lower,
# "T" tied (counts 0, as in RM-Bench's compute_accuracy).
HAND_GRIDS = {
    "chat": [("1T0", "11T", "111")],                                # 101: [1,2,3] vs [0,1,2]
    "code": [("111", "111", "111"), ("000", "110", "110")],         # 102: 5s vs 1s; 103: [0,2,2] vs [1,1,3]
    "math": [("TTT", "TTT", "TTT")],                                # 104: 2s vs 2s
    "safety": [("110", "110", "110"), ("111", "111", "111")],       # 105 (refuse), 106 (response)
}


def _official_rm_bench():
    """RM-Bench's leaderboard numbers from HAND_GRIDS, written independently of pgrpo's code:
    scripts/utils.py compute_accuracy (lines 48-108): per domain group the mean grid, hard = upper
    triangle, normal = diagonal, easy = lower triangle, domain = mean(hard, normal, easy); overall and
    each difficulty = unweighted mean over the four groups (README "Clarity on Avg Calculation")."""
    def cells(grids, keep):  # the mean grid's cells where keep(i, j)
        return [sum(g[i][j] == "1" for g in grids) / len(grids) for i in range(3) for j in range(3) if keep(i, j)]

    per_domain = {}
    for domain, grids in HAND_GRIDS.items():
        hard, normal, easy = (sum(cells(grids, keep)) / 3 for keep in (lambda i, j: i < j, lambda i, j: i == j,
                                                                       lambda i, j: i > j))
        per_domain[domain] = {"hard": hard, "normal": normal, "easy": easy, "all": (hard + normal + easy) / 3}
    overall = {k: sum(d[k] for d in per_domain.values()) / 4 for k in ("hard", "normal", "easy", "all")}
    return per_domain, overall


def test_rm_bench_hand_count(fixtures_dir):
    fmt, pairs = load_benchmark(_path(fixtures_dir, RMB))
    report, _ = evaluate(TableEvaluator(), pairs, fmt, "rmb", n_boot=200)
    per_domain, official = _official_rm_bench()
    # by hand: chat (hard, normal, easy) = (0, 1, 1); code (1/2, 2/3, 1); math (0, 0, 0); safety (2/3, 5/6, 1)
    assert official == pytest.approx({"hard": 7 / 24, "normal": 5 / 8, "easy": 3 / 4, "all": 5 / 9})
    cat = {k: v.accuracy for k, v in report.categories.items()}
    assert (cat["hard"], cat["normal"], cat["easy"]) == pytest.approx((7 / 24, 5 / 8, 3 / 4))
    assert (cat["code hard"], cat["code normal"], cat["code easy"]) == pytest.approx((0.5, 2 / 3, 1.0))
    assert (cat["math hard"], cat["math normal"], cat["math easy"]) == (0.0, 0.0, 0.0)
    assert {k: v.accuracy for k, v in report.subsets.items()} == pytest.approx(
        {"chat": 6 / 9, "code": 13 / 18, "math": 0.0, "safety": 5 / 6})
    assert {k: v.accuracy for k, v in report.subsets.items()} == pytest.approx(
        {k: d["all"] for k, d in per_domain.items()})
    # Overall = Domain Avg = Difficulty Avg (the leaderboard's identity); not the pooled mean of all rows
    assert report.overall.accuracy == pytest.approx(5 / 9) == pytest.approx((7 / 24 + 5 / 8 + 3 / 4) / 3)
    assert report.overall.accuracy != pytest.approx((6 + 9 + 4 + 0 + 6 + 9) / 54)
    assert report.overall.n == 6
    # ties: chat's 2 are hard cells, math's 9 are 3 per difficulty
    assert report.overall.ties == 11 and report.subsets["math"].ties == 9 and report.subsets["chat"].ties == 2
    assert (report.categories["hard"].ties, report.categories["normal"].ties, report.categories["easy"].ties) == (5, 3, 3)
    assert report.categories["math hard"].ties == 3 and report.categories["code hard"].ties == 0
    assert report.overall.ci_low <= report.overall.accuracy <= report.overall.ci_high
    assert "| **overall** | 6 | 55.6 |" in render_markdown(report) and "| subset | prompts |" in render_markdown(report)


def test_hand_grids_match_the_score_tables():
    """HAND_GRIDS is the fixture as TableEvaluator scores it (so the hand count is of this fixture)."""
    ids = {"chat": ["101"], "code": ["102", "103"], "math": ["104"], "safety": ["105", "106"]}
    for domain, grids in HAND_GRIDS.items():
        for rid, grid in zip(ids[domain], grids):
            c, r = RMB_CHOSEN[rid], RMB_REJECTED[rid]
            assert grid == tuple("".join("1" if c[i] > r[j] else "T" if c[i] == r[j] else "0" for j in range(3))
                                 for i in range(3)), rid


def test_minified_json_array_scores_like_the_indented_one(fixtures_dir, tmp_path):
    """A minified array puts every row on line 1; rows are told apart by their ordinal, not their line."""
    minified = _path(fixtures_dir, "rm_bench_total_dataset_minified.json")
    assert json.load(open(minified)) == json.load(open(_path(fixtures_dir, RMB)))
    fmt, pairs = load_benchmark(minified)
    assert {p.line for p in pairs} == {1} and [p.row for p in pairs[::9]] == list(range(6))
    indented = evaluate(TableEvaluator(), *load_benchmark(_path(fixtures_dir, RMB))[::-1], "rmb", n_boot=50)[0]
    report = evaluate(TableEvaluator(), pairs, fmt, "rmb", n_boot=50)[0]
    assert report.overall == indented.overall and report.categories == indented.categories
    assert report.overall.n == 6 and report.overall.accuracy == pytest.approx(5 / 9)
    # RewardBench 2 rows as one minified array: 8 prompts, not 1
    rows = [json.loads(line) for line in open(_path(fixtures_dir, RB2F))]
    array = tmp_path / "rb2.json"
    array.write_text(json.dumps(rows, separators=(",", ":")))
    fmt2, pairs2 = load_benchmark(array)
    report2 = evaluate(TableEvaluator(), pairs2, fmt2, "rb2", n_boot=0)[0]
    jsonl = evaluate(TableEvaluator(), *load_benchmark(_path(fixtures_dir, RB2F))[::-1], "rb2", n_boot=0)[0]
    assert report2.overall.n == 8 and report2.subsets == jsonl.subsets


def test_per_row_rules_need_row_ordinals(fixtures_dir):
    from dataclasses import replace

    fmt, pairs = load_benchmark(_path(fixtures_dir, RMB))
    with pytest.raises(ValueError, match="no row ordinal"):
        evaluate(TableEvaluator(), [replace(p, row=None) for p in pairs], fmt, "rmb", n_boot=0)
    with pytest.raises(RuntimeError, match="18 comparisons scored over 9 of the 9 cells"):  # two rows merged
        evaluate(TableEvaluator(), [replace(p, row=0) if p.row == 1 else p for p in pairs], fmt, "rmb", n_boot=0)


def test_rewardbench2_hand_count_with_ties(fixtures_dir):
    fmt, pairs = load_benchmark(_path(fixtures_dir, RB2F))
    report, _ = evaluate(TableEvaluator(), pairs, fmt, "rb2", n_boot=200)
    # Math: 1 (strictly best), 1/2 (tied with one), 1/3 (tied with two), 0; Safety: tied with one but
    # another scores higher -> 0
    assert report.subsets["Math"].accuracy == pytest.approx((1 + 1 / 2 + 1 / 3 + 0) / 4)
    assert report.subsets["Math"].ties == 2 and report.subsets["Math"].wins == 1
    assert report.categories["math"] == report.subsets["Math"]
    assert {k: v.accuracy for k, v in report.subsets.items() if k != "Math"} == {
        "Factuality": 0.5, "Focus": 1.0, "Safety": 0.0}
    assert report.overall.accuracy == pytest.approx((11 / 24 + 0.5 + 1.0 + 0.0) / 4)
    assert "Ties" not in report.subsets
    # labelled as what it is: not the leaderboard's six-subset mean
    assert "| **overall without Ties (not the leaderboard's six-subset mean)** | 8 |" in render_markdown(report)


def test_best_of_n_credit_rules():
    assert best_of_n_credit([(1, 0), (1, 0), (1, 0)]) == 1.0
    assert best_of_n_credit([(1, 0), (1, 1), (1, 0)]) == 0.5
    assert best_of_n_credit([(1, 1), (1, 1), (1, 2)]) == 0.0
    assert best_of_n_credit([(1, 0), (0.5, 0.5), (1, 0)]) == 0.5  # a pairwise judge's split verdict


def test_judgebench_reward_model_hand_count(fixtures_dir):
    fmt, pairs = load_benchmark(_path(fixtures_dir, JBF))
    report, _ = evaluate(TableEvaluator(), pairs, fmt, "jb", n_boot=200)
    # livecodebench: A>B with A higher (right), B>A with A higher (wrong), B>A tied (wrong)
    assert report.categories["coding"].accuracy == pytest.approx(1 / 3) and report.categories["coding"].ties == 1
    assert {k: v.accuracy for k, v in report.categories.items() if k != "coding"} == {
        "knowledge": 0.0, "reasoning": 1.0, "math": 1.0}
    assert report.overall.accuracy == 0.5 and report.overall.ties == 1
    _, coding = load_benchmark(_path(fixtures_dir, JBF), subsets=["livecodebench"])
    assert len(coding) == 3


def _swap_positions(src, dst):
    """The same benchmark with response A and B swapped and the labels flipped."""
    with open(src) as f, open(dst, "w") as g:
        for line in f:
            row = json.loads(line)
            row["response_A"], row["response_B"] = row["response_B"], row["response_A"]
            row["label"] = {"A>B": "B>A", "B>A": "A>B"}[row["label"]]
            g.write(json.dumps(row) + "\n")


def _judge_by(rows, rule):
    """An llm-judge backend: `rule(shown_a_is_better, shown_b_is_better)` -> "A" / "B"."""
    better = {r["response_A"] if r["label"] == "A>B" else r["response_B"] for r in rows}

    def answer(req):
        text = req.messages[-1]["content"]
        a = text.split("### Response A\n", 1)[1].split("### Response B\n", 1)[0].strip()
        return f"[[{rule(a in better)}]]"

    return LLMJudgeEvaluator(CachedBackend(FunctionBackend(answer), None))


def test_judgebench_position_protocol(fixtures_dir, tmp_path):
    path = _path(fixtures_dir, JBF)
    rows = [json.loads(line) for line in open(path)]
    fmt, pairs = load_benchmark(path)
    perfect = _judge_by(rows, lambda a_better: "A" if a_better else "B")
    report, _ = evaluate(perfect, pairs, fmt, "jb", n_boot=0)
    assert report.overall.accuracy == 1.0 and perfect.backend.backend.calls == 2 * len(pairs)
    # Always "A": right in the file's order on the 3 A>B rows, but never in both orders -> 0.
    biased = _judge_by(rows, lambda a_better: "A")
    report, _ = evaluate(biased, pairs, fmt, "jb", n_boot=0)
    assert report.overall.accuracy == 0.0 and report.overall.ties == len(pairs)
    # Swapping the file's positions changes nothing, for a judge or a reward model.
    swapped = tmp_path / "swapped.jsonl"
    _swap_positions(path, swapped)
    fmt2, pairs2 = load_benchmark(swapped)
    assert [p.slot for p in pairs2] == [(1 - p.slot[0],) for p in pairs]
    assert evaluate(_judge_by(rows, lambda a: "A" if a else "B"), pairs2, fmt2, "jb", n_boot=0)[0].overall.accuracy == 1.0
    rm = ContentEvaluator({r[key]: JB[r["pair_id"][:8]][k] for r in rows
                           for k, key in enumerate(("response_A", "response_B"))})
    assert (evaluate(rm, pairs2, fmt2, "jb", n_boot=0)[0].overall == evaluate(rm, pairs, fmt, "jb", n_boot=0)[0].overall
            == evaluate(TableEvaluator(), pairs, fmt, "jb", n_boot=0)[0].overall)


class ContentEvaluator:
    """A fake reward model scoring each response by its text alone."""

    name = "test-content"

    def __init__(self, table):
        self.table = table

    def compare(self, pairs):
        return [(self.table[p.chosen.reasoning], self.table[p.rejected.reasoning]) for p in pairs]


class CountingScorer:
    def __init__(self):
        self.items = []

    def raw_scores(self, items):
        self.items.extend(items)
        return [float(len(item.reasoning)) for item in items]


def test_reward_model_scores_each_response_once(fixtures_dir):
    _, pairs = load_benchmark(_path(fixtures_dir, RMB))
    scorer = CountingScorer()
    scores = RewardModelEvaluator(scorer).compare(pairs)
    assert len(scorer.items) == 6 * 6 and len(scores) == 6 * 9  # 6 responses per prompt, 9 comparisons
    assert scores[1] == (len(pairs[1].chosen.reasoning), len(pairs[1].rejected.reasoning))


def test_cli_rm_bench_and_rewardbench2_outputs(fixtures_dir, tmp_path, capsys):
    out = tmp_path / "rmb"
    assert main(["rm", "eval", "--data", _path(fixtures_dir, RMB), "--evaluator", "test-table", "--out", str(out),
                 "--n-boot", "50"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["format"] == "rm-bench" and results["unit"] == "prompts"
    assert results["categories"]["code hard"]["accuracy"] == 0.5
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert len(rows) == 54 and rows[1]["slot"] == [0, 1] and rows[1]["id"] == "101"
    assert "RM-Bench rule" in capsys.readouterr().out
    code = main(["rm", "eval", "--data", _path(fixtures_dir, RB2F), "--format", "rewardbench2",
                 "--evaluator", "test-table", "--n-boot", "0"])
    captured = capsys.readouterr()
    assert code == 0 and "left out 1 row(s)" in captured.err and ":9: subset 'Ties'" in captured.err
    assert "| *math* | 4 | 45.8 |" in captured.out


@pytest.mark.parametrize("name, edit, message", [
    (RMB, lambda r: r[1].update(chosen=r[1]["chosen"][:2]), r"field 'chosen' must hold 3 responses"),
    (RMB, lambda r: r[1].update(domain="poetry"), r"field 'domain' must start with one of"),
    (RMB, lambda r: r[1]["rejected"].__setitem__(2, ""), r"field 'rejected'\[2\] must be a non-empty string"),
    (RMB, lambda r: r[1].pop("prompt"), r"missing field\(s\) \['prompt'\]"),
    (JBF, lambda r: r[1].update(label="A=B"), r"field 'label' must be one of \['A>B', 'B>A'\]"),
    (JBF, lambda r: r[1].update(response_B=""), r"field 'response_B' is empty"),
    (RB2F, lambda r: r[1].update(num_correct="1"), r"field 'num_correct' must be a positive integer"),
    (RB2F, lambda r: r[1].update(rejected="a string"), r"field 'rejected' must be a non-empty list"),
])
def test_malformed_rows_name_file_line_and_key(fixtures_dir, tmp_path, name, edit, message):
    src = _path(fixtures_dir, name)
    is_array = name.endswith(".json")
    rows = json.load(open(src)) if is_array else [json.loads(line) for line in open(src)]
    edit(rows)
    bad = tmp_path / name
    if is_array:
        text = json.dumps(rows, indent=4)
        line = text.splitlines().index("    {", 2) + 1  # where the second element starts
    else:
        text = "\n".join(json.dumps(r) for r in rows) + "\n"
        line = 2
    bad.write_text(text)
    with pytest.raises(DataError, match=f"{name}:{line}: {message}"):
        load_benchmark(bad)


def test_broken_json_array_names_the_line(tmp_path):
    bad = tmp_path / "total_dataset.json"
    bad.write_text('[\n  {"prompt": "p",\n   "chosen": ["a", "b", "c"]\n  }\n  {"x": 1}\n]\n')
    with pytest.raises(DataError, match=r"total_dataset.json:5: invalid JSON array: expected ',' or ']'"):
        load_benchmark(bad, "rm-bench")
    bad.write_text('[\n  {"prompt": "p",\n   "chosen": [\n')
    with pytest.raises(DataError, match=r"total_dataset.json:4: invalid JSON"):
        load_benchmark(bad, "rm-bench")


def test_a_plugins_format_is_found_by_name_outside_the_cli(monkeypatch, tmp_path):
    """`load_benchmark(format=NAME)` called from Python finds a format a plugin registers."""
    from pgrpo import registry
    from pgrpo.rm.bench_formats import BENCHMARK_FORMATS

    pairs = BENCHMARK_FORMATS.get("pairs")
    monkeypatch.setattr(registry, "load_plugins",
                        lambda: monkeypatch.setitem(BENCHMARK_FORMATS._items, "plugin-pairs", pairs))
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
    fmt, rows = load_benchmark(path, format="plugin-pairs")
    assert fmt is pairs and len(rows) == 1
