#!/usr/bin/env bash
# One-command GPU smoke check: on a machine with one GPU and no network, builds a tiny Qwen2
# policy and reward model locally and runs each stage with a pass/fail line (total < 8 min):
#   GRPO through TRL (2 steps) with HF generation, with vLLM colocate, with DeepSpeed ZeRO-3;
#   the thinking RM in-process, behind `pgrpo rm serve` and behind `vllm serve` (rm_backend vllm,
#   raw scores compared with in-process; vLLM serves under `pgrpo rm vllm-name`); `pgrpo evaluate` on 5 HumanEval
#   problems (hf, vllm); benchmarks/rm_scoring.py on the GPU.
# Installs nothing and needs no network: a stage whose packages are not importable prints
# `skipped: <package> not installed`; `--wheels DIR` pip-installs (--no-index, --no-deps) the
# wheels in DIR whose distribution is missing into a throwaway target put on PYTHONPATH.
# Without a GPU the GPU-only stages print "no GPU: skipped" and the others run on the CPU
# (tiny models, recipe check, RM local and served, evaluate hf, 2 GRPO steps with HF
# generation; about a minute), exit 0 if they pass. Exit status: 1 if any stage failed.
#   usage: scripts/gpu-smoke.sh [--wheels DIR] [--out DIR] [--keep]     (PYTHON=... picks python)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
WHEELS="" OUT="" KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "gpu-smoke: unknown argument $1" >&2; exit 2 ;;
  esac
done
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
if "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  GPU=1 DEVICE=cuda
else
  GPU=0 DEVICE=cpu
fi

# stage NAME cpu|gpu "PKG..." TIMEOUT_S COMMAND...: one pass/fail/skipped line; log in OUT/NAME.log
stage() {
  local name=$1 kind=$2 pkgs=$3 limit=$4 t0 rc
  shift 4
  if [ "$kind" = gpu ] && [ "$GPU" = 0 ]; then
    printf '%-22s no GPU: skipped\n' "$name"; return
  fi
  for pkg in $pkgs; do
    if ! "$PY" -c "import $pkg" >/dev/null 2>&1; then
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
# the tiny recipe moved to this device with the local tiny models and 2 GRPO steps
grpo_args() {  # grpo_args OUTPUT_DIR EXTRA...
  local dir=$1; shift
  local cpu=true bf16=false
  [ "$GPU" = 1 ] && cpu=false bf16=true
  echo "output_dir=$dir model.build_tiny=false model.path=$POLICY model.format_warmup_steps=0" \
       "reward.build_tiny_rm=false reward.rm_path=$RM reward.rm_device=$DEVICE" \
       "grpo.use_cpu=$cpu grpo.bf16=$bf16 grpo.max_steps=2 grpo.save_steps=1000 grpo.report_to=[] $*"
}
VLLM="grpo.use_vllm=true grpo.vllm_mode=colocate grpo.vllm_gpu_memory_utilization=0.3 grpo.vllm_max_model_length=512"
train() { "$PY" -m pgrpo train --config "$RECIPE" "$@"; }
check_all() {
  # shellcheck disable=SC2046
  train --check $(grpo_args "$OUT/grpo-hf") && train --check $(grpo_args "$OUT/grpo-vllm" "$VLLM")
}
evaluate() {  # evaluate BACKEND
  "$PY" -m pgrpo evaluate --model "$POLICY" --benchmarks humaneval --limit 5 --max-tokens 64 \
    --backend "$1" --out "$OUT/eval-$1" --sandbox-workers 2 --no-progress
}
zero3() {
  "$PY" "$HELP" zero3-config "$OUT/zero3-1gpu.yaml" >/dev/null || return 1
  # shellcheck disable=SC2046
  "$PY" -m accelerate.commands.launch --config_file "$OUT/zero3-1gpu.yaml" -m pgrpo.cli train \
    --config "$RECIPE" $(grpo_args "$OUT/grpo-zero3")
}

export PY OUT ROOT HELP GPU DEVICE POLICY RM RECIPE VLLM
export -f grpo_args train check_all evaluate zero3

echo "pgrpo GPU smoke check: $("$PY" -c 'import sys, torch; print(f"python {sys.version.split()[0]}, torch {torch.__version__}, " + (f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU"))' 2>&1 | tail -1)"
echo "work dir: $OUT"
[ "$GPU" = 0 ] && echo "no GPU: the GPU stages are skipped; the CPU stages run"

stage tiny-models      cpu "transformers"       120 "$PY" "$HELP" models "$OUT/models"
stage recipe-check     cpu "trl"                120 check_all
stage rm-local         cpu "transformers"       120 "$PY" "$HELP" rm-local "$RM" "$DEVICE" "$OUT/rm-scores.json"
stage rm-served        cpu "fastapi uvicorn httpx" 180 "$PY" "$HELP" rm-served "$RM" "$DEVICE" "$OUT/rm-scores.json"
stage evaluate-hf      cpu "transformers"       180 evaluate hf
# shellcheck disable=SC2046
stage grpo-hf          cpu "trl"                300 train $(grpo_args "$OUT/grpo-hf")
# shellcheck disable=SC2046
stage grpo-vllm        gpu "trl vllm"           420 train $(grpo_args "$OUT/grpo-vllm" "$VLLM")
stage grpo-zero3       gpu "trl deepspeed"      420 zero3
stage evaluate-vllm    gpu "vllm"               300 evaluate vllm
stage rm-vllm          gpu "vllm httpx"         420 "$PY" "$HELP" rm-vllm "$RM" "$OUT/rm-scores.json"
stage rm-scoring-bench gpu "transformers"       180 "$PY" "$ROOT/benchmarks/rm_scoring.py" --device cuda --items 32

echo "gpu-smoke: $PASSED passed, $FAILED failed in $(( $(date +%s) - START ))s"
[ "$FAILED" = 0 ]
