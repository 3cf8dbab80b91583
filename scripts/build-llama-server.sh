#!/usr/bin/env bash
# Builds llama-server from the llama.cpp source node-llama-cpp ships (llama/gitRelease.bundle), once per
# machine and node-llama-cpp version: the binary is cached outside the checkout, in
#   ${MEDGATE_CACHE_DIR:-$HOME/.cache/medgate}/llama-server/node-llama-cpp@<version>-native-noamx/bin/llama-server
# and the path is printed on the last line. The upstream tests and `npm run bench:serve -- --upstream` use it.
#
# Run from the repository root after `npm ci`. Environment:
#   MEDGATE_CACHE_DIR   cache root (default: ~/.cache/medgate)
#   BUILD_JOBS          parallel compile jobs (default: the number of cores)
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
# Built for this CPU (-march=native, as fast as node-llama-cpp's best CPU variant here) but without AMX:
# llama.cpp's AMX kernels crash on hosts whose CPU reports AMX while the kernel does not grant it, and
# node-llama-cpp's variant picker leaves AMX out there too.
root="${MEDGATE_CACHE_DIR:-$HOME/.cache/medgate}/llama-server/node-llama-cpp@$nlc_version-native-noamx"
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
say "building llama-server from node-llama-cpp@$nlc_version's llama.cpp (several minutes, once per machine)"
started=$SECONDS
git -c advice.detachedHead=false clone --quiet "$BUNDLE" "$work/src"
no_amx=()
[[ "$(uname -m)" == x86_64 ]] && no_amx=(-mno-amx-tile -mno-amx-int8 -mno-amx-bf16)
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$work/src" -B "$work/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON \
  -DCMAKE_C_FLAGS="${no_amx[*]}" -DCMAKE_CXX_FLAGS="${no_amx[*]}" >/dev/null
cmake --build "$work/build" --target llama-server -j "${BUILD_JOBS:-$(nproc)}" >/dev/null
mkdir -p "$root/bin.tmp"
cp "$work/build/bin/llama-server" "$root/bin.tmp/"
rm -rf "$root/bin"
mv "$root/bin.tmp" "$root/bin"
"$binary" --version >&2 || die "the built llama-server does not run"
say "built in $((SECONDS - started))s ($binary)"
echo "$binary"
