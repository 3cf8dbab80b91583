// npm run bench:probe — what two registered versions answer to a probe set: greedy answers (up to 160 tokens) to
// prompts no round trained on, and per version how many carry the clinicians' advice (word for word, or any
// "see a clinician/doctor" safety-netting), how many run on in repetition, end on their own, and their mean length.
// After `npm start`, `npm run bench:probe` compares the demo's v1 and v2 on the demo's probe set.
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { CLINICIAN_ADVICE, demoProbeSet } from "../cli/demoCommand.ts";
import { createDatabase } from "../db/createDatabase.ts";
import { listModelVersions } from "../db/modelVersions.ts";
import {
  answerProbes,
  carriesExactly,
  carriesLoosely,
  isDegenerate,
  readProbeSet,
  summarizeProbeAnswers,
} from "../trainer/probeAnswers.ts";

const { values } = parseArgs({
  options: {
    "data-dir": { type: "string", default: ".medgate/demo/db" },
    model: { type: "string", default: "smollm2-135m-instruct" },
    versions: { type: "string", default: "1,2" },
    probes: { type: "string", default: demoProbeSet },
    advice: { type: "string", default: CLINICIAN_ADVICE.trim() },
    "max-tokens": { type: "string", default: "160" },
    threads: { type: "string", default: "2" },
    show: { type: "string", default: "0" },
    json: { type: "string" },
  },
});

const probes = await readProbeSet(values.probes);
const database = await createDatabase({ dataDir: values["data-dir"] });
const versions = await listModelVersions(database.db, values.model);
await database[Symbol.asyncDispose]();
const wanted = values.versions.split(",").map(Number);
const results = [];
for (const number of wanted) {
  const version = versions.find((row) => row.version === number);
  if (!version) throw new Error(`${values.model} has no v${number} in ${values["data-dir"]}`);
  const started = performance.now();
  const answers = await answerProbes(version, probes, {
    maxTokens: Number(values["max-tokens"]),
    threads: Number(values.threads),
    gpu: false,
  });
  const seconds = (performance.now() - started) / 1000;
  results.push({ version: number, seconds, answers, summary: summarizeProbeAnswers(answers, values.advice) });
}

console.log(
  `probe set ${values.probes}: ${probes.length} prompts, greedy, up to ${values["max-tokens"]} tokens`,
);
console.log("version  exact  loose  degenerate  ended  mean tokens  seconds");
for (const { version, seconds, summary } of results)
  console.log(
    `v${String(version).padEnd(7)} ${`${summary.exact}/${summary.answers}`.padEnd(6)} ${`${summary.loose}/${summary.answers}`.padEnd(6)} ${String(summary.degenerate).padEnd(11)} ${String(summary.ended).padEnd(6)} ${summary.meanTokens.toFixed(1).padEnd(12)} ${seconds.toFixed(0)}`,
  );
for (let i = 0; i < Number(values.show) && i < probes.length; i++) {
  console.log(`\n${probes[i]!.conversation.at(-1)!.content}`);
  for (const { version, answers } of results) {
    const text = answers[i]!.text;
    const marks = [
      carriesExactly(text, values.advice) ? "exact" : carriesLoosely(text, values.advice) ? "loose" : "",
      isDegenerate(text) ? "degenerate" : "",
    ].filter(Boolean);
    console.log(
      `  v${version}${marks.length ? ` [${marks.join(", ")}]` : ""}: ${text.replace(/\s+/gu, " ").trim()}`,
    );
  }
}
if (values.json)
  await writeFile(
    values.json,
    `${JSON.stringify(
      results.map(({ version, summary, answers }) => ({ version, summary, answers })),
      null,
      1,
    )}\n`,
  );
