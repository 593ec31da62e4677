"""The `pgrpo rm eval` benchmark formats: their shared types, the `BENCHMARK_FORMATS` registry and
every built-in format (lcb-rb, rewardbench, pairs, judgebench, rewardbench2, rm-bench), each turning
a row into one `EvalPair` or several (told apart by `slot`). A format with an `aggregate` scores
its rows by its benchmark's own rule (`RULE` says it in the report); the others by pairwise accuracy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pgrpo.registry import Registry
from pgrpo.rm.data import text_field
from pgrpo.rm.metrics import Accuracy, credit_accuracy, macro_accuracy
from pgrpo.rm.scoring import RMItem


@dataclass(frozen=True)
class EvalPair:
    """One benchmark pair; `line` is its 1-based line in the source file (where its row starts),
    `row` the 0-based ordinal of its row among the file's records, set by `load_benchmark` (rows
    of a minified JSON array all share line 1; the ordinal still tells them apart)."""

    subset: str
    chosen: RMItem
    rejected: RMItem
    line: int = 0
    pair_id: str | None = None
    # Where this pair sits in its row, for formats with several per row: RM-Bench (chosen style,
    # rejected style), RewardBench 2 (index of the other completion,); () for a plain pair.
    slot: tuple[int, ...] = ()
    row: int | None = None


@dataclass(frozen=True)
class Breakdown:
    """A benchmark's scores: overall, per subset, and named categories (e.g. "code", "hard")."""

    overall: Accuracy
    subsets: dict[str, Accuracy]
    categories: dict[str, Accuracy]


# (pairs, one (score_chosen, score_rejected) per pair, n_boot, seed) -> Breakdown
Aggregator = Callable[[Sequence[EvalPair], Sequence[tuple[float, float]], int, int], Breakdown]


class ExcludedRow(Exception):
    """Raised by a parser for a row its benchmark scores in a way pgrpo does not (reported, not scored)."""

    def __init__(self, subset: str, reason: str) -> None:
        super().__init__(reason)
        self.subset = subset


@dataclass(frozen=True)
class BenchmarkFormat:
    name: str
    required: tuple[str, ...]
    parse: Callable[[dict[str, Any], int], EvalPair | tuple[EvalPair, ...]]
    # Named groups of subsets (glob patterns) reported together, e.g. RewardBench "code".
    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The benchmark's own scoring rule; None: pairwise accuracy, per subset / category.
    aggregate: Aggregator | None = None
    unit: str = "pairs"  # what `n` counts in the report
    rule: str = "Ties count half."  # one line on how the accuracy is computed, printed under the table
    overall_label: str = "overall"  # the overall row's name in the report (say when it is not the usual one)
    tie_credit: float = 0.5  # what a tied pair earns under pairwise accuracy


BENCHMARK_FORMATS: Registry[BenchmarkFormat] = Registry("benchmark format")


