#!/usr/bin/env bash
# Sets up the schemathesis venv that test/integration/openApiContract.test.ts runs against a listening gateway:
# pinned schemathesis in .medgate/schemathesis-venv. Idempotent: skipped while the stamp holds the sha256 of the
# requirements.
#
# Run from the repository root (scripts/test.sh does). Environment:
#   PYTHON  interpreter that creates the venv (default: python3)
set -euo pipefail

# test/support/schemathesisRun.ts looks here.
VENV_DIR=.medgate/schemathesis-venv
REQUIREMENTS=scripts/schemathesis-requirements.txt

say() { echo "setup-schemathesis: $*"; }
die() { echo "setup-schemathesis: error: $*" >&2; exit 1; }

[[ -f "$REQUIREMENTS" ]] || die "run me from the repository root ($REQUIREMENTS not found)"

want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
stamp="$VENV_DIR/.requirements.sha256"
if [[ -x "$VENV_DIR/bin/st" && "$(cat "$stamp" 2>/dev/null || true)" == "$want" ]]; then
  say "schemathesis up to date ($VENV_DIR)"
  exit 0
fi

if [[ ! -x "$VENV_DIR/bin/python" ]]; then
  say "creating venv at $VENV_DIR"
  mkdir -p "$(dirname "$VENV_DIR")"
  "${PYTHON:-python3}" -m venv "$VENV_DIR"
fi
say "installing $REQUIREMENTS (under a minute the first time)"
started=$SECONDS
rm -f "$stamp"
"$VENV_DIR/bin/python" -m pip install -qq --no-input --progress-bar off -r "$REQUIREMENTS"
"$VENV_DIR/bin/st" --version >/dev/null || die "st does not start in $VENV_DIR"
echo "$want" >"$stamp"
say "schemathesis installed in $((SECONDS - started))s ($VENV_DIR)"
