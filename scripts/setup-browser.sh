#!/usr/bin/env bash
# Finds a Chromium for the browser tests (review page, dashboard), installing Debian's `chromium` when none is
# found and this user may (root, or sudo without a password). Writes its path to .medgate/chromium-path, or
# removes that file and says which command fixes it: the browser tests are then reported skipped. Idempotent.
#
# Environment:
#   MEDGATE_CHROMIUM   a Chromium or Chrome binary to use (skips the search)
set -uo pipefail

STATE=.medgate/chromium-path
say() { echo "setup-browser: $*"; }
mkdir -p .medgate

find_chromium() {
  if [[ -n "${MEDGATE_CHROMIUM:-}" && -x "${MEDGATE_CHROMIUM}" ]]; then echo "$MEDGATE_CHROMIUM"; return 0; fi
  local name
  for name in chromium chromium-browser google-chrome-stable google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  return 1
}

found=$(find_chromium)
if [[ -z "$found" ]] && command -v apt-get >/dev/null 2>&1; then
  as_root=()
  if [[ $(id -u) -ne 0 ]]; then
    if sudo -n true 2>/dev/null; then as_root=(sudo -n); else as_root=(false); fi
  fi
  if [[ "${as_root[*]}" != "false" ]]; then
    say "installing Debian's chromium for the browser tests (a minute, once)"
    if "${as_root[@]}" apt-get update -qq >/dev/null && \
       DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium >/dev/null; then
      found=$(find_chromium)
    else
      say "apt-get install chromium failed"
    fi
  fi
fi

if [[ -n "$found" ]]; then
  echo "$found" >"$STATE"
  say "chromium at $found"
else
  rm -f "$STATE"
  say "no Chromium found: the browser tests will be skipped. Fix: sudo apt-get install chromium (or set MEDGATE_CHROMIUM=/path/to/chrome)"
fi
exit 0
