// npm run bench:serve — aggregate generated tokens/s through the HTTP gateway versus calling the inference
// engine in-process, same model and settings, at concurrency 1 and 8, in one run.
import { parseArgs } from "node:util";
import { createApp } from "../gateway/createApp.ts";
import { GatewayServer } from "../gateway/GatewayServer.ts";
import { ServedModels } from "../gateway/ServedModels.ts";
import { InferenceEngine } from "../inference/InferenceEngine.ts";
import { type LoadResult, runChatLoad } from "./chatLoad.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    threads: { type: "string" },
    "max-tokens": { type: "string", default: "64" },
    rounds: { type: "string", default: "3" },
    stream: { type: "boolean", default: false },
  },
});
const maxTokens = Number(values["max-tokens"]);
const rounds = Number(values.rounds);
const questions = [
  "What are the first-line treatments for community-acquired pneumonia?",
  "Explain the difference between type 1 and type 2 diabetes.",
  "What are warning signs of a stroke?",
  "How is iron-deficiency anaemia diagnosed?",
];
const requestFor = (index: number) => ({
  model: "bench",
  messages: [{ role: "user" as const, content: questions[index % questions.length]! }],
  max_tokens: maxTokens,
  temperature: 0.7,
  seed: index,
});

const engine = await InferenceEngine.load({
  modelPath: values.model,
  modelName: "bench",
  gpu: false,
  parallel: 8,
  contextSize: 1024,
  threads: values.threads ? Number(values.threads) : undefined,
});
const models = new ServedModels();
models.serve("bench", engine);
const server = await GatewayServer.listen(createApp({ models }), models, { port: 0 });

async function direct(concurrency: number, requests: number): Promise<LoadResult> {
  let next = 0;
  let completionTokens = 0;
  const latenciesMs: number[] = [];
  const started = performance.now();
  const worker = async () => {
    for (let index = next++; index < requests; index = next++) {
      const body = requestFor(index);
      const sent = performance.now();
      const stream = await engine.startChat({
        messages: body.messages,
        maxTokens: body.max_tokens,
        sampling: { temperature: body.temperature },
        seed: body.seed,
      });
      const result = await stream.result;
      completionTokens += result.completionTokens;
      latenciesMs.push(performance.now() - sent);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - started;
  return {
    requests,
    completionTokens,
    wallMs,
    tokensPerSecond: (completionTokens / wallMs) * 1000,
    latenciesMs,
    failures: 0,
  };
}

const viaGateway = (concurrency: number, requests: number) =>
  runChatLoad({
    baseUrl: `${server.url}/v1`,
    concurrency,
    requests,
    body: requestFor,
    stream: values.stream,
  });

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const levels = [
  { concurrency: 1, requests: 8 },
  { concurrency: 8, requests: 32 },
];
console.error(
  `model ${values.model}, ${engine.info.threads} thread(s), ${engine.info.parallel} sequences, max_tokens ${maxTokens}, ${rounds} rounds, ${values.stream ? "streamed" : "whole"} answers`,
);
await direct(2, 4); // warm-up
const results: { concurrency: number; direct: number[]; gateway: number[]; failures: number }[] = [];
for (const level of levels) {
  const row = {
    concurrency: level.concurrency,
    direct: [] as number[],
    gateway: [] as number[],
    failures: 0,
  };
  for (let round = 0; round < rounds; round++) {
    // Alternate the order so that drift of the machine does not favour one side.
    const pair =
      round % 2 === 0
        ? [
            await direct(level.concurrency, level.requests),
            await viaGateway(level.concurrency, level.requests),
          ]
        : [undefined, await viaGateway(level.concurrency, level.requests)];
    const directResult = pair[0] ?? (await direct(level.concurrency, level.requests));
    row.direct.push(directResult.tokensPerSecond);
    row.gateway.push(pair[1]!.tokensPerSecond);
    row.failures += pair[1]!.failures;
  }
  results.push(row);
}
await server.close();

console.log("| concurrency | direct engine tok/s | gateway tok/s | gateway / direct | failed requests |");
console.log("| --- | --- | --- | --- | --- |");
for (const row of results) {
  const d = median(row.direct);
  const g = median(row.gateway);
  console.log(
    `| ${row.concurrency} | ${d.toFixed(1)} | ${g.toFixed(1)} | ${(g / d).toFixed(3)}× | ${row.failures} |`,
  );
}
const c1 = results.find((row) => row.concurrency === 1)!;
const c8 = results.find((row) => row.concurrency === 8)!;
console.log(
  `\nbatching: concurrency 8 / concurrency 1 aggregate tok/s — direct ${(median(c8.direct) / median(c1.direct)).toFixed(2)}×, gateway ${(median(c8.gateway) / median(c1.gateway)).toFixed(2)}×`,
);
