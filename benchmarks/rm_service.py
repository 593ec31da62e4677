"""Throughput of the thinking reward through `pgrpo rm serve` vs in process, same CPU, one run.

Builds a small Qwen2 reward model locally (hidden 256 x 4 layers by default; nothing is
downloaded), starts `pgrpo rm serve` on it in a subprocess on loopback (a free port), and
scores the same steps' worth of items both ways: `RewardScorer.score` in this process, and
`RMClient.score` (items_per_request = the recipe's rm_batch_size, requests concurrent). Both
sides get the same number of torch threads; after a warm-up step each, steps alternate
between the two (which goes first alternates too). Checks the scores agree (to 1e-5), prints
items/second for each and the overhead of the service.

    python benchmarks/rm_service.py [--items 64] [--steps 3] [--threads 2] [--hidden 256] [--layers 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rm_scoring import make_items  # noqa: E402 - the same long-tailed items as the scorer benchmark

from pgrpo import serving  # noqa: E402


def start_service(model_dir: str, threads: int, batch_size: int, max_length: int) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false")
    return serving.launch([sys.executable, "-m", "pgrpo", "rm", "serve", "--model", model_dir, "--port", "0",
                           "--device", "cpu", "--batch-size", str(batch_size), "--max-length", str(max_length)],
                          env=env, timeout_s=300)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=64, help="items per step (the passing completions)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16, help="forward batch and items per request")
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--items-per-request", type=int, help="default: --batch-size (as reward.rm_batch_size)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads, each side")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    from pgrpo.rm.client import RMClient
    from pgrpo.rm.scoring import RewardScorer, build_tiny_rm

    torch.set_num_threads(args.threads)
    steps = [make_items(args.items, args.seed + s) for s in range(args.steps)]
    with tempfile.TemporaryDirectory() as tmp:
        path = str(build_tiny_rm(tmp, hidden_size=args.hidden, num_layers=args.layers, num_heads=4,
                                 num_kv_heads=2))
        local = RewardScorer(path, batch_size=args.batch_size, max_length=args.max_length, device="cpu")
        proc, url = start_service(path, args.threads, args.batch_size, args.max_length)
        try:
            with RMClient(url, items_per_request=args.items_per_request or args.batch_size) as client:
                local.score(steps[0])  # warm-up, both sides: a whole step (first-shape allocations)
                client.score(steps[0])
                # Interleaved (alternating which goes first), so load from other processes hits both alike.
                t_local = t_served = 0.0
                in_process, served = [], []
                for s, items in enumerate(steps):
                    for side in ((0, 1) if s % 2 == 0 else (1, 0)):
                        start = time.perf_counter()
                        if side == 0:
                            in_process.append(local.score(items))
                            t_local += time.perf_counter() - start
                        else:
                            served.append(client.score(items))
                            t_served += time.perf_counter() - start
        finally:
            serving.stop_process(proc)

    diff = max(abs(a - b) for x, y in zip(in_process, served) for a, b in zip(x, y))
    assert diff < 1e-5, f"served and in-process scores differ by {diff}"
    n = args.items * args.steps
    print(f"{args.steps} steps x {args.items} items; model hidden {args.hidden} x {args.layers} layers; "
          f"torch threads {args.threads} each side; {os.cpu_count()} CPUs")
    print(f"in process : {n / t_local:8.2f} items/s  (RewardScorer.score, batch size {args.batch_size})")
    print(f"served     : {n / t_served:8.2f} items/s  (RMClient -> pgrpo rm serve on loopback, "
          f"{client.items_per_request} items per request)")
    print(f"ratio      : {t_served / t_local:8.3f}x time  -> overhead {100 * (t_served / t_local - 1):+.1f}% "
          f"(target <= +15%); max |score diff| {diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
