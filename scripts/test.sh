#!/usr/bin/env bash
# npm test: static checks (types, lint and format, import directions), then every test tier.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-python.sh
bash scripts/setup-lmeval.sh
bash scripts/setup-schemathesis.sh
# Chromium for the browser tests: found, or installed where this user may; else those tests are skipped.
bash scripts/setup-browser.sh
# llama-server for the upstream tests: built once per machine (several minutes), then cached outside the clone.
echo "== llama-server"; bash scripts/build-llama-server.sh >/dev/null
echo "== typecheck"; npx tsc --noEmit
echo "== lint and format"; npx biome ci .
echo "== import directions"; npx depcruise --config .dependency-cruiser.cjs gateway inference trainer db loadtest cli
echo "== migrations match db/schema.ts"
mkdir -p .medgate && drift=$(mktemp -d -p .medgate)
cp -r migrations/. "$drift"/
npx drizzle-kit generate --dialect postgresql --schema ./db/schema.ts --out "$drift" >/dev/null
if [[ "$(ls "$drift" | wc -l)" != "$(ls migrations | wc -l)" ]] || ! diff -rq migrations "$drift" >/dev/null; then
  rm -rf "$drift"
  echo "db/schema.ts changed without a migration: run npm run db:generate and commit migrations/" >&2
  exit 1
fi
rm -rf "$drift"

echo "== tests"
mkdir -p test-artifacts
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json "$@" || status=$?
# One plain closing line with the counts, whatever the reporter printed above.
node -e '
const r = JSON.parse(require("node:fs").readFileSync("test-artifacts/vitest.json", "utf8"));
console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
for (const file of r.testResults)
  for (const test of file.assertionResults)
    if (test.status === "pending" || test.status === "skipped") console.log(`  skipped: ${test.fullName}`);
' || true
exit "$status"
