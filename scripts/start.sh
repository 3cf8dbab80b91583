#!/usr/bin/env bash
# npm start: set up what is missing (Python engine, demo model), then run the demo: the whole loop on the
# embedded database and the demo model, then keep serving it. Arguments go to `medgate demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-python.sh
exec node bin/medgate.js demo "$@"
