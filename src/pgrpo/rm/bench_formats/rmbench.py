"""RM-Bench (Liu et al., 2024; github.com/THU-KEG/RM-Bench): reader and scoring rule.

Row layout (`data/total_dataset.json`, a JSON array; JSONL works too)::

    {"id": ..., "prompt": str,
     "chosen":   [concise, detailed plain text, detailed markdown],
     "rejected": [concise, detailed plain text, detailed markdown],
     "domain": "chat" | "code" | "math" | "safety-refuse" | "safety-response"}

Each row becomes 9 pairs, chosen style i against rejected style j (`slot` (i, j)). Scoring as
RM-Bench's `compute_accuracy`: a comparison counts 1 only if the chosen side scores strictly
higher (a tie counts 0); per domain, the 3x3 grid of accuracies gives hard = mean of the upper
triangle (i < j: the chosen side is less styled than the rejected one), normal = the diagonal,
easy = the lower triangle; a domain's accuracy is the mean of its 9 cells. Domains are grouped
by prefix (chat, code, math, safety = safety-refuse + safety-response), and the overall score
and overall easy / normal / hard are the unweighted means over the domain groups present, as
RM-Bench's leaderboard reports them. Code and math (the paper's domains) are singled out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pgrpo.rm.benchmarks import BENCHMARK_FORMATS, BenchmarkFormat, Breakdown, EvalPair, rows_of, text_list
from pgrpo.rm.data import text_field
from pgrpo.rm.metrics import Accuracy, credit_accuracy, macro_accuracy
from pgrpo.rm.scoring import RMItem

STYLES = ("concise", "detailed plain", "detailed markdown")
DOMAIN_GROUPS = ("chat", "code", "math", "safety")  # RM-Bench groups domains by these prefixes
FOCUS_DOMAINS = ("code", "math")
DIFFICULTIES = ("easy", "normal", "hard")


def difficulty(i: int, j: int) -> str:
    """The RM-Bench difficulty of comparing chosen style i with rejected style j."""
    return "hard" if i < j else "normal" if i == j else "easy"


def domain_group(domain: str) -> str:
    return next(g for g in DOMAIN_GROUPS if domain.startswith(g))


def _parse(obj: dict[str, Any], line: int) -> tuple[EvalPair, ...]:
    prompt = text_field(obj, "prompt")
    domain = text_field(obj, "domain")
    if not domain.startswith(DOMAIN_GROUPS):
        raise ValueError(f"field 'domain' must start with one of {list(DOMAIN_GROUPS)}, got {domain!r}")
    chosen, rejected = (text_list(obj, key, len(STYLES)) for key in ("chosen", "rejected"))
    row_id = None if obj.get("id") is None else str(obj["id"])
    return tuple(EvalPair(domain, RMItem.from_side(prompt, chosen[i]), RMItem.from_side(prompt, rejected[j]),
                          line, row_id, (i, j))
                 for i in range(len(STYLES)) for j in range(len(STYLES)))


def _aggregate(pairs: Sequence[EvalPair], scores: Sequence[tuple[float, float]], n_boot: int, seed: int) -> Breakdown:
    # credits[group][difficulty or "all"]: one credit per row; ties[group]: tied comparisons
    credits: dict[str, dict[str, list[float]]] = {}
    ties: dict[str, int] = {}
    for row in rows_of(pairs, scores):
        cells = {pair.slot: 1.0 if c > r else 0.0 for pair, (c, r) in row}
        if len(cells) != len(STYLES) ** 2:
            raise RuntimeError(f"RM-Bench row at line {row[0][0].line}: {len(cells)} of 9 comparisons scored")
        group = domain_group(row[0][0].subset)
        by_kind = credits.setdefault(group, {kind: [] for kind in (*DIFFICULTIES, "all")})
        ties[group] = ties.get(group, 0) + sum(c == r for _, (c, r) in row)
        for kind in DIFFICULTIES:
            kind_cells = [v for (i, j), v in cells.items() if difficulty(i, j) == kind]
            by_kind[kind].append(sum(kind_cells) / len(kind_cells))
        by_kind["all"].append(sum(cells.values()) / len(cells))
    groups = [g for g in DOMAIN_GROUPS if g in credits]
    total_ties = sum(ties.values())

    def macro(kind: str) -> Accuracy:
        return macro_accuracy([credits[g][kind] for g in groups], ties=total_ties, n_boot=n_boot, seed=seed)

    categories = {kind: macro(kind) for kind in DIFFICULTIES}
    for g in FOCUS_DOMAINS:
        if g in credits:
            categories.update({f"{g} {kind}": credit_accuracy(credits[g][kind], ties=ties[g], n_boot=n_boot, seed=seed)
                               for kind in DIFFICULTIES})
    subsets = {g: credit_accuracy(credits[g]["all"], ties=ties[g], n_boot=n_boot, seed=seed) for g in groups}
    return Breakdown(macro("all"), subsets, categories)


RULE = ("RM-Bench rule: per prompt, the 3x3 grid of chosen style vs rejected style (concise, detailed, "
        "markdown); a comparison counts only if chosen scores strictly higher (ties count 0; the ties "
        "column counts tied comparisons); hard = chosen less styled than rejected, normal = same style, "
        "easy = chosen more styled; overall and easy/normal/hard: unweighted mean over the domains "
        "(chat, code, math, safety), CI by a bootstrap stratified by domain.")

BENCHMARK_FORMATS.add("rm-bench", BenchmarkFormat(
    "rm-bench", ("prompt", "chosen", "rejected", "domain"), _parse, aggregate=_aggregate, unit="prompts",
    rule=RULE))
