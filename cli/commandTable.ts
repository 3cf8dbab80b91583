// The medgate command's table: each command's summary and its module, loaded only when named (serving never pulls
// in the trainer). Tests walk it (test/integration/auditReads.test.ts: every command that prints stored text audits).
import type { Command } from "./commandLine.ts";

export type CommandEntry = { summary: string; load(): Promise<Command> };

export const commands: Record<string, CommandEntry> = {
  demo: {
    summary: "Run the whole loop on the demo model: serve, traffic, feedback, round, gate, promotion",
    load: async () => (await import("./demoCommand.ts")).demoCommand as Command,
  },
  serve: {
    summary: "Serve a GGUF chat model over the OpenAI API",
    load: async () => (await import("./serveCommand.ts")).serveCommand as Command,
  },
  fixtures: {
    summary: "Write the small test models",
    load: async () => (await import("./fixturesCommand.ts")).fixturesCommand as Command,
  },
  db: {
    summary: "Database maintenance (db migrate)",
    load: async () => (await import("./dbCommand.ts")).dbCommand as Command,
  },
  keys: {
    summary: "API keys (keys create | list | revoke)",
    load: async () => (await import("./keysCommand.ts")).keysCommand as Command,
  },
  logs: {
    summary: "The response log: retention and refused rows (logs prune --older-than 90d | logs rejected)",
    load: async () => (await import("./logsCommand.ts")).logsCommand as Command,
  },
  models: {
    summary: "The model registry (models register | list)",
    load: async () => (await import("./modelsCommand.ts")).modelsCommand as Command,
  },
  promote: {
    summary: 'Make a version the champion without the gate (promote ID --force --reason "…")',
    load: async () => (await import("./modelsCommand.ts")).promoteCommand as Command,
  },
  rollback: {
    summary: 'Return a model to its previous champion (rollback NAME --reason "…")',
    load: async () => (await import("./modelsCommand.ts")).rollbackCommand as Command,
  },
  canary: {
    summary:
      'A candidate tried on live traffic (canary status | stop NAME | decide NAME promote|reject --reason "…")',
    load: async () => (await import("./canaryCommand.ts")).canaryCommand as Command,
  },
  eval: {
    summary: "Score a model version or a GGUF file on the medical benchmarks (eval run --model …)",
    load: async () => (await import("./evalCommand.ts")).evalCommand as Command,
  },
  judge: {
    summary: "Measure a judge's agreement with clinicians (judge eval --judge … --pairs FILE|--round ROUND)",
    load: async () => (await import("./judgeCommand.ts")).judgeCommand as Command,
  },
  round: {
    summary: "Run one alignment round (round run --model NAME)",
    load: async () => (await import("./roundCommand.ts")).roundCommand as Command,
  },
  rounds: {
    summary: "Inspect rounds (rounds list | show ROUND)",
    load: async () => (await import("./roundCommand.ts")).roundsCommand as Command,
  },
  audit: {
    summary: "The audit trail of reads of stored text (audit verify | list | export | prune)",
    load: async () => (await import("./auditCommand.ts")).auditCommand as Command,
  },
  trainer: {
    summary: "Run rounds as a service when enough new prompts arrive",
    load: async () => (await import("./trainerCommand.ts")).trainerCommand as Command,
  },
};
