// What the admin dashboard reads: the registry, rounds with their training metrics and gate reports, the audit log.
import { championChangesOf } from "../../db/championChanges.ts";
import { listCompletions } from "../../db/completions.ts";
import type { Database } from "../../db/createDatabase.ts";
import { listModelVersions } from "../../db/modelVersions.ts";
import { listRounds, roundMetricsOf } from "../../db/rounds.ts";
import type { ChampionChangeRow, CompletionRow, ModelVersionRow, RoundRow } from "../../db/schema.ts";

export type AdminReader = {
  versions(): Promise<ModelVersionRow[]>;
  rounds(limit: number): Promise<RoundRow[]>;
  metrics(roundId: string): Promise<{ step: number; values: Record<string, number> }[]>;
  changes(limit: number): Promise<ChampionChangeRow[]>;
  /** The latest logged answers, newest first. */
  recentCompletions(limit: number): Promise<CompletionRow[]>;
};

export function databaseAdminReader(db: Database): AdminReader {
  return {
    versions: () => listModelVersions(db),
    rounds: (limit) => listRounds(db, undefined, limit),
    metrics: (roundId) => roundMetricsOf(db, roundId),
    changes: (limit) => championChangesOf(db, undefined, limit),
    recentCompletions: async (limit) => (await listCompletions(db, { limit, order: "desc" })).rows,
  };
}

/** For apps without a database behind them (tests of the HTTP surface): an empty dashboard. */
export const emptyAdminReader: AdminReader = {
  versions: async () => [],
  rounds: async () => [],
  metrics: async () => [],
  changes: async () => [],
  recentCompletions: async () => [],
};
