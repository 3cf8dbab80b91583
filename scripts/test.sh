#!/usr/bin/env bash
# npm test: static checks (types, lint and format, import directions), then every test tier.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-python.sh
echo "== typecheck"; npx tsc --noEmit
echo "== lint and format"; npx biome ci .
echo "== import directions"; npx depcruise --config .dependency-cruiser.cjs gateway inference trainer db loadtest cli
echo "== tests"; npx vitest run "$@"
