"""Small steps of scripts/gpu-smoke.sh that are easier in Python than in bash: build the tiny
models, score with the reward model locally, through `pgrpo rm serve` and through `vllm serve`
(reward.rm_backend=vllm; raw scores compared), install missing
wheels into a throwaway target, the `pgrpo train` overrides of each GRPO stage (the tiny recipe
on this device; vLLM colocate; the multi-GPU stage), a ZeRO-3 accelerate config for N GPUs, and
the multi-GPU stage's resume verdict. Offline only; installs nothing into the environment.

    python scripts/gpu_smoke_helpers.py COMMAND [ARGS]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ITEMS = [("Return the sum of a list.", "Loop over the list and keep a running total.", "def f(xs):\n    return sum(xs)"),
         ("Reverse a string.", "Slice with step -1.", "def f(s):\n    return s[::-1]"),
         ("Is n even?", "Check n modulo 2.", "def f(n):\n    return n % 2 == 0")]


def build_models(out: Path) -> None:
    from pgrpo.rm.scoring import build_tiny_rm
    from pgrpo.tiny import build_tiny_model, build_tokenizer

    tokenizer = build_tokenizer()
    print("policy:", build_tiny_model(out / "policy", tokenizer=tokenizer))
    print("reward model:", build_tiny_rm(out / "rm", tokenizer=tokenizer))


def local_scores(rm: str, device: str) -> list[float]:
    """Raw RM scores (logits) of ITEMS in process: compared raw, since the sigmoid squashes differences."""
    from pgrpo.rm.scoring import RewardScorer, RMItem

    scorer = RewardScorer(rm, device=device, batch_size=2)
    return scorer.raw_scores([RMItem(*item) for item in ITEMS])


def _agree(what: str, got: list[float], expected: list[float], tol: float = 1e-3) -> float:
    """Largest difference of raw scores, relative above 1; AssertionError beyond `tol`."""
    assert len(got) == len(expected), f"{what}: {len(got)} scores for {len(expected)} items"
    diff = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(got, expected))
    assert diff < tol, f"{what} raw scores {got} differ from local {expected} by {diff:.1e}"
    return diff


def rm_local(rm: str, device: str, out: Path) -> None:
    scores = local_scores(rm, device)
    assert len(scores) == len(ITEMS) and all(math.isfinite(s) for s in scores), scores
    out.write_text(json.dumps(scores))
    print(f"raw scores on {device}: {[round(s, 4) for s in scores]}")


def rm_served(rm: str, device: str, local: Path, timeout: float = 120.0) -> None:
    """Start `pgrpo rm serve` on a free loopback port (pgrpo.serving.launch: bounded wait for its
    listening line), score through RMClient, compare raw scores with the local ones, stop it."""
    from pgrpo.rm.client import RMClient
    from pgrpo.rm.scoring import RMItem
    from pgrpo.serving import launch, stop_process

    cmd = [sys.executable, "-m", "pgrpo", "rm", "serve", "--model", rm, "--port", "0", "--device", device]
    server, url = launch(cmd, timeout_s=timeout)
    try:
        with RMClient(url) as client:
            served = client.raw_scores([RMItem(*item) for item in ITEMS])
        expected = json.loads(local.read_text()) if local.exists() else local_scores(rm, device)
        print(f"served == local (max raw diff {_agree('served', served, expected):.1e}) via {url}")
    finally:
        stop_process(server)


def rm_vllm(rm: str, local: Path, timeout: float = 360.0) -> None:
    """Start `vllm serve` on the tiny scalar RM (loopback, free port; docs/rm-service.md's command,
    under the name `pgrpo rm vllm-name` gives), score through RMClient with reward.rm_backend=vllm,
    compare raw scores with the local ones, stop it."""
    import shutil
    import socket
    import urllib.request

    from pgrpo.rm.backends import VLLMBackend, vllm_served_name
    from pgrpo.rm.client import RMClient
    from pgrpo.rm.scoring import RMItem
    from pgrpo.serving import stop_process

    exe = Path(sys.executable).with_name("vllm")
    cli = str(exe) if exe.exists() else shutil.which("vllm")
    if cli is None:
        raise SystemExit("the vllm command is not on PATH")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [cli, "serve", rm, "--runner", "pooling", "--convert", "classify", "--pooler-config",
           '{"seq_pooling_type": "LAST"}', "--max-model-len", "4096", "--dtype", "float32",
           "--gpu-memory-utilization", "0.3", "--served-model-name", vllm_served_name(rm)[0],
           "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(cmd)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"vllm serve did not come up at {url} (exit {server.poll()})") from None
                time.sleep(2)
        with RMClient(url, backend=VLLMBackend(rm)) as client:
            served = client.raw_scores([RMItem(*item) for item in ITEMS])
        expected = json.loads(local.read_text()) if local.exists() else local_scores(rm, "cuda")
        print(f"vLLM == local (max raw diff {_agree('vLLM', served, expected):.1e}) via {url}")
    finally:
        stop_process(server)


def install_wheels(wheels: Path, target: Path) -> None:
    """pip install --no-index the wheels in `wheels` whose distribution is not installed."""
    missing = []
    for wheel in sorted(wheels.glob("*.whl")):
        name = wheel.name.split("-")[0]
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(str(wheel))
    if not missing:
        print(f"every wheel in {wheels} is installed already")
        return
    print(f"installing {len(missing)} wheel(s) into {target} (--no-index)")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                    "--find-links", str(wheels), "--target", str(target), *missing], check=True)


ZERO3 = """compute_environment: LOCAL_MACHINE
distributed_type: DEEPSPEED
deepspeed_config:
  offload_optimizer_device: none
  offload_param_device: none
  zero3_init_flag: true
  zero3_save_16bit_model: true
  zero_stage: 3
