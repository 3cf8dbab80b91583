#!/usr/bin/env bash
# npm start: set up what is missing (Python engine, demo model), then serve the demo model.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-python.sh
exec node bin/medgate.js serve "$@"
