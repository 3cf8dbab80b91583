// npm run bench:lmeval — wall time of lm-evaluation-harness's `local-completions` through `medgate serve` against
// `medgate eval run` on the same MedMCQA questions, in one run: the first N questions of the dev file, scored by
// `medgate eval run` (the CLI, a one-benchmark suite file and --limit N), then by lm-eval's own `medmcqa` task
// (a task YAML including lm-eval's, over the same file, --limit N) against a gateway serving the same GGUF with
// the same threads, then by `eval run` again, so drift in the machine's speed shows. Both sides must score the
// same questions in the same order with the same answers; their accuracies and each choice's log-likelihood are
// compared as a check. CPU seconds beside the wall times (GNU time for the two commands, /proc for the gateway):
// the machine may be shared, and they show which process the time went to.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { createDatabase } from "../db/createDatabase.ts";
import { readMedMCQA } from "../trainer/eval/benchmarks/medmcqa.ts";
import { evalResultsOf } from "../trainer/eval/evalRun.ts";
import { median, startServeProcess } from "./benchParts.ts";
import { lmEvalCommand, loglikelihoods, medmcqaDoc, runLmEval, writeLmEvalTask } from "./lmEvalHarness.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: ".medgate/models/SmolLM2-135M-Instruct.Q4_1.gguf" },
    file: { type: "string", default: "../shared/data/benchmarks/medmcqa/dev.jsonl" },
    questions: { type: "string", default: "200" },
    threads: { type: "string", default: "1" },
    /** Sequences of `eval run` and slots of the gateway; lm-eval sends one request at a time. */
    parallel: { type: "string", default: "1" },
    /** Write the figures to this JSON file. Default: none */
    json: { type: "string" },
  },
});
const positive = (name: string, value: string) => {
  if (!/^[1-9]\d*$/u.test(value)) throw new Error(`--${name} must be a positive integer, not "${value}"`);
  return value;
};
const questions = Number(positive("questions", values.questions));
const threads = positive("threads", values.threads);
const parallel = positive("parallel", values.parallel);
const modelPath = resolve(values.model);
const dataFile = resolve(values.file);
if (!existsSync(modelPath))
  throw new Error(`No GGUF at ${modelPath}: \`npm run setup\` copies the demo model there.`);
lmEvalCommand();
const contextSize = 2048;

const items = (await readMedMCQA(dataFile, { cop: "1-based" })).slice(0, questions);
if (items.length < questions)
  throw new Error(`${dataFile} has ${items.length} questions, fewer than ${questions}`);
const ids = items.map((item) => item.id);
if (new Set(ids).size !== ids.length)
  throw new Error(`${dataFile}: question ids repeat in the first ${questions}`);

