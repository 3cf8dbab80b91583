// npm run bench:threads — generated tokens/s of one model at each llama.cpp thread count, one request and
// eight parallel ones, in one run: the measurement behind the default thread count.
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { InferenceEngine } from "../inference/InferenceEngine.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { "max-tokens": { type: "string", default: "64" }, threads: { type: "string" } },
});
const models = positionals.length > 0 ? positionals : [".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf"];
const threadCounts = values.threads
  ? values.threads.split(",").map(Number)
  : [...new Set([1, 2, cpus().length])].sort((a, b) => a - b);
const maxTokens = Number(values["max-tokens"]);

console.log("| model | threads | 1 request tok/s | 8 parallel tok/s |");
console.log("| --- | --- | --- | --- |");
for (const modelPath of models) {
  for (const threads of threadCounts) {
    const engine = await InferenceEngine.load({
      modelPath,
      modelName: "bench",
      gpu: false,
      threads,
      parallel: 8,
      contextSize: 512,
    });
    const run = async (concurrency: number) => {
      const started = performance.now();
      const results = await Promise.all(
        Array.from({ length: concurrency }, async (_, index) => {
          const stream = await engine.startChat({
            messages: [{ role: "user", content: "List the warning signs of sepsis." }],
            maxTokens,
            sampling: { temperature: 0.7 },
            seed: index,
          });
          return stream.result;
        }),
      );
      const tokens = results.reduce((sum, result) => sum + result.completionTokens, 0);
      return (tokens / (performance.now() - started)) * 1000;
    };
    await run(1); // warm-up
    const single = await run(1);
    const parallel = await run(8);
    console.log(
      `| ${modelPath.split("/").at(-1)} | ${threads} | ${single.toFixed(1)} | ${parallel.toFixed(1)} |`,
    );
    await engine[Symbol.asyncDispose]();
  }
}
