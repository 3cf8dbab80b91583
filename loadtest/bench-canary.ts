// npm run bench:canary — what a shadow canary costs live traffic, in one run: streamed chat requests' generated
// tokens/s and time to first token through one gateway with no canary, and with a shadow canary answering 10% and 50%
// of the requests again in the background on a second engine of the same GGUF, in alternating rounds; with how many
// shadow answers ran and how many were dropped because the candidate had no free sequence.
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { createApiKey } from "../db/apiKeys.ts";
import type { NewCompletionRow } from "../db/schema.ts";
import { createApp } from "../gateway/createApp.ts";
import { GatewayServer } from "../gateway/GatewayServer.ts";
import { EngineBackend } from "../gateway/models/ChatBackend.ts";
import { ServedModels } from "../gateway/models/ServedModels.ts";
import { databaseGatewayDeps } from "../gateway/openGateway.ts";
import { InferenceEngine } from "../inference/InferenceEngine.ts";
import { sharedLlama } from "../inference/sharedLlama.ts";
import { scratchDatabase } from "./bench-parts/scratchDatabase.ts";
import { median, percentile } from "./benchParts.ts";
import { runChatLoad } from "./chatLoad.ts";

const { values } = parseArgs({
  options: {
    postgres: { type: "string", default: "postgres://postgres@127.0.0.1:5432/postgres" },
    model: { type: "string", default: ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    concurrency: { type: "string", default: "4" },
    parallel: { type: "string", default: "4" },
    requests: { type: "string", default: "48" },
    "max-tokens": { type: "string", default: "64" },
    threads: { type: "string", default: "1" },
    rounds: { type: "string", default: "3" },
  },
});

// A scratch database for the keys and the audit trail, dropped at the end.
const scratch = await scratchDatabase(values.postgres, "medgate_bench_canary");
const { database } = scratch;

const parallel = Number(values.parallel);
const load = (modelName: string) =>
  InferenceEngine.load({
    modelPath: values.model,
    modelName,
    threads: Number(values.threads),
    parallel,
    contextSize: 1024 * parallel,
    gpu: false,
  });
const champion = await load("bench");
const candidate = await load("bench");
const models = new ServedModels();
models.serve("bench", champion, { id: randomUUID(), version: 1 });
const shadows = { run: 0 };
// Rows are counted, not stored: the measure is the shadow answers' inference, the log's cost being bench:log's.
const completionLog = {
  record: async (row: NewCompletionRow) => {
    if (row.shadowOf) shadows.run++;
  },
};
const { secret } = await createApiKey(database.db, { name: "bench client", role: "client" });
const server = await GatewayServer.listen(
  createApp(databaseGatewayDeps(database.db, { models, completionLog })),
  models,
  { port: 0 },
);
const canaryBackend = new EngineBackend(candidate);

/** The 50% shadow canary with the thread splitter off: each engine runs all of its threads whatever the other does. */
const uncapped = -1;
const llama = await sharedLlama(false);
const cap = llama.maxThreads;

try {
  const questions = [
    "What are the early signs of sepsis?",
    "How should a mild asthma attack be managed at home?",
    "When is a headache an emergency?",
    "What does a high HbA1c mean?",
  ];
  const run = async (share: number) => {
    const split = share !== uncapped;
    llama.maxThreads = split ? cap : 0;
    if (!split) share = 0.5;
    models.setCanary(
      "bench",
      share === 0
        ? undefined
        : {
            id: randomUUID(),
            mode: "shadow",
            share,
            backend: canaryBackend,
            versionId: randomUUID(),
            version: 2,
            evidence: null,
          },
    );
    const before = shadows.run;
    const result = await runChatLoad({
      baseUrl: `${server.url}/v1`,
      apiKey: secret,
      concurrency: Number(values.concurrency),
      requests: Number(values.requests),
      stream: true,
      body: (index) => ({
        model: "bench",
        messages: [{ role: "user", content: `${questions[index % questions.length]} (patient ${index})` }],
        max_tokens: Number(values["max-tokens"]),
        temperature: 0.7,
        seed: index,
      }),
    });
    // Shadow answers still running finish before the next round starts.
    while (candidate.poolStats.inUse > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    return { ...result, shadows: shadows.run - before };
  };
  await run(0); // warm-up
  const shares = [0, 0.1, 0.5, ...(Number(values.threads) > 1 ? [uncapped] : [])];
  const measured = new Map(shares.map((share) => [share, [] as Awaited<ReturnType<typeof run>>[]]));
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const share of round % 2 === 0 ? shares : [...shares].reverse())
      measured.get(share)!.push(await run(share));
  }
  console.log(
    `${values.requests} streamed requests a round at concurrency ${values.concurrency}, ${values["max-tokens"]} tokens at most, ${parallel} sequences per engine, ${values.threads} thread(s) each; median of ${values.rounds} alternating rounds`,
  );
  console.log(
    "\n| shadow canary | live tokens/s | × no canary | TTFT p50 ms | TTFT p90 ms | shadow answers run / requests | failures |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  const baseline = median(measured.get(0)!.map((result) => result.tokensPerSecond));
  for (const share of shares) {
    const results = measured.get(share)!;
    const tokens = median(results.map((result) => result.tokensPerSecond));
    const ttft = results.flatMap((result) => result.timeToFirstTokenMs);
    const ran = results.reduce((sum, result) => sum + result.shadows, 0);
    const requests = results.reduce((sum, result) => sum + result.requests, 0);
    const failures = results.reduce((sum, result) => sum + result.failures, 0);
    console.log(
      `| ${share === 0 ? "none" : share === uncapped ? "50%, threads not split" : `${share * 100}%`} | ${tokens.toFixed(1)} | ${(tokens / baseline).toFixed(3)}× | ${percentile(ttft, 0.5).toFixed(0)} | ${percentile(ttft, 0.9).toFixed(0)} | ${ran} / ${requests} | ${failures} |`,
    );
  }
} finally {
  llama.maxThreads = cap;
  models.setCanary("bench", undefined);
  await server[Symbol.asyncDispose]().catch(() => {});
  await candidate[Symbol.asyncDispose]();
  await scratch[Symbol.asyncDispose]();
}
