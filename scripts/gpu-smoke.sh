#!/usr/bin/env bash
# One-command GPU smoke check: on a machine with one GPU and no network, builds a tiny Qwen2
# policy and reward model locally and runs each stage with a pass/fail line (total < 8 min):
#   GRPO through TRL (2 steps) with HF generation, with vLLM colocate, with DeepSpeed ZeRO-3;
#   the thinking RM in-process, behind `pgrpo rm serve` and behind `vllm serve` (rm_backend vllm,
#   raw scores compared with in-process; vLLM serves under `pgrpo rm vllm-name`); `pgrpo evaluate` on 5 HumanEval
#   problems (hf, vllm); benchmarks/rm_scoring.py on the GPU.
# With two or more GPUs, also the recipes' combination on every GPU (grpo-multi-gpu): ZeRO-3 x vLLM
# colocate with sleep mode x the local tiny RM on each rank, 2 steps saved, then resumed for a
# third (every rank resumes from checkpoint-2; each step logged once; the checkpoint complete).
# `--multi-gpu` runs only that stage (and the tiny models it trains).
# With two or more GPUs, also `trainer: async` (grpo-async): 2 steps of recipes/async-tiny.yaml on TRL's
# AsyncGRPOTrainer, generating on a local `trl vllm-serve` (GPU 1; weights synced over NCCL), scoring
# P-GRPO rewards in TRL's CUDA-free child against a served RM (`pgrpo rm serve`), training on GPU 0.
# It needs vllm, aiohttp and `kernels` with FlashAttention-3 (a Hopper GPU; offline, the kernel must
# already be in the Hugging Face cache). pgrpo has not run this stage on a GPU yet.
# First, before anything is built: GPUs that `nvidia-smi` lists but torch cannot use fail the
# check (exit 1), naming the driver version and the driver torch's CUDA build needs
# (scripts/gpu_driver_check.py); `--cpu` skips that look and runs the CPU stages only.
# Installs nothing and needs no network: a GPU stage whose packages are not importable FAILS
# (`--allow-skips`: prints `skipped: <package> not installed`, as CPU stages do); `--wheels DIR` pip-installs (--no-index, --no-deps) the
# wheels in DIR whose distribution is missing into a throwaway target put on PYTHONPATH.
# Without a GPU (no nvidia-smi, or one listing none) the GPU-only stages print "no GPU: skipped"
# and the others run on the CPU
# (tiny models, recipe check, RM local and served, evaluate hf, 2 GRPO steps with HF generation;
# about a minute), exit 0 if they pass. Exit status: 1 if any stage failed.
#   usage: scripts/gpu-smoke.sh [--wheels DIR] [--out DIR] [--keep] [--allow-skips] [--multi-gpu | --cpu]
#   (PYTHON=... picks python)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
WHEELS="" OUT="" KEEP=0 ONLY_MULTI=0 CPU_ONLY=0 ALLOW_SKIPS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --multi-gpu) ONLY_MULTI=1; shift ;;
    --cpu) CPU_ONLY=1; shift ;;
    --allow-skips) ALLOW_SKIPS=1; shift ;;
    -h|--help) sed -n '2,/^#   usage/p' "$0"; exit 0 ;;
    *) echo "gpu-smoke: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$ONLY_MULTI" = 1 ] && [ "$CPU_ONLY" = 1 ]; then
  echo "gpu-smoke: --multi-gpu and --cpu exclude each other" >&2; exit 2
fi
if [ -z "$OUT" ]; then
  OUT=$(mktemp -d /tmp/pgrpo-gpu-smoke.XXXXXX)
  [ "$KEEP" = 1 ] || trap 'rm -rf "$OUT"' EXIT
fi
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
HELP="$ROOT/scripts/gpu_smoke_helpers.py"
if [ -n "$WHEELS" ]; then
  "$PY" "$HELP" wheels "$WHEELS" "$OUT/site" || exit 1
  export PYTHONPATH="$PYTHONPATH:$OUT/site"
fi

START=$(date +%s) FAILED=0 PASSED=0
NGPU=0
if [ "$CPU_ONLY" = 0 ]; then
  "$PY" "$ROOT/scripts/gpu_driver_check.py" || exit 1  # GPUs torch cannot use fail here, before any model
  NGPU=$("$PY" -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)" \
         2>/dev/null | tail -1)
  case "$NGPU" in ''|*[!0-9]*) NGPU=0 ;; esac
fi
if [ "$NGPU" -gt 0 ]; then GPU=1 DEVICE=cuda; else GPU=0 DEVICE=cpu; fi
if [ "$ONLY_MULTI" = 1 ] && [ "$NGPU" -lt 2 ]; then
  echo "gpu-smoke: --multi-gpu needs 2 or more GPUs; torch sees $NGPU" >&2; exit 1
fi

