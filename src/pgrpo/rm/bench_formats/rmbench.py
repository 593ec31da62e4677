"""RM-Bench (Liu et al., 2024; github.com/THU-KEG/RM-Bench): reader and scoring rule.

Row layout (`data/total_dataset.json`, a JSON array; JSONL works too)::

    {"id": ..., "prompt": str,
     "chosen":   [concise, detailed plain text, detailed markdown],
     "rejected": [concise, detailed plain text, detailed markdown],
     "domain": "chat" | "code" | "math" | "safety-refuse" | "safety-response"}

Each row becomes 9 pairs, chosen style i against rejected style j (`slot` (i, j)). Scoring as
RM-Bench's own `compute_accuracy` (github.com/THU-KEG/RM-Bench, scripts/utils.py lines 48-108,
unchanged since the first commit 659399c; the run script scripts/run_rm.py calls it on
total_dataset.json): a comparison counts 1 only if the chosen side scores strictly higher (a
tie counts 0); per domain, the 3x3 grid of accuracies gives hard = mean of the upper triangle
(i < j: the chosen side is less styled than the rejected one), normal = the diagonal, easy =
the lower triangle, and the domain's score = mean(hard, normal, easy) (= the mean of its 9
cells). Rows carrying `domain` are split by prefix (chat, code, math, safety = safety-refuse +
safety-response: `split_dataset_by_domain`) and the overall score and overall easy / normal /
hard are the UNWEIGHTED means over the domain groups, not a pool of all rows. That is also the
leaderboard's definition (RM-Bench README, "Clarity on Avg Calculation": Overall = (Chat + Code
+ Math + Safety) / 4, Easy = (Safety_Easy + Math_Easy + Chat_Easy + Code_Easy) / 4, ...; so
Overall = mean(Easy, Normal, Hard)); the repository reports no pooled number, so neither do we.
With `--subsets`, the means run over the groups present (compute_accuracy would give NaN for an
empty domain). Code and math (the paper's domains) are singled out. Ties are counted per
difficulty: easy / normal / hard each count the tied comparisons of their own cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pgrpo.rm.bench_formats.base import (
    BENCHMARK_FORMATS,
    BenchmarkFormat,
    Breakdown,
    EvalPair,
    rows_of,
    text_list,
)
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
    # credits[group][difficulty or "all"]: one credit per row; ties[group][difficulty or "all"]:
    # tied comparisons
    kinds = (*DIFFICULTIES, "all")
    credits: dict[str, dict[str, list[float]]] = {}
    ties: dict[str, dict[str, int]] = {}
    for row in rows_of(pairs, scores):
        cells = {pair.slot: 1.0 if c > r else 0.0 for pair, (c, r) in row}
        if len(row) != len(STYLES) ** 2 or len(cells) != len(STYLES) ** 2:
            raise RuntimeError(f"RM-Bench row at line {row[0][0].line}: {len(row)} comparisons scored over "
                               f"{len(cells)} of the 9 cells")
        group = domain_group(row[0][0].subset)
        by_kind = credits.setdefault(group, {kind: [] for kind in kinds})
        tied = ties.setdefault(group, dict.fromkeys(kinds, 0))
        for pair, (c, r) in row:
            tied[difficulty(*pair.slot)] += c == r
            tied["all"] += c == r
        for kind in DIFFICULTIES:
            kind_cells = [v for (i, j), v in cells.items() if difficulty(i, j) == kind]
            by_kind[kind].append(sum(kind_cells) / len(kind_cells))
        by_kind["all"].append(sum(cells.values()) / len(cells))
    groups = [g for g in DOMAIN_GROUPS if g in credits]

    def macro(kind: str) -> Accuracy:
        return macro_accuracy([credits[g][kind] for g in groups], ties=sum(ties[g][kind] for g in groups),
                              n_boot=n_boot, seed=seed)

    def one(group: str, kind: str) -> Accuracy:
        return credit_accuracy(credits[group][kind], ties=ties[group][kind], n_boot=n_boot, seed=seed)

    categories = {kind: macro(kind) for kind in DIFFICULTIES}
    for g in FOCUS_DOMAINS:
        if g in credits:
            categories.update({f"{g} {kind}": one(g, kind) for kind in DIFFICULTIES})
    subsets = {g: one(g, "all") for g in groups}
    return Breakdown(macro("all"), subsets, categories)


RULE = ("RM-Bench rule: per prompt, the 3x3 grid of chosen style vs rejected style (concise, detailed, "
        "markdown); a comparison counts only if chosen scores strictly higher (ties count 0; the ties "
        "column counts tied comparisons); hard = chosen less styled than rejected, normal = same style, "
        "easy = chosen more styled; overall and easy/normal/hard: unweighted mean over the domains "
        "(chat, code, math, safety), as RM-Bench's compute_accuracy and leaderboard; CI by a bootstrap "
        "stratified by domain.")

BENCHMARK_FORMATS.add("rm-bench", BenchmarkFormat(
    "rm-bench", ("prompt", "chosen", "rejected", "domain"), _parse, aggregate=_aggregate, unit="prompts",
    rule=RULE))
