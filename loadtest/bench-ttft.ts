// npm run bench:ttft — where a request's time to first token goes when other sequences are generating, on the
// in-process engine (no HTTP): waiting for a free sequence, waiting for node-llama-cpp's context lock to erase the
// sequence's previous conversation (the lock the batch dispatch loop holds while any decode is queued), and the
// rest (prompt evaluation, the first sampled token). Closed-loop clients, each sending its next request as soon as
// the previous one ends, as the load client of bench:serve does.
import { parseArgs } from "node:util";
import { LlamaContextSequence } from "node-llama-cpp";
import { InferenceEngine } from "../inference/InferenceEngine.ts";
import { percentile } from "./benchParts.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    concurrency: { type: "string", default: "8" },
    parallel: { type: "string", default: "8" },
    requests: { type: "string", default: "48" },
    "max-tokens": { type: "string", default: "64" },
    threads: { type: "string", default: "1" },
  },
});

// Time spent in each erase of a sequence's tokens (node-llama-cpp's internal method, wrapped here only): the wait
// for the context lock is most of it.
const erases: number[] = [];
type Erase = (this: LlamaContextSequence, ...args: unknown[]) => Promise<unknown>;
const prototype = LlamaContextSequence.prototype as unknown as { _eraseContextTokenRanges: Erase };
const erase = prototype._eraseContextTokenRanges;
prototype._eraseContextTokenRanges = async function (this: LlamaContextSequence, ...args: unknown[]) {
  const started = performance.now();
  try {
    return await erase.apply(this, args);
  } finally {
    erases.push(performance.now() - started);
  }
};

const engine = await InferenceEngine.load({
  modelPath: values.model,
  modelName: "profile",
  threads: Number(values.threads),
  parallel: Number(values.parallel),
  contextSize: 1024 * Number(values.parallel),
  gpu: false,
});
const questions = [
  "What are the early signs of sepsis?",
  "How should a mild asthma attack be managed at home?",
  "When is a headache an emergency?",
  "What does a high HbA1c mean?",
  "How long should a fever last before seeing a doctor?",
  "What are the side effects of metformin?",
  "How do I know if a cut needs stitches?",
  "What is a normal resting heart rate?",
];
type Sample = { ttft: number; acquire: number };
const samples: Sample[] = [];
let sent = 0;
const total = Number(values.requests);
const client = async (index: number) => {
  while (sent < total) {
    const n = sent++;
    const started = performance.now();
    let firstAt: number | null = null;
    const stream = await engine.startChat({
      messages: [{ role: "user", content: `${questions[(n + index) % questions.length]} (patient ${n})` }],
      maxTokens: Number(values["max-tokens"]),
      sampling: { temperature: 0.7 },
      seed: n,
    });
    const acquiredAt = performance.now();
    for await (const delta of stream) {
      if (firstAt === null && delta.text !== "") firstAt = performance.now();
    }
    await stream.result;
    samples.push({ ttft: (firstAt ?? performance.now()) - started, acquire: acquiredAt - started });
  }
};
await Promise.all(Array.from({ length: Number(values.concurrency) }, (_, i) => client(i)));
await engine[Symbol.asyncDispose]();

const column = (numbers: number[]) => {
  if (numbers.length === 0) return "none";
  const sorted = [...numbers].sort((a, b) => a - b);
  return `${percentile(sorted, 0.5).toFixed(0)} / ${percentile(sorted, 0.99).toFixed(0)} / ${sorted.at(-1)!.toFixed(0)}`;
};
console.log(
  `${samples.length} requests, concurrency ${values.concurrency}, ${values.parallel} sequences, ${values["max-tokens"]} tokens, ${values.threads} thread(s); ms p50 / p99 / max:`,
);
console.log(`  time to first token          ${column(samples.map((sample) => sample.ttft))}`);
console.log(`  waiting for a free sequence  ${column(samples.map((sample) => sample.acquire))}`);
console.log(`  each erase (${erases.length} of them)      ${column(erases)}`);
