#!/usr/bin/env bash
# Sets up the lm-evaluation-harness venv that test/integration/lmEval.test.ts drives against a listening
# gateway: pinned lm-eval[api] (no torch) in .medgate/lmeval-venv. Idempotent: skipped while the stamp holds
# the sha256 of the requirements and constraints.
#
# Run from the repository root (scripts/test.sh does). Environment:
#   PYTHON  interpreter that creates the venv (default: python3)
set -euo pipefail

# test/support/lmEvalHarness.ts looks here.
VENV_DIR=.medgate/lmeval-venv
REQUIREMENTS=scripts/lmeval-requirements.txt
CONSTRAINTS=scripts/lmeval-constraints.txt

say() { echo "setup-lmeval: $*"; }
die() { echo "setup-lmeval: error: $*" >&2; exit 1; }

[[ -f "$REQUIREMENTS" && -f "$CONSTRAINTS" ]] || die "run me from the repository root ($REQUIREMENTS not found)"

want=$(cat "$REQUIREMENTS" "$CONSTRAINTS" | sha256sum | cut -d' ' -f1)
stamp="$VENV_DIR/.requirements.sha256"
if [[ -x "$VENV_DIR/bin/lm_eval" && "$(cat "$stamp" 2>/dev/null || true)" == "$want" ]]; then
  say "lm-eval up to date ($VENV_DIR)"
  exit 0
fi

if [[ ! -x "$VENV_DIR/bin/python" ]]; then
  say "creating venv at $VENV_DIR"
  mkdir -p "$(dirname "$VENV_DIR")"
  "${PYTHON:-python3}" -m venv "$VENV_DIR"
fi
say "installing $REQUIREMENTS (about a minute the first time)"
started=$SECONDS
rm -f "$stamp"
"$VENV_DIR/bin/python" -m pip install -qq --no-input --progress-bar off -c "$CONSTRAINTS" -r "$REQUIREMENTS"
"$VENV_DIR/bin/lm_eval" --help >/dev/null || die "lm_eval does not start in $VENV_DIR"
echo "$want" >"$stamp"
say "lm-eval installed in $((SECONDS - started))s ($VENV_DIR)"
