#!/usr/bin/env bash
# Builds llama-server from the llama.cpp source node-llama-cpp ships (llama/gitRelease.bundle), once per
# machine and node-llama-cpp version: the binary is cached outside the checkout, in
#   ${MEDGATE_CACHE_DIR:-$HOME/.cache/medgate}/llama-server/node-llama-cpp@<version>-native-noamx/bin/llama-server
# (the CPU build) or, where `nvcc` and an NVIDIA GPU (listed by `nvidia-smi -L`) are present, a CUDA build in
#   ${MEDGATE_CACHE_DIR:-$HOME/.cache/medgate}/llama-server/node-llama-cpp@<version>-cuda/bin/llama-server
# and the path is printed on the last line. The upstream tests, `npm run bench:serve -- --upstream` and
# `npm run bench:gpu` use it; `medgate serve --engine llama-server` finds the cached build (the CUDA one first
# where a GPU is present).
#
# Run from the repository root after `npm ci`. Environment:
#   MEDGATE_CACHE_DIR             cache root (default: ~/.cache/medgate)
#   BUILD_JOBS                    parallel compile jobs (default: the number of cores)
#   MEDGATE_LLAMA_SERVER_BACKEND    auto (default: cuda where nvcc and a GPU are present, else cpu), cpu or cuda
#                                 (cuda without a GPU, e.g. to build for another machine, needs CUDA_ARCHITECTURES)
#   CUDA_ARCHITECTURES            the CUDA build's GPU architectures, as CMake's CMAKE_CUDA_ARCHITECTURES
#                                 (default: native, the GPUs of this machine; 90 for the H100 and H200)
set -euo pipefail

NLC_DIR=node_modules/node-llama-cpp
BUNDLE="$NLC_DIR/llama/gitRelease.bundle"
say() { echo "build-llama-server: $*" >&2; }
die() { echo "build-llama-server: error: $*" >&2; exit 1; }

[[ -f "$BUNDLE" ]] || die "$BUNDLE not found; run \`npm ci\` first"
if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null; then
  # The build tools, where this user may install them (root, or sudo without a password).
  as_root=()
  [[ $(id -u) -eq 0 ]] || as_root=(sudo -n)
  if command -v apt-get >/dev/null && { [[ $(id -u) -eq 0 ]] || sudo -n true 2>/dev/null; }; then
    say "installing cmake and g++ (once)"
    "${as_root[@]}" apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq cmake g++ >/dev/null
  fi
  command -v cmake >/dev/null && command -v g++ >/dev/null || die "cmake and g++ are needed: sudo apt-get install cmake g++"
fi
nlc_version=$(node -p "require('./$NLC_DIR/package.json').version")

# Which build: CUDA where the compiler and a GPU are both here, else the CPU one.
nvcc=$(command -v nvcc || { [[ -x /usr/local/cuda/bin/nvcc ]] && echo /usr/local/cuda/bin/nvcc; } || true)
gpu_listed() { command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU [0-9]'; }
build=${MEDGATE_LLAMA_SERVER_BACKEND:-auto}
if [[ "$build" == auto ]]; then
  build=cpu
  [[ -n "$nvcc" ]] && gpu_listed && build=cuda
fi
cuda_args=()
case "$build" in
  cpu) flavour=native-noamx ;;
  cuda)
    [[ -n "$nvcc" ]] || die "MEDGATE_LLAMA_SERVER_BACKEND=cuda needs nvcc (the CUDA toolkit) on PATH or in /usr/local/cuda/bin"
    architectures=${CUDA_ARCHITECTURES:-}
    if [[ -z "$architectures" ]]; then
      gpu_listed || die "no NVIDIA GPU here to build for: set CUDA_ARCHITECTURES (e.g. 90 for the H100 and H200)"
      architectures=native
    fi
    flavour=cuda
    cuda_args=(-DGGML_CUDA=ON "-DCMAKE_CUDA_COMPILER=$nvcc" "-DCMAKE_CUDA_ARCHITECTURES=$architectures")
    ;;
  *) die "MEDGATE_LLAMA_SERVER_BACKEND must be auto, cpu or cuda, not '$build'" ;;
esac
# Built for this CPU (-march=native, as fast as node-llama-cpp's best CPU variant here) but without AMX:
# llama.cpp's AMX kernels crash on hosts whose CPU reports AMX while the kernel does not grant it, and
# node-llama-cpp's variant picker leaves AMX out there too. The CUDA build keeps the same CPU code for what
# stays on the CPU, and is cached apart, so a machine can hold both.
root="${MEDGATE_CACHE_DIR:-$HOME/.cache/medgate}/llama-server/node-llama-cpp@$nlc_version-$flavour"
binary="$root/bin/llama-server"
if [[ -x "$binary" ]] && "$binary" --version >/dev/null 2>&1; then
  say "cached ($binary)"
  echo "$binary"
  exit 0
fi

mkdir -p "$root"
# One build at a time per cache folder; a second caller waits for the first and reuses its binary.
exec 9>"$root/.lock"
flock 9
if [[ -x "$binary" ]] && "$binary" --version >/dev/null 2>&1; then
  say "built by another process ($binary)"
  echo "$binary"
  exit 0
fi

work=$(mktemp -d -p "$root" build.XXXXXX)
trap 'rm -rf "$work"' EXIT
say "building llama-server ($build) from node-llama-cpp@$nlc_version's llama.cpp (several minutes, once per machine)"
started=$SECONDS
git -c advice.detachedHead=false clone --quiet "$BUNDLE" "$work/src"
no_amx=()
[[ "$(uname -m)" == x86_64 ]] && no_amx=(-mno-amx-tile -mno-amx-int8 -mno-amx-bf16)
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$work/src" -B "$work/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON \
  -DCMAKE_C_FLAGS="${no_amx[*]}" -DCMAKE_CXX_FLAGS="${no_amx[*]}" "${cuda_args[@]}" >/dev/null
cmake --build "$work/build" --target llama-server -j "${BUILD_JOBS:-$(nproc)}" >/dev/null
mkdir -p "$root/bin.tmp"
cp "$work/build/bin/llama-server" "$root/bin.tmp/"
rm -rf "$root/bin"
mv "$root/bin.tmp" "$root/bin"
"$binary" --version >&2 || die "the built llama-server does not run"
say "built in $((SECONDS - started))s ($binary)"
echo "$binary"
