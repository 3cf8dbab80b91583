// npm run bench:scoring — prompt tokens scored per second through `POST /v1/completions` (echo, logprobs) against
// llama-server's prompt processing (`/completion`, the forward pass alone), on the same GGUF and threads, in one
// run. Two workloads on MedMCQA questions in lm-evaluation-harness's zero-shot form: each question's prompt once
// (max_tokens 0; llama-server without its prompt cache), and lm-eval's own requests, one per answer choice (the
// question followed by " A" … " D", max_tokens 1, temperature 0; llama-server with its prompt cache, as it runs by
// default). With `--before DIR`, a checkout of an earlier medgate (its node_modules linked in) is served beside this
// one, so a change is measured before and after in the same run. The sides take turns, round after round.
import "disposablestack/auto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readMedMCQA } from "../trainer/eval/benchmarks/medmcqa.ts";
import { itemPrompt } from "../trainer/eval/protocols.ts";
import { startServeProcess } from "./benchParts.ts";
import { startLlamaServer } from "./llamaServer.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    file: { type: "string", default: "../shared/data/benchmarks/medmcqa/dev.jsonl" },
    questions: { type: "string", default: "20" },
    threads: { type: "string", default: "1" },
    rounds: { type: "string", default: "2" },
    /** A checkout of an earlier medgate to serve as the "before" side. Default: none */
    before: { type: "string" },
  },
});
const threads = values.threads;
const items = (await readMedMCQA(values.file, { cop: "1-based" })).slice(0, Number(values.questions));
const questions = items.map((item) => {
  const { prompt, continuations } = itemPrompt(item, [], "lm-eval");
  if (typeof prompt !== "string") throw new Error("lm-eval prompts are text");
  return { prompt, continuations };
});

type Request = { prompt: string; maxTokens: number };
type Workload = { name: string; requests: Request[]; promptCache: boolean };
const workloads: Workload[] = [
  {
    name: "each prompt once (max_tokens 0)",
    requests: questions.map(({ prompt, continuations }) => ({
      prompt: prompt + continuations[0],
      maxTokens: 0,
    })),
    promptCache: false,
  },
  {
    name: "lm-eval: one request per choice (max_tokens 1)",
    requests: questions.flatMap(({ prompt, continuations }) =>
      continuations.map((continuation) => ({ prompt: prompt + continuation, maxTokens: 1 })),
    ),
    promptCache: true,
  },
];

/** Sends one workload in order, one request at a time; prompt tokens and wall seconds. */
type Side = (workload: Workload) => Promise<{ tokens: number; seconds: number; engineSeconds?: number }>;

const post = async (url: string, body: unknown, key?: string) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return response.json();
};

const medgateSide =
  (url: string, key: string): Side =>
  async (workload) => {
    let tokens = 0;
    const started = performance.now();
    for (const request of workload.requests) {
      const answer = (await post(
        `${url}/completions`,
        {
          model: "bench",
          prompt: request.prompt,
          max_tokens: request.maxTokens,
          temperature: 0,
          logprobs: 1,
          echo: true,
        },
        key,
      )) as { usage: { prompt_tokens: number } };
      tokens += answer.usage.prompt_tokens;
    }
    return { tokens, seconds: (performance.now() - started) / 1000 };
  };

const scratch = await mkdtemp(join(tmpdir(), "medgate-bench-scoring-"));
try {
  await using llamaServer = await startLlamaServer({
    modelPath: values.model,
    parallel: 1,
    contextSize: 2048,
    threads: Number(threads),
    alias: "bench",
    // Its slot keeps the last prompt's KV cache, as each of medgate's sequences does; no second cache in RAM that
    // would answer a prompt seen in an earlier round.
    extraArgs: ["--cache-ram", "0"],
  });
  const llamaBase = llamaServer.url.replace(/\/v1$/u, "");
  const llamaSide: Side = async (workload) => {
    let tokens = 0;
    let engineMs = 0;
    const started = performance.now();
    for (const request of workload.requests) {
      const answer = (await post(`${llamaBase}/completion`, {
        prompt: request.prompt,
        n_predict: request.maxTokens,
        temperature: 0,
        cache_prompt: workload.promptCache,
      })) as { tokens_evaluated: number; timings: { prompt_ms: number } };
      tokens += answer.tokens_evaluated;
      engineMs += answer.timings.prompt_ms;
    }
    return { tokens, seconds: (performance.now() - started) / 1000, engineSeconds: engineMs / 1000 };
  };
  const serveArgs = (name: string) => [
    ...["--model", values.model, "--model-name", "bench", "--port", "0", "--gpu", "cpu"],
    ...[
      "--data-dir",
      join(scratch, `db-${name}`),
      "--threads",
      threads,
      "--parallel",
      "1",
      "--context",
      "2048",
    ],
  ];
  await using stack = new AsyncDisposableStack();
  const sides = new Map<string, Side>([["llama-server", llamaSide]]);
  if (values.before) {
    const before = stack.use(
      await startServeProcess(serveArgs("before"), {}, join(values.before, "bin", "medgate.js")),
    );
    sides.set("medgate before", medgateSide(before.url, before.key));
  }
  const after = stack.use(await startServeProcess(serveArgs("after")));
  sides.set("medgate", medgateSide(after.url, after.key));

  const warmUp: Workload = { ...workloads[0]!, requests: workloads[0]!.requests.slice(0, 2) };
  for (const side of sides.values()) await side(warmUp);
  const results = new Map<string, { tokens: number; seconds: number; engineSeconds: number }>();
  const names = [...sides.keys()];
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const workload of workloads) {
      // Rotate who goes first, so drift in the machine's speed falls on every side alike.
      for (let i = 0; i < names.length; i++) {
        const name = names[(i + round) % names.length]!;
        const { tokens, seconds, engineSeconds } = await sides.get(name)!(workload);
        const key = `${workload.name}\t${name}`;
        const sum = results.get(key) ?? { tokens: 0, seconds: 0, engineSeconds: 0 };
        results.set(key, {
          tokens: sum.tokens + tokens,
          seconds: sum.seconds + seconds,
          engineSeconds: sum.engineSeconds + (engineSeconds ?? 0),
        });
        console.error(`round ${round + 1}: ${key}: ${(tokens / seconds).toFixed(1)} prompt tokens/s`);
      }
    }
  }
  console.log(
    `\n${questions.length} MedMCQA questions, ${values.model}, ${threads} thread(s), ${values.rounds} rounds\n`,
  );
  console.log("| workload | side | prompt tokens | prompt tokens/s | / llama-server |");
  console.log("| --- | --- | ---: | ---: | ---: |");
  for (const workload of workloads) {
    const rate = (name: string) => {
      const sum = results.get(`${workload.name}\t${name}`)!;
      return sum.tokens / sum.seconds;
    };
    for (const name of names) {
      const sum = results.get(`${workload.name}\t${name}`)!;
      console.log(
        `| ${workload.name} | ${name} | ${sum.tokens} | ${rate(name).toFixed(1)} | ${(rate(name) / rate("llama-server")).toFixed(3)}× |`,
      );
    }
    const llama = results.get(`${workload.name}\tllama-server`)!;
    console.log(
      `| ${workload.name} | llama-server's own timings | ${llama.tokens} | ${(llama.tokens / llama.engineSeconds).toFixed(1)} | |`,
    );
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}