def text_list(obj: dict[str, Any], key: str, length: int | None = None) -> list[str]:
    """obj[key], a non-empty list of non-empty strings (of exactly `length` if given); ValueError
    naming the key (and the item) otherwise."""
    value = obj.get(key)
    if not isinstance(value, list) or not value:
        raise ValueError(f"field {key!r} must be a non-empty list of strings, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise ValueError(f"field {key!r} must hold {length} responses, got {len(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"field {key!r}[{i}] must be a non-empty string, got {item!r:.40}")
    return value


def rows_of(pairs: Sequence[EvalPair], scores: Sequence[tuple[float, float]]
            ) -> list[list[tuple[EvalPair, tuple[float, float]]]]:
    """The (pair, scores) of each source row (pairs of a row share its `row` ordinal), in file order.
    ValueError for a pair without one (not read by `load_benchmark`)."""
    rows: dict[int, list[tuple[EvalPair, tuple[float, float]]]] = {}
    for pair, score in zip(pairs, scores):
        if pair.row is None:
            raise ValueError(f"pair at line {pair.line} (id {pair.pair_id}) has no row ordinal: per-row scoring "
                             f"needs pairs read by pgrpo.rm.benchmarks.load_benchmark")
        rows.setdefault(pair.row, []).append((pair, score))
    return list(rows.values())


def _row_id(obj: dict[str, Any], key: str = "id") -> str | None:
    return None if obj.get(key) is None else str(obj[key])


# -- lcb-rb (what `pgrpo bench build` writes), rewardbench (RewardBench 1), pairs (training pairs) ----
def _parse_lcb_rb(obj: dict[str, Any], line: int) -> EvalPair:
    problem = text_field(obj, "problem")
    # An empty code field means "no code" (None), the layout training and the RL reward use too.
    chosen, rejected = (RMItem(problem, text_field(obj, f"{side}_reasoning"),
                               text_field(obj, f"{side}_code", allow_empty=True) or None)
                        for side in ("chosen", "rejected"))
    subset = obj.get("subset") or obj.get("difficulty") or "lcb-rb"
    return EvalPair(str(subset), chosen, rejected, line, str(obj.get("question_id")))


def _pair_sides(obj: dict[str, Any]) -> tuple[RMItem, RMItem]:
    prompt = text_field(obj, "prompt")
    chosen, rejected = (RMItem.from_side(prompt, text_field(obj, side)) for side in ("chosen", "rejected"))
    return chosen, rejected


def _parse_rewardbench(obj: dict[str, Any], line: int) -> EvalPair:
    return EvalPair(text_field(obj, "subset"), *_pair_sides(obj), line, _row_id(obj))


def _parse_pairs(obj: dict[str, Any], line: int) -> EvalPair:
    return EvalPair(str(obj.get("pair_type") or "all"), *_pair_sides(obj), line)


BENCHMARK_FORMATS.add("lcb-rb", BenchmarkFormat(
    "lcb-rb", ("problem", "chosen_reasoning", "chosen_code", "rejected_reasoning", "rejected_code"),
    _parse_lcb_rb))
BENCHMARK_FORMATS.add("rewardbench", BenchmarkFormat(
    "rewardbench", ("prompt", "chosen", "rejected", "subset"), _parse_rewardbench,
    categories=(("code", ("hep-*",)), ("math", ("math-prm",)))))
BENCHMARK_FORMATS.add("pairs", BenchmarkFormat("pairs", ("prompt", "chosen", "rejected"), _parse_pairs))


# -- JudgeBench (Tan et al., 2024; github.com/ScalerLab/JudgeBench) ----------------------------------
# Rows: question, source, response_A, response_B, label "A>B" | "B>A"; slot (0,) when the chosen
# response is shown as A. A pairwise judge is asked in both orders (pgrpo.rm.judge_eval), so a split
# verdict is a tie; JudgeBench counts it wrong, as it does an RM's tie (its RM judge answers "B>A").
JUDGEBENCH_LABELS = ("A>B", "B>A")  # index = where the file shows the chosen response (0: A, 1: B)


def _parse_judgebench(obj: dict[str, Any], line: int) -> EvalPair:
    question = text_field(obj, "question")
    source = text_field(obj, "source")
    label = obj.get("label")
    if label not in JUDGEBENCH_LABELS:
        raise ValueError(f"field 'label' must be one of {list(JUDGEBENCH_LABELS)}, got {label!r}")
    a, b = (RMItem.from_side(question, text_field(obj, key)) for key in ("response_A", "response_B"))
    chosen, rejected = (a, b) if label == "A>B" else (b, a)
    slot = (JUDGEBENCH_LABELS.index(label),)
    return EvalPair(source, chosen, rejected, line, _row_id(obj, "pair_id"), slot)


BENCHMARK_FORMATS.add("judgebench", BenchmarkFormat(
    "judgebench", ("question", "response_A", "response_B", "label", "source"), _parse_judgebench,
    categories=(("knowledge", ("mmlu-pro*",)), ("reasoning", ("livebench-reasoning",)),
                ("math", ("livebench-math",)), ("coding", ("livecodebench",))),
    rule="JudgeBench rule: a pair counts only if the labelled-better response wins; a pairwise judge must "
         "pick it in both orders (a split or failed verdict counts as wrong, the ties column counts them); "
         "a reward model scores each response alone, so order cannot matter (an RM tie counts as wrong).",
    tie_credit=0.0))


# -- RewardBench 2 (Malik et al., 2025; allenai/reward-bench-2, its scripts/run_v2.py) ---------------
# Best-of-4: the first chosen completion against every other (slot (k,)). Ties is left out: run_v2
# scores it by a weighted accuracy + margin composite, not per row, so our overall is not the
# leaderboard's six-subset mean.
def best_of_n_credit(scores: Sequence[tuple[float, float]]) -> float:
    """A row's credit from (chosen, other) score pairs: 0 if another completion scores higher,
    else 1 / (1 + number of others tied with the chosen one)."""
    if any(other > chosen for chosen, other in scores):
        return 0.0
    return 1.0 / (1 + sum(other == chosen for chosen, other in scores))


def _parse_rewardbench2(obj: dict[str, Any], line: int) -> tuple[EvalPair, ...]:
    subset = text_field(obj, "subset")
    if subset.lower() == "ties":
        raise ExcludedRow(subset, "scored by RewardBench 2's weighted accuracy + margin composite, "
                                  "not implemented; left out")
    prompt = text_field(obj, "prompt")
    chosen = text_list(obj, "chosen")
    others = chosen[1:] + text_list(obj, "rejected")
    num_correct = obj.get("num_correct")
    if isinstance(num_correct, bool) or not isinstance(num_correct, int) or num_correct < 1:
        raise ValueError(f"field 'num_correct' must be a positive integer, got {num_correct!r}")
    first = RMItem.from_side(prompt, chosen[0])
    return tuple(EvalPair(subset, first, RMItem.from_side(prompt, other), line, _row_id(obj), (k,))
                 for k, other in enumerate(others))


def _aggregate_rewardbench2(pairs: Sequence[EvalPair], scores: Sequence[tuple[float, float]], n_boot: int,
                            seed: int) -> Breakdown:
    credits: dict[str, list[float]] = {}
    for row in rows_of(pairs, scores):
        credits.setdefault(row[0][0].subset, []).append(best_of_n_credit([s for _, s in row]))
    shared = {name: sum(0.0 < c < 1.0 for c in values) for name, values in credits.items()}
    subsets = {name: credit_accuracy(credits[name], ties=shared[name], n_boot=n_boot, seed=seed)
               for name in sorted(credits)}
    categories = {"math": subsets["Math"]} if "Math" in subsets else {}
    overall = macro_accuracy([credits[name] for name in sorted(credits)], ties=sum(shared.values()),
                             n_boot=n_boot, seed=seed)
    return Breakdown(overall, subsets, categories)


BENCHMARK_FORMATS.add("rewardbench2", BenchmarkFormat(
    "rewardbench2", ("prompt", "chosen", "rejected", "subset", "num_correct"), _parse_rewardbench2,
    aggregate=_aggregate_rewardbench2, unit="prompts",
    rule="RewardBench 2 rule: a prompt counts 1 if its chosen completion scores strictly above all 3 (or "
         "more) others, 1/m if it shares the top score with m-1 of them (the ties column counts such "
         "prompts), else 0; overall: unweighted mean over the subsets, Ties excluded (so not the "
         "leaderboard's six-subset score), CI by a bootstrap stratified by subset.",
    overall_label="overall without Ties (not the leaderboard's six-subset mean)"))


# -- RM-Bench (Liu et al., 2024; github.com/THU-KEG/RM-Bench, scripts/utils.py compute_accuracy) -----
# Rows: prompt, domain, chosen / rejected = [concise, detailed plain, detailed markdown]; 9 pairs
# per row (slot (i, j)). Overall and easy / normal / hard are unweighted means over the domain
# groups (its leaderboard's "Clarity on Avg Calculation"), over the groups present with --subsets.
RMBENCH_STYLES = ("concise", "detailed plain", "detailed markdown")
DOMAIN_GROUPS = ("chat", "code", "math", "safety")  # RM-Bench groups domains by these prefixes
DIFFICULTIES = ("easy", "normal", "hard")


def difficulty(i: int, j: int) -> str:
    """The RM-Bench difficulty of comparing chosen style i with rejected style j."""
    return "hard" if i < j else "normal" if i == j else "easy"


def _parse_rmbench(obj: dict[str, Any], line: int) -> tuple[EvalPair, ...]:
    prompt = text_field(obj, "prompt")
    domain = text_field(obj, "domain")
    if not domain.startswith(DOMAIN_GROUPS):
        raise ValueError(f"field 'domain' must start with one of {list(DOMAIN_GROUPS)}, got {domain!r}")
    n = len(RMBENCH_STYLES)
    chosen, rejected = (text_list(obj, key, n) for key in ("chosen", "rejected"))
    return tuple(EvalPair(domain, RMItem.from_side(prompt, chosen[i]), RMItem.from_side(prompt, rejected[j]),
                          line, _row_id(obj), (i, j))
                 for i in range(n) for j in range(n))


def _aggregate_rmbench(pairs: Sequence[EvalPair], scores: Sequence[tuple[float, float]], n_boot: int,
                       seed: int) -> Breakdown:
    # credits[group][difficulty or "all"]: one credit per row; ties[group][...]: tied comparisons
    credits: dict[str, dict[str, list[float]]] = {}
    ties: dict[str, Counter[str]] = {}
    for row in rows_of(pairs, scores):
        if len(row) != len(RMBENCH_STYLES) ** 2 or len({pair.slot for pair, _ in row}) != len(row):
            raise RuntimeError(f"RM-Bench row at line {row[0][0].line}: {len(row)} comparisons scored over "
                               f"{len({pair.slot for pair, _ in row})} of the 9 cells")
        group = next(g for g in DOMAIN_GROUPS if row[0][0].subset.startswith(g))
        by_kind = credits.setdefault(group, {kind: [] for kind in (*DIFFICULTIES, "all")})
        for kind, kind_credits in by_kind.items():
            cells = [(c, r) for pair, (c, r) in row if kind in ("all", difficulty(*pair.slot))]
            kind_credits.append(sum(c > r for c, r in cells) / len(cells))
            ties.setdefault(group, Counter())[kind] += sum(c == r for c, r in cells)
    groups = [g for g in DOMAIN_GROUPS if g in credits]

    def macro(kind: str) -> Accuracy:
        return macro_accuracy([credits[g][kind] for g in groups], ties=sum(ties[g][kind] for g in groups),
                              n_boot=n_boot, seed=seed)

    def one(group: str, kind: str) -> Accuracy:
        return credit_accuracy(credits[group][kind], ties=ties[group][kind], n_boot=n_boot, seed=seed)

    categories = {kind: macro(kind) for kind in DIFFICULTIES}
    for g in ("code", "math"):  # the paper's domains
        if g in credits:
            categories.update({f"{g} {kind}": one(g, kind) for kind in DIFFICULTIES})
    subsets = {g: one(g, "all") for g in groups}
    return Breakdown(macro("all"), subsets, categories)


BENCHMARK_FORMATS.add("rm-bench", BenchmarkFormat(
    "rm-bench", ("prompt", "chosen", "rejected", "domain"), _parse_rmbench, aggregate=_aggregate_rmbench,
    unit="prompts",
    rule="RM-Bench rule: per prompt, the 3x3 grid of chosen style vs rejected style (concise, detailed, "
         "markdown); a comparison counts only if chosen scores strictly higher (ties count 0; the ties "
         "column counts tied comparisons); hard = chosen less styled than rejected, normal = same style, "
         "easy = chosen more styled; overall and easy/normal/hard: unweighted mean over the domains "
         "(chat, code, math, safety), as RM-Bench's compute_accuracy and leaderboard; CI by a bootstrap "
         "stratified by domain."))
