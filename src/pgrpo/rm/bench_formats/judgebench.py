"""JudgeBench (Tan et al., 2024; github.com/ScalerLab/JudgeBench): reader and scoring rule.

Row layout (`data/dataset=judgebench,response_model=....jsonl`; the hub dataset
ScalerLab/JudgeBench, splits gpt / claude, has the same fields)::

    {"pair_id": str, "original_id": ..., "source": "mmlu-pro-law" | "livebench-reasoning" |
     "livebench-math" | "livecodebench", "question": str, "response_model": str,
     "response_A": str, "response_B": str, "label": "A>B" | "B>A"}

The chosen side is the response the label puts first; `slot` is (0,) when the file shows it as
A, (1,) as B. Categories follow JudgeBench's report: knowledge (mmlu-pro-*), reasoning, math,
coding (`livecodebench`, the paper-relevant subset: `--subsets livecodebench`).

Positions. A pairwise judge (evaluator llm-judge) is asked twice, the chosen response shown
first as A and then as B (pgrpo.rm.judge_eval), so the dataset's own A/B order cannot favour
it; a pair counts only if the judge picks the chosen response in both orders (position-
consistent accuracy): a split verdict, as from a judge that always answers "A", or a failed
query counts as wrong. (JudgeBench's own two-order score also credits a pair where one order
is right and the other gave no verdict; here that pair is wrong.) A reward model scores each
response on its own, so position cannot matter and one score per response is the whole
protocol; a tie counts as wrong, which is what JudgeBench's two-order run of an RM gives
(its RM judge answers "B>A" on a tie, so the two orders disagree).
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

from pgrpo.rm.bench_formats.base import BENCHMARK_FORMATS, BenchmarkFormat, Breakdown, EvalPair
from pgrpo.rm.data import text_field
from pgrpo.rm.metrics import Accuracy, credit_accuracy
from pgrpo.rm.scoring import RMItem

LABELS = ("A>B", "B>A")  # index = where the file shows the chosen response (0: A, 1: B)
CATEGORIES = (("knowledge", ("mmlu-pro*",)), ("reasoning", ("livebench-reasoning",)),
              ("math", ("livebench-math",)), ("coding", ("livecodebench",)))


def _parse(obj: dict[str, Any], line: int) -> EvalPair:
    question = text_field(obj, "question")
    source = text_field(obj, "source")
    label = obj.get("label")
    if label not in LABELS:
        raise ValueError(f"field 'label' must be one of {list(LABELS)}, got {label!r}")
    a, b = (RMItem.from_side(question, text_field(obj, key)) for key in ("response_A", "response_B"))
    chosen, rejected = (a, b) if label == "A>B" else (b, a)
    pair_id = obj.get("pair_id")
    return EvalPair(source, chosen, rejected, line, None if pair_id is None else str(pair_id),
                    (LABELS.index(label),))


def _aggregate(pairs: Sequence[EvalPair], scores: Sequence[tuple[float, float]], n_boot: int, seed: int) -> Breakdown:
    credits = [1.0 if c > r else 0.0 for c, r in scores]
    tied = [c == r for c, r in scores]

    def acc(idx: list[int]) -> Accuracy:
        return credit_accuracy([credits[i] for i in idx], ties=sum(tied[i] for i in idx), n_boot=n_boot, seed=seed)

    subsets = {s: acc([i for i, p in enumerate(pairs) if p.subset == s]) for s in sorted({p.subset for p in pairs})}
    categories: dict[str, Accuracy] = {}
    for name, patterns in CATEGORIES:
        idx = [i for i, p in enumerate(pairs) if any(fnmatchcase(p.subset, pat) for pat in patterns)]
        if idx:
            categories[name] = acc(idx)
    return Breakdown(acc(list(range(len(pairs)))), subsets, categories)


RULE = ("JudgeBench rule: a pair counts only if the labelled-better response wins; a pairwise judge must "
        "pick it in both orders (a split or failed verdict counts as wrong, the ties column counts them); "
        "a reward model scores each response alone, so order cannot matter (an RM tie counts as wrong).")

BENCHMARK_FORMATS.add("judgebench", BenchmarkFormat(
    "judgebench", ("question", "response_A", "response_B", "label", "source"), _parse,
    categories=CATEGORIES, aggregate=_aggregate, rule=RULE))
