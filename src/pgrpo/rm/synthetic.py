"""A synthetic, learnable OD-style preference set for CPU smoke runs, tests and benchmarks.

Each problem gets an initial reasoning y (a few neutral steps), an optimized y+ (adds an
explicit verification step) and, per quality dimension, a degraded y- (a step replaced by a
dimension-specific flaw: a false fact, a contradiction, an off-topic digression). Pairs follow
the OD recipe: strong (y+ over y-), degraded (y over y-), optimized (y+ over y). The preference
is learnable (+1 for verification, -1 for a flaw) but not by length alone: flaws replace a step,
and neutral filler steps vary in number. Deterministic for a given seed.
"""

from __future__ import annotations

import random

TASKS = ("sum of a list", "maximum of a list", "reverse of a string", "count of vowels in a string",
         "product of two numbers", "length of the longest word", "number of even values",
         "sorted copy of a list", "first repeated character", "average of the numbers")
STEPS = ("read the input values carefully", "keep a running result in a variable",
         "loop over every element once", "handle the empty input case first",
         "return the result at the end", "use a helper variable for clarity",
         "consider the size of the input", "write the function signature")
VERIFY = "finally verify the answer on the example and on an empty input, both match"
FLAWS = {
    "factual": "note that python lists are indexed starting from one",
    "logic": "so the loop must stop before it starts which contradicts the previous step",
    "coherence": "meanwhile the weather today is nice and birds are singing outside",
}


def _reasoning(steps: list[str]) -> str:
    return "\n".join(f"Step {i + 1}: {s}." for i, s in enumerate(steps))


def synthetic_pairs(n_problems: int = 100, seed: int = 0) -> list[dict]:
    """3 pairs per problem (one per pair type); dimensions cycle over FLAWS. JSONL-ready dicts."""
    rng = random.Random(seed)
    dims = sorted(FLAWS)
    rows: list[dict] = []
    for k in range(n_problems):
        task = TASKS[k % len(TASKS)]
        prompt = f"Problem {k}: write a python function that returns the {task}. Input size up to {rng.randint(5, 99)}."
        steps = rng.sample(STEPS, rng.randint(3, 5))
        dim = dims[k % len(dims)]
        base = _reasoning(steps)
        optimized = _reasoning(steps + [VERIFY])
        flawed = list(steps)
        flawed[rng.randrange(len(flawed))] = FLAWS[dim]
        degraded = _reasoning(flawed)
        for pair_type, chosen, rejected in (("strong", optimized, degraded), ("degraded", base, degraded),
                                            ("optimized", optimized, base)):
            rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected,
                         "pair_type": pair_type, "dimension": dim})
    return rows