mixed_precision: bf16
machine_rank: 0
main_process_ip: 127.0.0.1
main_process_port: {port}
num_machines: 1
num_processes: {processes}
rdzv_backend: static
same_network: true
use_cpu: false
"""


def zero3_config(out: Path, processes: int = 1) -> None:
    """An accelerate config: DeepSpeed ZeRO-3, bf16, `processes` GPUs on this node, a free port."""
    import socket

    if processes < 1:
        raise SystemExit(f"zero3-config: --processes must be >= 1, got {processes}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out.write_text(ZERO3.format(port=port, processes=processes))
    print(out)


VLLM = {"grpo.use_vllm": "true", "grpo.vllm_mode": "colocate", "grpo.vllm_gpu_memory_utilization": "0.3",
        "grpo.vllm_max_model_length": "512"}
# ZeRO-3 x vLLM colocate with sleep mode x the local tiny RM on each rank's own GPU (rm_device
# unset: cuda:LOCAL_RANK), a checkpoint at every step so the stage can resume
MULTI_GPU = {**VLLM, "grpo.vllm_enable_sleep_mode": "true", "grpo.save_steps": "1", "reward.rm_device": "null"}
STAGES: dict[str, dict[str, str]] = {"hf": {}, "vllm": VLLM, "multi-gpu": MULTI_GPU}


def grpo_overrides(out_dir: str, policy: str, rm: str, *, gpu: bool, stage: str = "hf",
                   steps: int = 2) -> list[str]:
    """`pgrpo train --config recipes/tiny-cpu.yaml` overrides (KEY=VALUE, each key once) of a GRPO
    stage: the local tiny models, this device, `steps` steps; stage hf (HF generation), vllm
    (colocate) or multi-gpu."""
    if stage not in STAGES:
        raise SystemExit(f"grpo-args: unknown stage {stage!r} (choose from {sorted(STAGES)})")
    settings = {"output_dir": out_dir, "model.build_tiny": "false", "model.path": policy,
                "model.format_warmup_steps": "0", "reward.build_tiny_rm": "false", "reward.rm_path": rm,
                "reward.rm_device": "cuda" if gpu else "cpu", "grpo.use_cpu": str(not gpu).lower(),
                "grpo.bf16": str(gpu).lower(), "grpo.max_steps": str(steps), "grpo.save_steps": "1000",
                "grpo.report_to": "[]", **STAGES[stage]}
    return [f"{key}={value}" for key, value in settings.items()]


def check_resume(out: Path, log: Path, resumed_from: int, steps: int, ranks: int) -> None:
    """The multi-GPU stage's second run resumed: every rank says it resumed from
    checkpoint-`resumed_from`, metrics.jsonl holds steps 1..`steps` once each, and the last
    checkpoint is complete (pgrpo.train.checkpoints) with the RNG state of `ranks` ranks."""
    import re

    from pgrpo.train.checkpoints import checkpoint_problem

    said = re.findall(r"pgrpo train: resuming from (\S+)", log.read_text(encoding="utf-8", errors="replace"))
    expected = str(out / f"checkpoint-{resumed_from}")
    if len(said) != ranks or set(said) != {expected}:
        raise SystemExit(f"{log}: expected {ranks} rank(s) resuming from {expected}, got {said}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    logged = [row["step"] for row in rows if not row.get("summary")]
    if logged != list(range(1, steps + 1)):
        raise SystemExit(f"{out / 'metrics.jsonl'}: steps {logged}, expected 1..{steps} once each")
    last = out / f"checkpoint-{steps}"
    problem = checkpoint_problem(last)
    if problem is not None:
        raise SystemExit(f"{last}: incomplete: {problem}")
    rng = sorted(p.name for p in last.glob("rng_state*.pth"))
    if len(rng) != ranks:
        raise SystemExit(f"{last}: RNG state of {len(rng)} rank(s) ({rng}), expected {ranks}")
    print(f"resumed from {expected} on {ranks} rank(s); steps 1..{steps} logged once; {last.name} complete")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("models").add_argument("out", type=Path)
    for name in ("rm-local", "rm-served"):
        p = sub.add_parser(name)
        p.add_argument("rm")
        p.add_argument("device")
        p.add_argument("scores", type=Path)
    p = sub.add_parser("rm-vllm")
    p.add_argument("rm")
    p.add_argument("scores", type=Path)
    p = sub.add_parser("wheels")
    p.add_argument("wheels", type=Path)
    p.add_argument("target", type=Path)
    p = sub.add_parser("zero3-config")
    p.add_argument("out", type=Path)
    p.add_argument("--processes", type=int, default=1)
    p = sub.add_parser("grpo-args")
    for name in ("out_dir", "policy", "rm"):
        p.add_argument(name)
    p.add_argument("--gpu", action="store_true")
    p.add_argument("--stage", default="hf")
    p.add_argument("--steps", type=int, default=2)
    p = sub.add_parser("check-resume")
    p.add_argument("out", type=Path)
    p.add_argument("log", type=Path)
    for name in ("--resumed-from", "--steps", "--ranks"):
        p.add_argument(name, type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.command == "models":
        build_models(args.out)
    elif args.command == "rm-local":
        rm_local(args.rm, args.device, args.scores)
    elif args.command == "rm-served":
        rm_served(args.rm, args.device, args.scores)
    elif args.command == "rm-vllm":
        rm_vllm(args.rm, args.scores)
    elif args.command == "wheels":
        install_wheels(args.wheels, args.target)
    elif args.command == "grpo-args":
        print(" ".join(grpo_overrides(args.out_dir, args.policy, args.rm, gpu=args.gpu, stage=args.stage,
                                      steps=args.steps)))
    elif args.command == "check-resume":
        check_resume(args.out, args.log, args.resumed_from, args.steps, args.ranks)
    else:
        zero3_config(args.out, args.processes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
