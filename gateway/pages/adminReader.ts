// What the admin dashboard reads: the registry, rounds with their training metrics, gate reports and stored answers,
// the canaries, the audit log.
import { canariesOf } from "../../db/canaries.ts";
import { championChangesOf } from "../../db/championChanges.ts";
import { listCompletions } from "../../db/completions.ts";
import type { Database } from "../../db/createDatabase.ts";
import { listModelVersions } from "../../db/modelVersions.ts";
import { roundAnswersPage } from "../../db/roundAnswers.ts";
import { findRound, listRounds, roundMetricsOf } from "../../db/rounds.ts";
import type {
  CanaryRow,
  ChampionChangeRow,
  CompletionRow,
  ModelVersionRow,
  RoundAnswerRow,
  RoundRow,
} from "../../db/schema.ts";

/** A round id as the database stores it: anything else names no round (and is never sent to a uuid column). */
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu;

export type AdminReader = {
  versions(): Promise<ModelVersionRow[]>;
  rounds(limit: number): Promise<RoundRow[]>;
  /** One round by its id; undefined for an unknown id or one that is not a uuid. */
  round(id: string): Promise<RoundRow | undefined>;
  /** A page of the gate's stored answers of a round (of one probe set, or all), and how many there are. */
  answers(
    roundId: string,
    page: { probeSet?: string; offset: number; limit: number },
  ): Promise<{ rows: RoundAnswerRow[]; total: number }>;
  metrics(roundId: string): Promise<{ step: number; values: Record<string, number> }[]>;
  changes(limit: number): Promise<ChampionChangeRow[]>;
  /** The latest logged answers, newest first. */
  recentCompletions(limit: number): Promise<CompletionRow[]>;
  /** The latest canaries of every name, newest first. */
  canaries(limit: number): Promise<CanaryRow[]>;
};

export function databaseAdminReader(db: Database): AdminReader {
  return {
    versions: () => listModelVersions(db),
    rounds: (limit) => listRounds(db, undefined, limit),
    round: async (id) => (uuidPattern.test(id) ? findRound(db, id) : undefined),
    answers: (roundId, page) => roundAnswersPage(db, roundId, page),
    metrics: (roundId) => roundMetricsOf(db, roundId),
    changes: (limit) => championChangesOf(db, undefined, limit),
    recentCompletions: async (limit) => (await listCompletions(db, { limit, order: "desc" })).rows,
    canaries: (limit) => canariesOf(db, undefined, limit),
  };
}

/** For apps without a database behind them (tests of the HTTP surface): an empty dashboard. */
export const emptyAdminReader: AdminReader = {
  versions: async () => [],
  rounds: async () => [],
  round: async () => undefined,
  answers: async () => ({ rows: [], total: 0 }),
  metrics: async () => [],
  changes: async () => [],
  recentCompletions: async () => [],
  canaries: async () => [],
};
