"""Overhead of `PosteriorReward` (the engines' entry point) over calling `RewardEvaluator` in process.

Both sides score the same batches with the SAME evaluator object (the one the PosteriorReward
built from the recipe: same verifier, sandbox pool and RM client), so the difference is the
entry point alone: its per-call thread, its bound and result copying. Every batch is fresh (each
round appends a distinct comment to every completion, so no cache hit), and the two sides
alternate round by round so that drift in a shared machine's load hits both alike. Prints the
median seconds per call of each side and their ratio; the target is <= 1.10.

    python benchmarks/reward_entry_overhead.py                        # tiny problems, outcome mode, 2 workers
    python benchmarks/reward_entry_overhead.py --rounds 30 --copies 4
    python benchmarks/reward_entry_overhead.py --posterior            # posterior mode, a tiny RM served on loopback
    python benchmarks/reward_entry_overhead.py --recipe RECIPE.yaml   # any recipe (posterior: its RM served)
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pgrpo.engines import PosteriorReward  # noqa: E402
from pgrpo.train.tasks import TrainExample, warmup_response  # noqa: E402

TINY_DATA = ROOT / "recipes" / "data" / "tiny-humaneval.jsonl"


def tiny_recipe(directory: Path, workers: int, rm_url: str | None) -> Path:
    path = directory / "recipe.yaml"
    reward = {"mode": "posterior", "rm_url": rm_url} if rm_url else {"mode": "outcome"}
    path.write_text(yaml.safe_dump({
        "version": 1, "output_dir": str(directory / "out"), "task": "code", "data": {"source": str(TINY_DATA)},
        "reward": reward, "sandbox": {"workers": workers},
    }), encoding="utf-8")
    return path


@contextlib.contextmanager
def tiny_rm_service(directory: Path) -> Iterator[str]:
    """An UNTRAINED tiny RM (timing only) served by `pgrpo rm serve`'s app on loopback."""
    from pgrpo.rm.scoring import RewardScorer, build_tiny_rm
    from pgrpo.rm.service import BackgroundService
    from pgrpo.tiny import build_tokenizer

    path = build_tiny_rm(directory / "tiny-rm", tokenizer=build_tokenizer())
    with BackgroundService(RewardScorer(str(path), device="cpu")) as svc:
        yield svc.url


def completions(reward: PosteriorReward, copies: int) -> tuple[list[str], list[str]]:
    """Per problem `copies` x (a passing answer, a failing one, an unformatted one)."""
    ids, texts = [], []
    for target in reward.evaluator().targets.values():
        good = warmup_response(TrainExample(target.task_id, "", target))
        bad = good.replace("return", "return None and", 1)
        for _ in range(copies):
            ids += [target.task_id] * 3
            texts += [good, bad, "no idea"]
    return ids, texts


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", help="a pgrpo recipe (default: the tiny problems, outcome mode)")
    parser.add_argument("--rounds", type=int, default=20, help="fresh batches per side (default 20)")
    parser.add_argument("--copies", type=int, default=2, help="completions per problem / 3 (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="sandbox workers of the default recipe")
    parser.add_argument("--posterior", action="store_true", help="the default recipe in posterior mode, its RM a "
                                                                 "tiny untrained one served on loopback")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        rm_url = stack.enter_context(tiny_rm_service(Path(tmp))) if args.posterior and not args.recipe else None
        recipe = args.recipe or str(tiny_recipe(Path(tmp), args.workers, rm_url))
        reward = PosteriorReward(recipe)
        try:
            evaluator = reward.evaluator()
            ids, texts = completions(reward, args.copies)
            reward.score(ids, texts)  # warm-up: sandbox workers started, first-call imports done
            direct, entry = [], []
            for k in range(args.rounds):
                fresh_d = [f"{t}\n# round {k} direct" for t in texts]
                fresh_e = [f"{t}\n# round {k} entry" for t in texts]
                sides = [(direct, functools.partial(evaluator.evaluate, ids, fresh_d)),
                         (entry, functools.partial(reward.score, ids, fresh_e))]
                for times, call in sides[::1 if k % 2 == 0 else -1]:  # which side goes first alternates too
                    times.append(timed(call))
        finally:
            reward.close()
    d, e = statistics.median(direct), statistics.median(entry)
    print(f"{len(texts)} completions per call, {args.rounds} fresh calls per side ({reward!r})")
    print(f"RewardEvaluator.evaluate in process: median {d * 1000:.1f} ms per call")
    print(f"PosteriorReward.score:               median {e * 1000:.1f} ms per call")
    print(f"ratio entry / direct: {e / d:.3f} (target <= 1.10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