# stage NAME cpu|gpu|multi-gpu "PKG..." TIMEOUT_S COMMAND...: one pass/fail/skipped line; log in OUT/NAME.log
stage() {
  local name=$1 kind=$2 pkgs=$3 limit=$4 t0 rc
  shift 4
  if [ "$kind" = gpu ] && [ "$GPU" = 0 ]; then
    printf '%-22s no GPU: skipped\n' "$name"; return
  fi
  if [ "$kind" = multi-gpu ] && [ "$NGPU" -lt 2 ]; then
    printf '%-22s needs 2+ GPUs (%s visible): skipped\n' "$name" "$NGPU"; return
  fi
  for pkg in $pkgs; do
    if ! "$PY" -c "import $pkg" >/dev/null 2>&1; then
      if [ "$kind" != cpu ] && [ "$ALLOW_SKIPS" = 0 ]; then  # on a GPU machine a missing package fails
        printf '%-22s FAIL: %s not installed (pip install -c constraints/gpu.txt -e ".[gpu]", or --allow-skips)\n' \
          "$name" "$pkg"
        FAILED=$((FAILED + 1)); return
      fi
      printf '%-22s skipped: %s not installed\n' "$name" "$pkg"; return
    fi
  done
  t0=$(date +%s)
  timeout "$limit" bash -c '"$@"' "$name" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  if [ "$rc" = 0 ]; then
    printf '%-22s pass (%ss)\n' "$name" $(( $(date +%s) - t0 )); PASSED=$((PASSED + 1))
  else
    printf '%-22s FAIL (exit %s, %ss): last lines of %s\n' "$name" "$rc" $(( $(date +%s) - t0 )) "$OUT/$name.log"
    tail -n 15 "$OUT/$name.log" | sed 's/^/    /'
    FAILED=$((FAILED + 1))
  fi
}

POLICY="$OUT/models/policy" RM="$OUT/models/rm" RECIPE="$ROOT/recipes/tiny-cpu.yaml"
# grpo_args OUTPUT_DIR [STAGE [GPU [STEPS]]]: the tiny recipe's overrides for a GRPO stage (hf |
# vllm | multi-gpu; gpu_smoke_helpers.grpo_overrides), STEPS (2) steps on this machine's device,
# or on a GPU when GPU is 1
grpo_args() {
  local gpu=${3:-$GPU}
  # shellcheck disable=SC2046
  "$PY" "$HELP" grpo-args "$1" "$POLICY" "$RM" --stage "${2:-hf}" --steps "${4:-2}" $([ "$gpu" = 1 ] && echo --gpu)
}
train() { "$PY" -m pgrpo train --config "$RECIPE" "$@"; }
check_all() {  # every GRPO stage's arguments pass `pgrpo train --check` (the vLLM ones as on a GPU)
  # shellcheck disable=SC2046
  train --check $(grpo_args "$OUT/grpo-hf") && train --check $(grpo_args "$OUT/grpo-vllm" vllm 1) &&
    train --check $(grpo_args "$OUT/grpo-multi-gpu" multi-gpu 1) &&
    "$PY" -m pgrpo train --config "$ROOT/recipes/async-tiny.yaml" --check
}
evaluate() {  # evaluate BACKEND
  "$PY" -m pgrpo evaluate --model "$POLICY" --benchmarks humaneval --limit 5 --max-tokens 64 \
    --backend "$1" --out "$OUT/eval-$1" --sandbox-workers 2 --no-progress
}
launch() {  # launch ACCELERATE_CONFIG TRAIN_ARGS...: pgrpo train under accelerate
  local config=$1; shift
  "$PY" -m accelerate.commands.launch --config_file "$config" -m pgrpo.cli train --config "$RECIPE" "$@"
}
zero3() {
  "$PY" "$HELP" zero3-config "$OUT/zero3-1gpu.yaml" >/dev/null || return 1
  # shellcheck disable=SC2046
  launch "$OUT/zero3-1gpu.yaml" $(grpo_args "$OUT/grpo-zero3")
}
multi_gpu() {  # ZeRO-3 x vLLM colocate x local RM on all NGPU GPUs: 2 steps saved, resumed for a 3rd
  local dir="$OUT/grpo-multi-gpu" config="$OUT/zero3-${NGPU}gpu.yaml"
  "$PY" "$HELP" zero3-config "$config" --processes "$NGPU" >/dev/null || return 1
  # shellcheck disable=SC2046
  launch "$config" $(grpo_args "$dir" multi-gpu) || return 1
  echo "--- resuming for a third step"
  # shellcheck disable=SC2046
  launch "$config" $(grpo_args "$dir" multi-gpu "$GPU" 3) 2>&1 | tee "$dir-resume.log"
  [ "${PIPESTATUS[0]}" = 0 ] || return 1
  "$PY" "$HELP" check-resume "$dir" "$dir-resume.log" --resumed-from 2 --steps 3 --ranks "$NGPU"
}

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {  # wait_http URL SECONDS: until URL answers 200
  "$PY" -c 'import sys, time, urllib.request
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=5); sys.exit(0)
    except Exception:
        time.sleep(2)
