// The OpenAPI document is the contract: schemathesis (pinned by scripts/setup-schemathesis.sh) runs every check it
// has (`--checks all`: no 5xx, status codes, content types, headers and bodies as documented, schema-valid requests
// accepted and schema-violating ones refused, 405 with Allow for undeclared methods, auth enforced, and its stateful
// sequences) against /openapi.json of a listening gateway on the tiny model, with a fixed seed and a bounded number
// of cases, signed in as an admin (bearer key and page cookies), metrics on (so /metrics answers too). Its failures
// fail the test, with its own report.
// MEDGATE_CONTRACT_EXAMPLES (default 50) and MEDGATE_CONTRACT_SEED (default fixed) tune it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noRoleLimits } from "../../gateway/auth/keyRateLimit.ts";
import { pageCookies } from "../../gateway/openapi.ts";
import { testModels } from "../support/fixtures.ts";
import { startTestTelemetry } from "../support/otlpReceiver.ts";
import { runSchemathesis, schemathesisCommand } from "../support/schemathesisRun.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";

const maxExamples = Number(process.env.MEDGATE_CONTRACT_EXAMPLES ?? 50);
const seed = Number(process.env.MEDGATE_CONTRACT_SEED ?? 20261207);

describe("the OpenAPI document as a contract", () => {
  let gateway: TestGateway;
  let telemetry: AsyncDisposable;
  beforeAll(async () => {
    schemathesisCommand();
    const started = await startTestTelemetry();
    telemetry = started;
    gateway = await startGateway(
      { modelPath: testModels().ggufPath, parallel: 4, contextSize: 512 },
      {
        telemetry: { captureMessageContent: false, metricsText: started.telemetry.metricsText },
        // Admin limits too high to refuse, so that every answer carries the x-ratelimit-* headers it checks.
        roleLimits: {
          ...noRoleLimits,
          admin: { requestsPerMinute: 10_000_000, tokensPerMinute: 1_000_000_000 },
        },
      },
    );
  });
  afterAll(async () => {
    await gateway?.[Symbol.asyncDispose]();
    await telemetry?.[Symbol.asyncDispose]();
  });

  it("holds under schemathesis --checks all", { timeout: 900_000 }, async () => {
    const cookie = Object.values(pageCookies)
      .map((name) => `${name}=${gateway.apiKey}`)
      .join("; ");
    const run = await runSchemathesis({
      baseUrl: gateway.url,
      headers: { Authorization: `Bearer ${gateway.apiKey}`, Cookie: cookie },
      maxExamples,
      seed,
    });
    console.log(
      `schemathesis: ${run.operations} operations, test cases: ${run.testCases}, responses ${JSON.stringify(run.statusClasses)}, ${run.wallSeconds.toFixed(0)} s (seed ${seed}, --max-examples ${maxExamples})`,
    );
    // Its report says what failed and how to reproduce it.
    expect(run.code, `${run.argv.join(" ")}\n\n${run.output}`).toBe(0);
    expect(run.operations).toBeGreaterThan(20);
    expect(run.statusClasses["5xx"] ?? 0).toBe(0);
    expect(run.statusClasses["2xx"] ?? 0).toBeGreaterThan(0);
  });
});
