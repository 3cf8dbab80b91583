#!/usr/bin/env bash
# The GPU benchmark in one go, on a machine with an NVIDIA GPU: builds the CUDA llama-server (cached per machine),
# sets up the Python engine, runs `npm run bench:gpu` with a bounded time and keeps its output.
#
# Usage (from the repository root): bash scripts/gpu-bench.sh [SECONDS]
#   SECONDS        bench:gpu's --timeout (default: 1500); what was measured by then is still written
# Environment:
#   OUT            folder for the results (default: .medgate/bench-gpu): bench-gpu.json, bench-gpu.md (the
#                  tables), bench-gpu.log (progress), build.log, nvidia-smi.txt
#   BENCH_GPU_ARGS more arguments for bench:gpu (e.g. "--steps 20 --requests 32", "--bandwidth-gbs 3350")
#   WHEELS         a folder of wheels for an offline machine whose python3 already holds PyTorch with CUDA
#                  (and transformers, peft, accelerate): the engine's venv is then made over that python3
#                  (--system-site-packages) and takes what is missing (trl, datasets, ...) from WHEELS alone
#
# Needs node 20 with `npm ci` done (or network for it), cmake, nvcc and a GPU; without a GPU bench:gpu runs its
# small CPU path instead, and says so.
set -euo pipefail

seconds=${1:-1500}
out=${OUT:-.medgate/bench-gpu}
venv=trainer/engine/.venv
say() { echo "gpu-bench: $*" >&2; }
die() { echo "gpu-bench: error: $*" >&2; exit 1; }

[[ -f package.json && -d trainer/engine ]] || die "run me from the repository root"
[[ "$seconds" =~ ^[0-9]+$ ]] || die "SECONDS must be a whole number, not '$seconds'"
mkdir -p "$out"
command -v node >/dev/null || die "node 20 or later is needed (and \`npm ci\`)"
if [[ ! -d node_modules/node-llama-cpp ]]; then
  say "installing the node packages (npm ci)"
  npm ci --no-audit --no-fund >&2
fi
if nvidia-smi >"$out/nvidia-smi.txt" 2>&1; then
  say "$(nvidia-smi -L | head -1)"
else
  say "no NVIDIA GPU answers nvidia-smi: bench:gpu will run its CPU path"
fi

say "llama-server (the CUDA build where nvcc and a GPU are present; cached per machine)"
bash scripts/build-llama-server.sh 2> >(tee "$out/build.log" >&2) | tail -1 >"$out/llama-server-path.txt"

if [[ ! -x "$venv/bin/python" ]]; then
  if [[ -n "${WHEELS:-}" ]]; then
    [[ -d "$WHEELS" ]] || die "WHEELS=$WHEELS is not a folder"
    python3 -c 'import torch, transformers, peft, accelerate' ||
      die "WHEELS needs a python3 that holds torch, transformers, peft and accelerate"
    say "engine venv over $(command -v python3) (its PyTorch), with the wheels of $WHEELS"
    python3 -m venv --system-site-packages "$venv"
    "$venv/bin/python" -m pip install -q --no-index --no-deps --no-cache-dir "$WHEELS"/*.whl
  else
    say "setting up the Python engine (scripts/setup-python.sh)"
    bash scripts/setup-python.sh >&2
  fi
fi

say "bench:gpu, at most ${seconds}s"
status=0
# shellcheck disable=SC2086 # BENCH_GPU_ARGS is a list of arguments
timeout --kill-after=30 "$((seconds + 120))" node node_modules/tsx/dist/cli.mjs loadtest/bench-gpu.ts \
  --timeout "$seconds" --out "$out/bench-gpu.json" ${BENCH_GPU_ARGS:-} \
  2> >(tee "$out/bench-gpu.log" >&2) | tee "$out/bench-gpu.md" || status=$?
say "results in $out (exit status $status)"
exit "$status"