sys.exit(f"{sys.argv[1]} did not answer within {sys.argv[2]} s")' "$1" "$2"
}
async_grpo() {  # trainer: async, 2 steps: the policy on `trl vllm-serve` (GPU 1), the RM served, training on GPU 0
  local dir="$OUT/grpo-async" policy="$OUT/models/policy-chat" vport rport rc pids=()
  rm -rf "$policy" && cp -r "$POLICY" "$policy" || return 1
  # the tiny tokenizer's ChatML template is not one TRL parses responses of: the copy gets Qwen2.5's
  "$PY" -c 'import sys; from transformers import AutoTokenizer; from trl.chat_template_utils import qwen2_5_chat_template
tok = AutoTokenizer.from_pretrained(sys.argv[1]); tok.chat_template = qwen2_5_chat_template; tok.save_pretrained(sys.argv[1])' \
    "$policy" || return 1
  vport=$(free_port) rport=$(free_port)
  CUDA_VISIBLE_DEVICES=1 "$PY" -m trl.cli.main vllm-serve --model "$policy" --host 127.0.0.1 --port "$vport" \
    --dtype float32 --gpu-memory-utilization 0.3 --max-model-len 1024 >"$OUT/grpo-async-vllm.log" 2>&1 &
  pids+=($!)
  CUDA_VISIBLE_DEVICES="" "$PY" -m pgrpo rm serve --model "$RM" --host 127.0.0.1 --port "$rport" --device cpu \
    >"$OUT/grpo-async-rm.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$rport/health" 120 && wait_http "http://127.0.0.1:$vport/health" 360 &&
    CUDA_VISIBLE_DEVICES=0 "$PY" -m pgrpo train --config "$ROOT/recipes/async-tiny.yaml" output_dir="$dir" \
      model.build_tiny=false model.path="$policy" reward.mode=posterior reward.rm_url="http://127.0.0.1:$rport" \
      grpo.vllm_server_base_url="http://127.0.0.1:$vport" grpo.max_steps=2
  rc=$?
  kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null
  [ "$rc" = 0 ] || { echo "--- vllm log"; tail -n 20 "$OUT/grpo-async-vllm.log"; return "$rc"; }
  "$PY" -c 'import json, pathlib, sys
rows = [json.loads(l) for l in pathlib.Path(sys.argv[1], "metrics.jsonl").read_text().splitlines() if l.strip()]
steps = sorted({r["step"] for r in rows if not r.get("summary")})
assert steps and steps[-1] == 2, f"expected 2 logged steps, got {steps}"
assert pathlib.Path(sys.argv[1], "final").is_dir(), "no final model"
print(f"async: steps {steps}, final model saved")' "$dir"
}

export PY OUT ROOT HELP GPU NGPU DEVICE POLICY RM RECIPE
export -f grpo_args train check_all evaluate launch zero3 multi_gpu free_port wait_http async_grpo

echo "pgrpo GPU smoke check: $("$PY" -c 'import sys, torch; print(f"python {sys.version.split()[0]}, torch {torch.__version__}, " + (f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU"))' 2>&1 | tail -1)"
echo "work dir: $OUT"
[ "$GPU" = 0 ] && echo "no GPU: the GPU stages are skipped; the CPU stages run"

stage tiny-models      cpu "transformers"       120 "$PY" "$HELP" models "$OUT/models"
if [ "$ONLY_MULTI" = 0 ]; then
  stage recipe-check     cpu "trl"                120 check_all
  stage rm-local         cpu "transformers"       120 "$PY" "$HELP" rm-local "$RM" "$DEVICE" "$OUT/rm-scores.json"
  stage rm-served        cpu "fastapi uvicorn httpx" 180 "$PY" "$HELP" rm-served "$RM" "$DEVICE" "$OUT/rm-scores.json"
  stage evaluate-hf      cpu "transformers"       180 evaluate hf
  # shellcheck disable=SC2046
  stage grpo-hf          cpu "trl"                300 train $(grpo_args "$OUT/grpo-hf")
  # shellcheck disable=SC2046
  stage grpo-vllm        gpu "trl vllm"           420 train $(grpo_args "$OUT/grpo-vllm" vllm)
  stage grpo-zero3       gpu "trl deepspeed"      420 zero3
  stage evaluate-vllm    gpu "vllm"               300 evaluate vllm
  stage rm-vllm          gpu "vllm httpx"         420 "$PY" "$HELP" rm-vllm "$RM" "$OUT/rm-scores.json"
  stage rm-scoring-bench gpu "transformers"       180 "$PY" "$ROOT/benchmarks/rm_scoring.py" --device cuda --items 32
  stage grpo-async       multi-gpu "trl vllm aiohttp kernels" 900 async_grpo
fi
stage grpo-multi-gpu   multi-gpu "trl vllm deepspeed" 900 multi_gpu

echo "gpu-smoke: $PASSED passed, $FAILED failed in $(( $(date +%s) - START ))s"
[ "$FAILED" = 0 ]
