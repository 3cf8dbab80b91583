// npm run bench:round — wall time of each step of an alignment round on the tiny model, at several amounts of
// traffic (default 50 and 200 prompts), to show how a round's cost grows with traffic.
//
// Traffic: distinct prompts logged for the model; 70% carry a clinician's correction (a pair without the
// judge), the rest are judged pairwise by the model itself. Each size runs on a fresh embedded database.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createApiKey } from "../db/apiKeys.ts";
import { createDatabase } from "../db/createDatabase.ts";
import { registerModelVersion } from "../db/modelVersions.ts";
import { promptHashOf } from "../db/promptHash.ts";
import { completions, feedback } from "../db/schema.ts";
import { sha256OfFile } from "../inference/fileDigest.ts";
import { writeFixtures } from "../trainer/fixtures.ts";
import { engineDir } from "../trainer/pythonEngine.ts";
import { createRoundFor, driveRound, trainerSteps } from "../trainer/RoundRunner.ts";
import { tinyRoundConfig } from "../trainer/roundPresets.ts";

const { values } = parseArgs({
  options: {
    prompts: { type: "string", default: "50,200" },
    candidates: { type: "string", default: "4" },
    "max-tokens": { type: "string", default: "48" },
    epochs: { type: "string", default: "1" },
    // The tuning step (SFT on the corrections before DPO); --no-sft times a round without it.
    sft: { type: "boolean", default: true },
  },
  allowNegative: true,
});
const sizes = values.prompts.split(",").map(Number);
const scratch = await mkdtemp(join(tmpdir(), "medgate-bench-round-"));
console.error(`bench:round: writing the tiny model into ${scratch}…`);
const manifest = await writeFixtures(join(scratch, "models"));
const ggufPath = join(scratch, "models", manifest.gguf);
const hfDir = join(scratch, "models", manifest.hf_dir);
const corpus = (await readFile(join(engineDir, "fixtures", "medical_qa.jsonl"), "utf8"))
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line) as { q: string; a: string });

// A benchmark round has no canary section: it never enters the canary step.
const steps = trainerSteps.filter((step) => step !== "canary");
const results: { prompts: number; pairs: number; seconds: Record<string, number>; total: number }[] = [];

for (const size of sizes) {
  const dataDir = join(scratch, `db-${size}`);
  const database = await createDatabase({ dataDir });
  await database.migrate();
  const { key } = await createApiKey(database.db, { name: "bench clinician", role: "clinician" });
  await registerModelVersion(database.db, {
    name: "tiny",
    ggufPath,
    ggufSha256: await sha256OfFile(ggufPath),
    hfDir,
    status: "champion",
  });
  const start = Date.now() - 3_600_000;
  for (let i = 0; i < size; i++) {
    const item = corpus[i % corpus.length]!;
    // Distinct conversations: the same questions asked by different patients.
    const messages = [{ role: "user", content: `Patient ${i + 1}: ${item.q}` }];
    const id = `chatcmpl-bench${i}`;
    await database.db.insert(completions).values({
      id,
      createdAt: new Date(start + i),
      request: { model: "tiny" },
      messages,
      choices: [{ index: 0, text: item.a, finishReason: "stop" }],
      stored: true,
      status: "stop",
      promptHash: promptHashOf(messages),
      promptTokens: 20,
      completionTokens: 40,
      latencyMs: 100,
      modelName: "tiny",
      traceId: id,
    });
    if (i % 10 < 7) {
      await database.db.insert(feedback).values({
        completionId: id,
        kind: "correction",
        correction: `${item.a} Please consult a clinician.`,
        apiKeyId: key.id,
      });
    }
  }
  const round = await createRoundFor(database.db, {
    modelName: "tiny",
    createdBy: "bench:round",
    config: tinyRoundConfig({
      candidates: Number(values.candidates),
      maxTokens: Number(values["max-tokens"]),
      maxPrompts: size,
      dpo: { epochs: Number(values.epochs) },
      sft: { enabled: values.sft, epochs: Number(values.epochs) },
    }),
  });
  const began = performance.now();
  const finished = await driveRound(round.id, {
    database,
    workDir: join(scratch, `rounds-${size}`),
    onProgress: ({ step, done, total }) => {
      if (done === undefined || done === total) console.error(`  ${size} prompts: ${step} ${done ?? ""}`);
    },
  });
  const total = (performance.now() - began) / 1000;
  await database[Symbol.asyncDispose]();
  if (finished.state !== "promoted" && finished.state !== "rejected")
    throw new Error(`round at ${size} prompts ended ${finished.state}: ${finished.error}`);
  const judged = finished.stats.judged as { pairs: number };
  results.push({
    prompts: size,
    pairs: judged.pairs,
    seconds: finished.stats.seconds as Record<string, number>,
    total,
  });
}
await rm(scratch, { recursive: true, force: true });

console.log(
  `\nRound on the tiny model (K=${values.candidates} candidates, ${values["max-tokens"]} tokens, ${values.sft ? `SFT and ${values.epochs} DPO epoch(s)` : `${values.epochs} DPO epoch(s), no SFT`}, 1 thread), seconds per step:\n`,
);
console.log(`| prompts | pairs | ${steps.join(" | ")} | total |`);
console.log(`|---:|---:|${steps.map(() => "---:").join("|")}|---:|`);
for (const row of results) {
  console.log(
    `| ${row.prompts} | ${row.pairs} | ${steps.map((step) => (row.seconds[step] ?? 0).toFixed(2)).join(" | ")} | ${row.total.toFixed(1)} |`,
  );
}
if (results.length >= 2) {
  const [small, large] = [results[0]!, results.at(-1)!];
  const growth = steps
    .map(
      (step) =>
        `${step} ${((large.seconds[step] ?? 0) / Math.max(0.01, small.seconds[step] ?? 0)).toFixed(2)}×`,
    )
    .join(", ");
  console.log(
    `\n${large.prompts} vs ${small.prompts} prompts (${(large.prompts / small.prompts).toFixed(1)}× traffic): ${growth}; total ${(large.total / small.total).toFixed(2)}×`,
  );
}
