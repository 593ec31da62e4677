"""The score-based RM baseline's training pairs: preference labels from the test outcome only.

Owns `BaselinePairs` and `score_based_pairs`: sample responses per problem with the policy
(pgrpo_toy.evaluate.sample_responses), judge them with a `pgrpo.verify.BatchVerify`, and for each
problem with at least one passing and one failing sample pair passing reasonings (chosen) with
failing ones (rejected), one to one after a seeded shuffle (min(passing, failing) pairs, each
sample used once; pairs whose sides read the same are dropped). Sides are reasoning only, built
by `pgrpo.rm.od.side_text` exactly as the OD pairs' are, and rows are written in the pairs.jsonl
layout `pgrpo.rm.data.load_pairs` reads ("prompt", "chosen", "rejected", dimension "outcome",
no pair_type), with the `PairsSpec` next to it, so `pgrpo.rm.train` trains on them unchanged.
This is the paper's score-based comparison against OD pairs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgrpo.data import Problem

if TYPE_CHECKING:
    from pgrpo.verify import BatchVerify

DIMENSION = "outcome"


@dataclass(frozen=True)
class BaselinePairs:
    """`count` pairs written to `path` from `problems_used` problems (those with a passing and a
    failing sample) out of `problems`; `samples` sampled responses, `passed` of them passing."""

    path: str
    count: int
    problems_used: int
    problems: int = 0
    samples: int = 0
    passed: int = 0


def outcome_pairs(problem: Problem, sides: Sequence[tuple[str, bool]], rng: random.Random) -> list[dict[str, Any]]:
    """Pair rows of one problem from its (side text, passed) samples (see the module docstring)."""
    passing = list(dict.fromkeys(text for text, ok in sides if ok and text.strip()))
    failing = list(dict.fromkeys(text for text, ok in sides if not ok and text.strip()))
    rng.shuffle(passing)
    rng.shuffle(failing)
    return [{"prompt": problem.statement, "chosen": good, "rejected": bad, "dimension": DIMENSION}
            for good, bad in zip(passing, failing) if " ".join(good.split()) != " ".join(bad.split())]


def score_based_pairs(policy_dir: str, problems: Sequence[Problem], n_samples: int, out_path: str | Path,
                      verify: BatchVerify, seed: int = 0, temperature: float = 1.0,
                      max_new_tokens: int = 120) -> BaselinePairs:
    """Sample, judge and pair (see the module docstring); writes `out_path` and its PairsSpec."""
    from pgrpo.data import write_jsonl
    from pgrpo.rm import PairsSpec, side_text
    from pgrpo_toy.evaluate import sample_responses

    responses = sample_responses(policy_dir, problems, n_samples, temperature=temperature,
                                 max_new_tokens=max_new_tokens, seed=seed)
    items = [(p, text) for p, texts in zip(problems, responses) for text in texts]
    verdicts = verify(items)
    rng = random.Random(f"score-based-pairs:{seed}")
    rows: list[dict[str, Any]] = []
    used = 0
    for i, problem in enumerate(problems):
        chunk = range(i * n_samples, (i + 1) * n_samples)
        found = outcome_pairs(problem, [(side_text(items[j][1]), verdicts[j].passed) for j in chunk], rng)
        used += bool(found)
        rows += found
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    PairsSpec(include_code=False).write(out.parent)
    count = write_jsonl(out, rows)
    return BaselinePairs(str(out), count, used, len(problems), len(items), sum(v.passed for v in verdicts))