/** CPU seconds (user + system, all threads) a process has used, from /proc (Linux; 100 clock ticks a second). */
function cpuSecondsOf(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const scratch = await mkdtemp(join(tmpdir(), "medgate-bench-lmeval-"));
const bin = fileURLToPath(new URL("../bin/medgate.js", import.meta.url));
try {
  // medgate's side: a suite of the one benchmark; `--limit N` takes the first N questions in file order.
  const suitePath = join(scratch, "suite.json");
  await writeFile(
    suitePath,
    JSON.stringify({
      name: "bench-lmeval",
      version: 1,
      benchmarks: [{ name: "medmcqa", format: "medmcqa", path: dataFile }],
    }),
  );
  // A database already made, as a user's is: the migrations are no part of the time.
  const dataDir = join(scratch, "db");
  {
    const handle = await createDatabase({ dataDir });
    await handle.migrate();
    await handle[Symbol.asyncDispose]();
  }
  const evalRun = async () => {
    const argv = [bin, "eval", "run", "--model", modelPath, "--suite", suitePath];
    argv.push(
      "--limit",
      String(questions),
      "--threads",
      threads,
      "--parallel",
      parallel,
      "--data-dir",
      dataDir,
    );
    console.error(`bench:lmeval: medgate ${argv.slice(1).join(" ")}`);
    const started = performance.now();
    const { stdout, stderr } = await promisify(execFile)(
      "/usr/bin/time",
      ["-f", "eval run cpu %U %S", process.execPath, ...argv],
      { maxBuffer: 1 << 26 },
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = /^eval run cpu (\S+) (\S+)$/mu.exec(stderr);
    if (!cpu) throw new Error(`/usr/bin/time printed no CPU times:\n${stderr.slice(-2000)}`);
    const cpuSeconds = Number(cpu[1]) + Number(cpu[2]);
    const runId = /eval run (\S+) stored/u.exec(stderr)?.[1];
    const row = stdout.split("\n").find((line) => line.startsWith("medmcqa\t"));
    if (!runId || !row) throw new Error(`eval run printed no run id or medmcqa row:\n${stdout}\n${stderr}`);
    const [, n, acc, accNorm] = row.split("\t");
    console.error(`bench:lmeval: eval run ${runId}: ${seconds.toFixed(1)} s, acc ${acc}`);
    return { runId, seconds, cpuSeconds, n: Number(n), acc: Number(acc), accNorm: Number(accNorm) };
  };

  // lm-eval's side: its own medmcqa task over the same file (as the validation split it evaluates).
  const tasksDir = join(scratch, "tasks");
  await mkdir(tasksDir);
  const docsFile = join(tasksDir, "medmcqa.validation.jsonl");
  const allItems = await readMedMCQA(dataFile, { cop: "1-based" });
  await writeFile(docsFile, `${allItems.map((item) => JSON.stringify(medmcqaDoc(item))).join("\n")}\n`);
  const task = "bench_medmcqa";
  await writeLmEvalTask({
    dir: tasksDir,
    task,
    include: "medmcqa/medmcqa.yaml",
    files: { validation: docsFile },
    // Zero-shot: no examples are drawn, but lm-eval loads its few-shot split (train, absent here) all the same.
    fewshotSplit: "validation",
    shots: 0,
  });

  const before = await evalRun();
  const serveArgs = ["--model", modelPath, "--model-name", "bench", "--port", "0", "--gpu", "cpu"];
  serveArgs.push("--data-dir", join(scratch, "serve-db"), "--threads", threads, "--parallel", parallel);
  serveArgs.push("--context", String(contextSize));
  const serveStarted = performance.now();
  const lmEval = await (async () => {
    await using gateway = await startServeProcess(serveArgs);
    const serveSeconds = (performance.now() - serveStarted) / 1000;
    console.error(
      `bench:lmeval: gateway at ${gateway.url} (started in ${serveSeconds.toFixed(1)} s); lm_eval…`,
    );
    const gatewayCpuBefore = cpuSecondsOf(gateway.child.pid!);
    const run = await runLmEval({
      baseUrl: gateway.url.replace(/\/v1\/?$/u, ""),
      model: "bench",
      apiKey: gateway.key,
      tasks: [task],
      includePath: tasksDir,
      outputPath: join(scratch, "out"),
      maxLength: contextSize,
      limit: questions,
      env: { HF_HOME: join(scratch, "hf") },
      timeoutMs: 3 * 60 * 60 * 1000,
      cpuTime: true,
    });
    const gatewayCpuSeconds = cpuSecondsOf(gateway.child.pid!) - gatewayCpuBefore;
    console.error(`bench:lmeval: lm_eval: ${run.wallSeconds.toFixed(1)} s`);
    return { ...run, serveSeconds, gatewayCpuSeconds };
  })();
  const after = await evalRun();

  // The check: the same questions, in order, with the same answers, and near-equal log-likelihoods.
  const samples = [...lmEval.samples[task]!].sort((a, b) => a.doc_id - b.doc_id);
  const sampleIds = samples.map((sample) => String(sample.doc.id));
  if (JSON.stringify(sampleIds) !== JSON.stringify(ids))
    throw new Error(`lm-eval scored other questions than the first ${questions}: ${sampleIds.slice(0, 5)}…`);
  const handle = await createDatabase({ dataDir });
  const results = await evalResultsOf(handle.db, after.runId);
  await handle[Symbol.asyncDispose]();
  const byId = new Map(results.map((result) => [result.questionId, result]));
  if (results.length !== questions || ids.some((id) => !byId.has(id)))
    throw new Error(`eval run scored ${results.length} questions, not the first ${questions}`);
  let samePrediction = 0;
  const differences: number[] = [];
  for (const sample of samples) {
    const ours = byId.get(String(sample.doc.id))!;
    if (Number(sample.target) !== ours.answer)
      throw new Error(
        `question ${sample.doc.id}: lm-eval's answer ${sample.target}, medgate's ${ours.answer}`,
      );
    if (sample.acc === (ours.predicted === ours.answer ? 1 : 0)) samePrediction++;
    loglikelihoods(sample).forEach((value, i) => {
      differences.push(Math.abs(value - ours.logprobs[i]!));
    });
  }

  const worst = Math.max(...differences);
  const medianDifference = median(differences);
  const lmAcc = Number(lmEval.results[task]!["acc,none"]);
  const lmAccNorm = Number(lmEval.results[task]!["acc_norm,none"]);
  const evalMean = (before.seconds + after.seconds) / 2;
  const ratio = lmEval.wallSeconds / evalMean;
  // Steadier than the wall times where other jobs share the cores: what each side's processes computed.
  const cpuRatio =
    (lmEval.cpuSeconds! + lmEval.gatewayCpuSeconds) / ((before.cpuSeconds + after.cpuSeconds) / 2);
  console.log(
    `\n${questions} MedMCQA dev questions (the first, zero-shot), ${values.model}, ${threads} thread(s), parallel ${parallel}\n`,
  );
  console.log("| side | wall s | questions/s | CPU s | acc | acc_norm |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  const row = (name: string, seconds: number, cpu: string, acc: number, accNorm: number) =>
    console.log(
      `| ${name} | ${seconds.toFixed(1)} | ${(questions / seconds).toFixed(2)} | ${cpu} | ${acc.toFixed(4)} | ${accNorm.toFixed(4)} |`,
    );
  row(
    "`medgate eval run`, before lm-eval",
    before.seconds,
    before.cpuSeconds.toFixed(1),
    before.acc,
    before.accNorm,
  );
  row(
    "lm-eval `local-completions` → `medgate serve`",
    lmEval.wallSeconds,
    `${lmEval.cpuSeconds!.toFixed(1)} lm_eval + ${lmEval.gatewayCpuSeconds.toFixed(1)} gateway`,
    lmAcc,
    lmAccNorm,
  );
  row(
    "`medgate eval run`, after lm-eval",
    after.seconds,
    after.cpuSeconds.toFixed(1),
    after.acc,
    after.accNorm,
  );
  console.log(
    `\nlm-eval ÷ eval run (the mean of the two): ${ratio.toFixed(2)}× (target 1.5×); the gateway started in ${lmEval.serveSeconds.toFixed(1)} s before lm-eval, not counted. In CPU seconds, lm_eval and the gateway ÷ eval run: ${cpuRatio.toFixed(2)}×. Same prediction on ${samePrediction}/${questions} questions; |Δ log-likelihood| of a choice: median ${medianDifference.toExponential(2)}, largest ${worst.toExponential(2)} (eval run keeps its KV cache in f32, serve in f16).`,
  );
  if (values.json) {
    await writeFile(
      values.json,
      `${JSON.stringify(
        {
          questions,
          model: values.model,
          threads: Number(threads),
          parallel: Number(parallel),
          evalRunBefore: before,
          evalRunAfter: after,
          lmEval: {
            seconds: lmEval.wallSeconds,
            acc: lmAcc,
            accNorm: lmAccNorm,
            cpuSeconds: lmEval.cpuSeconds,
            gatewayCpuSeconds: lmEval.gatewayCpuSeconds,
            gatewayStartSeconds: lmEval.serveSeconds,
            argv: lmEval.argv.map((arg) => arg.replace(/auth_token=[^,]*/u, "auth_token=…")),
          },
          ratio,
          cpuRatio,
          samePrediction,
          largestLoglikelihoodDifference: worst,
          medianLoglikelihoodDifference: medianDifference,
        },
        null,
        2,
      )}\n`,
    );
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}
