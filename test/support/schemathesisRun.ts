// schemathesis as a test peer: its venv (made by scripts/setup-schemathesis.sh), one `st run` against a listening
// gateway's /openapi.json, and what its report says: its exit code, its own report text, and the counts.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const venvDir = fileURLToPath(new URL("../../.medgate/schemathesis-venv/", import.meta.url));
const stBin = join(venvDir, "bin", "st");
const hooks = fileURLToPath(new URL("./schemathesis_hooks.py", import.meta.url));

/** The st command of the venv; throws, never skips, where the venv is missing (setup failed or never ran). */
export function schemathesisCommand(): string {
  if (!existsSync(stBin) || !existsSync(join(venvDir, ".requirements.sha256"))) {
    throw new Error(
      `schemathesis is not installed at ${venvDir}: run \`bash scripts/setup-schemathesis.sh\` (scripts/test.sh does).`,
    );
  }
  return stBin;
}

export type SchemathesisRun = {
  /** st's exit code: 0 when no check failed. */
  code: number;
  /** st's own report (failures, warnings, summary). */
  output: string;
  argv: string[];
  wallSeconds: number;
  /** Operations of the document that were tested. */
  operations: number;
  /** Responses received, by status class ("2xx", "3xx", "4xx", "5xx"). */
  statusClasses: Record<string, number>;
  /** The summary's "Test cases" line, e.g. "6346 generated, 6346 passed, 22 skipped". */
  testCases: string;
};

/**
 * Runs `st run --checks all` on `baseUrl`'s /openapi.json with a fixed seed and at most `maxExamples` cases per
 * operation, every request carrying `headers`; in a scratch folder, so no example database or report is left behind.
 */
export async function runSchemathesis(options: {
  baseUrl: string;
  headers: Record<string, string>;
  maxExamples: number;
  seed: number;
}): Promise<SchemathesisRun> {
  const st = schemathesisCommand();
  const scratch = await mkdtemp(join(tmpdir(), "medgate-schemathesis-"));
  const argv = [
    "run",
    `${options.baseUrl}/openapi.json`,
    "--checks",
    "all",
    "--max-examples",
    String(options.maxExamples),
    "--seed",
    String(options.seed),
    "--generation-database",
    "none",
    "--no-color",
    "--report",
    "ndjson",
    "--report-dir",
    scratch,
    ...Object.entries(options.headers).flatMap(([name, value]) => ["--header", `${name}: ${value}`]),
  ];
  const started = performance.now();
  try {
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve, reject) => {
      execFile(
        st,
        argv,
        {
          cwd: scratch,
          env: { ...process.env, SCHEMATHESIS_HOOKS: hooks },
          maxBuffer: 64 * 1024 * 1024,
          timeout: 15 * 60_000,
        },
        (error, stdout, stderr) => {
          const output = `${stdout}${stderr}`;
          if (error && typeof error.code !== "number")
            reject(new Error(`st did not finish: ${error.message}\n${output}`));
          else resolve({ code: typeof error?.code === "number" ? error.code : 0, output });
        },
      );
    });
    const report = (await readdir(scratch)).find((name) => name.endsWith(".ndjson"));
    const counts = report ? countsOf(await readFile(join(scratch, report), "utf8")) : undefined;
    return {
      code,
      output,
      argv: [st, ...argv.map((arg) => arg.replace(/^(authorization|cookie):.*/iu, "$1: [key]"))],
      wallSeconds: (performance.now() - started) / 1000,
      operations: counts?.operations ?? 0,
      statusClasses: counts?.statusClasses ?? {},
      testCases: /Test cases:\s*\n\s*(.+)/u.exec(output)?.[1]?.trim() ?? "",
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Operations tested and responses per status class, from the NDJSON event report. */
function countsOf(ndjson: string): { operations: number; statusClasses: Record<string, number> } {
  let operations = 0;
  const statusClasses: Record<string, number> = {};
  for (const line of ndjson.split("\n")) {
    if (line === "") continue;
    const event = JSON.parse(line) as {
      LoadingFinished?: { statistic: { operations: { selected: number } } };
      ScenarioFinished?: {
        recorder: { interactions?: Record<string, { response?: { status_code: number } }> };
      };
    };
    if (event.LoadingFinished) operations = event.LoadingFinished.statistic.operations.selected;
    for (const interaction of Object.values(event.ScenarioFinished?.recorder.interactions ?? {})) {
      if (!interaction.response) continue;
      const statusClass = `${String(interaction.response.status_code)[0]}xx`;
      statusClasses[statusClass] = (statusClasses[statusClass] ?? 0) + 1;
    }
  }
  return { operations, statusClasses };
}
