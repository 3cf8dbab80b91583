// The database schema, the source of truth for rows and migrations (drizzle-kit generates migrations/).
// Every column that holds text from outside medgate (clients, clinicians, models, operators, benchmark
// files) and every jsonb column is lossless (see losslessText.ts): any JavaScript string is stored and reads
// back byte-identical, NUL and lone surrogates included. Ids, hashes, paths and enums stay plain text.
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  index,
  integer,
  pgEnum,
  pgTable,
  real,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import type { GateReport, RoundStats } from "./gateReport.ts";
import { losslessJsonb, losslessText } from "./losslessText.ts";

export const apiKeyRole = pgEnum("api_key_role", ["client", "clinician", "admin"]);

/** API keys: only a sha256 of the secret is stored; the secret is shown once, at creation. */
export const apiKeys = pgTable(
  "api_keys",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: losslessText("name").notNull(),
    role: apiKeyRole("role").notNull(),
    /** Hex sha256 of the whole secret. */
    keyHash: text("key_hash").notNull(),
    /** The first characters of the secret, to recognise a key in lists without revealing it. */
    keyPrefix: text("key_prefix").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
    /** Requests per minute: null for the role's default (serve's options), 0 for no limit. */
    rpmLimit: integer("rpm_limit"),
    /** Generated tokens per minute: null for the role's default (serve's options), 0 for no limit. */
    tpmLimit: integer("tpm_limit"),
    /** False: the key's conversations are never stored, as with `"store": false` on each request. */
    storeText: boolean("store_text").notNull().default(true),
  },
  (table) => [uniqueIndex("api_keys_key_hash_idx").on(table.keyHash)],
);

export const modelVersionStatus = pgEnum("model_version_status", [
  "candidate",
  "evaluating",
  "champion",
  "rejected",
  "retired",
]);

/** The model registry: one row per trained or imported version of a served model name. */
export const modelVersions = pgTable(
  "model_versions",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    /** The served model name clients use. */
    name: losslessText("name").notNull(),
    version: integer("version").notNull(),
    parentId: uuid("parent_id"),
    roundId: uuid("round_id"),
    /** Hugging Face checkpoint folder, where one exists. */
    hfDir: text("hf_dir"),
    ggufPath: text("gguf_path").notNull(),
    ggufSha256: text("gguf_sha256").notNull(),
    /**
     * The model id this version has on the upstream engines serving the name (a vLLM LoRA adapter's name, a
     * separate deployment's model id); null: each upstream's configured model.
     */
    upstreamModel: losslessText("upstream_model"),
    status: modelVersionStatus("status").notNull(),
    datasetSha256: text("dataset_sha256"),
    config: losslessJsonb("config").$type<Record<string, unknown>>(),
    metrics: losslessJsonb("metrics").$type<Record<string, unknown>>(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    // A round registers one candidate, however often its converting step is retried.
    uniqueIndex("model_versions_round_idx").on(table.roundId),
    uniqueIndex("model_versions_name_version_idx").on(table.name, table.version),
    // At most one champion per served name.
    uniqueIndex("model_versions_one_champion_idx").on(table.name).where(sql`${table.status} = 'champion'`),
  ],
);

export const completionStatus = pgEnum("completion_status", ["stop", "length", "cancelled", "error"]);

/** One choice of a logged completion. */
export type CompletionChoice = { index: number; text: string; finishReason: string };

/**
 * The response log: one row per chat completion response, streamed or not, whatever its end. With
 * `store: false` the row keeps its metadata but `messages` and `choices` are null.
 */
export const completions = pgTable(
  "completions",
  {
    /** The `chatcmpl-…` id the client received. */
    id: text("id").primaryKey(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull(),
    /** The request's parameters other than the messages (sampling, limits, response format...). */
    request: losslessJsonb("request").$type<Record<string, unknown>>().notNull(),
    messages: losslessJsonb("messages").$type<{ role: string; content: string }[]>(),
    choices: losslessJsonb("choices").$type<CompletionChoice[]>(),
    stored: boolean("stored").notNull(),
    /** How the response ended (the first choice's finish reason, `cancelled` or `error`). */
    status: completionStatus("status").notNull(),
    error: losslessText("error"),
    /** Hash of the normalized conversation, for deduplicating prompts. */
    promptHash: text("prompt_hash").notNull(),
    promptTokens: integer("prompt_tokens").notNull(),
    completionTokens: integer("completion_tokens").notNull(),
    latencyMs: real("latency_ms").notNull(),
    timeToFirstTokenMs: real("time_to_first_token_ms"),
    modelName: losslessText("model_name").notNull(),
    modelVersionId: uuid("model_version_id"),
    /**
     * The upstream endpoint(s) that answered, by their name in the upstreams file; `llama-server` for the managed
     * child (`serve --engine llama-server`); null for the in-process engine.
     */
    upstream: losslessText("upstream"),
    apiKeyId: uuid("api_key_id"),
    traceId: text("trace_id").notNull(),
    user: losslessText("user"),
    metadata: losslessJsonb("metadata").$type<Record<string, string>>(),
    /** The canary running for the name when this answer was given (champion's and candidate's answers alike). */
    canaryId: uuid("canary_id"),
    /**
     * For a shadow answer (the candidate answering a live request in the background): the live completion's id.
     * Shadow rows never reach a client and are never returned by the chat API.
     */
    shadowOf: text("shadow_of"),
  },
  (table) => [
    index("completions_created_at_idx").on(table.createdAt),
    index("completions_prompt_hash_idx").on(table.promptHash),
    index("completions_model_idx").on(table.modelName, table.createdAt),
    index("completions_canary_idx").on(table.canaryId),
  ],
);

export const feedbackKind = pgEnum("feedback_kind", ["rating", "correction", "comment", "preference"]);

/**
 * Clinician feedback, append-only. `completion_id` has no foreign key on purpose: feedback may arrive
 * before its completion's row is flushed from the log writer's batch, and must be kept.
 */
export const feedback = pgTable(
  "feedback",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    completionId: text("completion_id").notNull(),
    kind: feedbackKind("kind").notNull(),
    /** Thumbs (-1 | 1) or a 1–5 score, as `ratingScale` says. */
    rating: integer("rating"),
    ratingScale: text("rating_scale"),
    correction: losslessText("correction"),
    comment: losslessText("comment"),
    /** For a preference: the other completion of the same prompt, and which was better. */
    otherCompletionId: text("other_completion_id"),
    preference: text("preference"),
    apiKeyId: uuid("api_key_id").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index("feedback_completion_idx").on(table.completionId)],
);

export const roundState = pgEnum("round_state", [
  "collecting",
  "sampling",
  "judging",
  "tuning",
  "training",
  "converting",
  "evaluating",
  "canary",
  "promoted",
  "rejected",
  "failed",
]);

/**
 * One alignment round of a served model. `state` is the step the round is in; each step stores its output
 * (prompts, candidates, pairs, metrics, the candidate version) before `state` moves on, so a trainer that
 * dies resumes at the step it was in.
 */
export const rounds = pgTable(
  "rounds",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    modelName: losslessText("model_name").notNull(),
    /** 1, 2, … per model name. */
    number: integer("number").notNull(),
    state: roundState("state").notNull(),
    /** The champion the round starts from: it samples the candidates and is the DPO reference. */
    baseVersionId: uuid("base_version_id").notNull(),
    candidateVersionId: uuid("candidate_version_id"),
    /** The round's whole configuration (judge, K, DPO hyper-parameters...), fixed at creation. */
    config: losslessJsonb("config").$type<Record<string, unknown>>().notNull(),
    /** Completions created in [since, until) feed the round. */
    since: timestamp("since", { withTimezone: true }),
    until: timestamp("until", { withTimezone: true }).notNull(),
    datasetPath: text("dataset_path"),
    datasetSha256: text("dataset_sha256"),
    /** Counts, pair statistics, warnings and seconds per step. */
    stats: losslessJsonb("stats").$type<RoundStats>().notNull().default({}),
    error: losslessText("error"),
    /** The last part of the Python engine's stderr when a step failed there. */
    errorDetail: losslessText("error_detail"),
    createdBy: losslessText("created_by").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (table) => [uniqueIndex("rounds_model_number_idx").on(table.modelName, table.number)],
);

/** The deduplicated prompts a round trains on, with the logged completions they came from. */
export const roundPrompts = pgTable(
  "round_prompts",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    roundId: uuid("round_id").notNull(),
    promptHash: text("prompt_hash").notNull(),
    messages: losslessJsonb("messages").$type<{ role: string; content: string }[]>().notNull(),
    completionIds: losslessJsonb("completion_ids").$type<string[]>().notNull(),
  },
  (table) => [uniqueIndex("round_prompts_round_hash_idx").on(table.roundId, table.promptHash)],
);

/** Answers to a round prompt: sampled from the base model, or logged answers clinicians judged. */
export const roundCandidates = pgTable(
  "round_candidates",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    roundId: uuid("round_id").notNull(),
    promptId: integer("prompt_id").notNull(),
    /** Position among the prompt's candidates. */
    index: integer("index").notNull(),
    /** `sampled`, `logged` (an answer the gateway gave) or `correction` (a clinician's answer). */
    source: text("source").notNull(),
    text: losslessText("text").notNull(),
    seed: integer("seed"),
    finishReason: text("finish_reason"),
    completionId: text("completion_id"),
    /** The judge's score, set in the judging step. */
    score: real("score"),
  },
  (table) => [
    uniqueIndex("round_candidates_prompt_index_idx").on(table.roundId, table.promptId, table.index),
  ],
);

/** The preference pairs of a round's dataset snapshot. */
export const roundPairs = pgTable(
  "round_pairs",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    roundId: uuid("round_id").notNull(),
    promptId: integer("prompt_id").notNull(),
    chosen: losslessText("chosen").notNull(),
    rejected: losslessText("rejected").notNull(),
    /** `judge:<name>`, `clinician-preference` or `clinician-correction`. */
    source: text("source").notNull(),
    /** Judge score of chosen minus rejected; null for clinician pairs. */
    margin: real("margin"),
    split: text("split").notNull(),
  },
  (table) => [uniqueIndex("round_pairs_round_prompt_idx").on(table.roundId, table.promptId)],
);

/** One check's result on the two answers of a `round_answers` row. */
export type AnswerCheckResult = { name: string; champion: boolean; candidate: boolean };

/**
 * The gate's answer evaluation: one row per probe prompt and sample, with the champion's and the candidate's
 * answers (same settings, same seed), each check's result on both, and the answer judge's verdict.
 */
export const roundAnswers = pgTable(
  "round_answers",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    roundId: uuid("round_id").notNull(),
    /** `heldout` (the round's held-out prompts) or the name of a probe set in the gate config. */
    probeSet: losslessText("probe_set").notNull(),
    /** The prompt's position in its probe set, and where it came from (`file:line`, a probe id, a round prompt). */
    promptIndex: integer("prompt_index").notNull(),
    source: losslessText("source").notNull(),
    messages: losslessJsonb("messages").$type<{ role: string; content: string }[]>().notNull(),
    /** 0 … samples − 1; `seed` is null for a greedy answer. */
    sample: integer("sample").notNull(),
    seed: integer("seed"),
    championText: losslessText("champion_text").notNull(),
    championFinishReason: text("champion_finish_reason").notNull(),
    candidateText: losslessText("candidate_text").notNull(),
    candidateFinishReason: text("candidate_finish_reason").notNull(),
    checks: losslessJsonb("checks").$type<AnswerCheckResult[]>().notNull(),
    /** The candidate's `win`, `tie` or `loss`; null when no judge compared the answers. */
    verdict: text("verdict"),
    /** The judge's P(candidate's answer is better) with it shown first, and with it shown second. */
    candidateFirst: real("candidate_first"),
    candidateSecond: real("candidate_second"),
  },
  (table) => [
    uniqueIndex("round_answers_prompt_sample_idx").on(
      table.roundId,
      table.probeSet,
      table.promptIndex,
      table.sample,
    ),
  ],
);

/** Training metrics of a round, one row per logged optimizer step, as the DPO engine reports them. */
export const roundMetrics = pgTable(
  "round_metrics",
  {
    roundId: uuid("round_id").notNull(),
    step: integer("step").notNull(),
    epoch: real("epoch"),
    values: losslessJsonb("values").$type<Record<string, number>>().notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [uniqueIndex("round_metrics_round_step_idx").on(table.roundId, table.step)],
);

export const championChangeKind = pgEnum("champion_change_kind", [
  "register",
  "promote",
  "force-promote",
  "rollback",
  "reject",
]);

/**
 * The audit log of the registry: every change of a name's champion (and every rejected candidate), with who or
 * what did it, why, and the gate report it rests on. Append-only.
 */
export const championChanges = pgTable(
  "champion_changes",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    modelName: losslessText("model_name").notNull(),
    kind: championChangeKind("kind").notNull(),
    /** The champion before; null for the first one. */
    fromVersionId: uuid("from_version_id"),
    /** The champion after (for `reject`: the rejected candidate). */
    toVersionId: uuid("to_version_id").notNull(),
    /** `trainer@host`, `cli@host`, an admin key's name... */
    actor: losslessText("actor").notNull(),
    reason: losslessText("reason").notNull(),
    roundId: uuid("round_id"),
    gateReport: losslessJsonb("gate_report").$type<GateReport>(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index("champion_changes_model_idx").on(table.modelName, table.createdAt)],
);

export const canaryMode = pgEnum("canary_mode", ["shadow", "split"]);
export const canaryState = pgEnum("canary_state", ["running", "promoted", "rejected", "stopped"]);

/** The settings a canary is decided by, fixed at its start (a round config's `canary` section, resolved). */
export type CanaryRule = {
  /** The win rate the candidate must clear, before the margin. */
  threshold: number;
  /** Lowers the threshold: a candidate at most this much worse may still be promoted. */
  nonInferiorityMargin: number;
  /** Error rate of the whole sequence, however often it is read. */
  alpha: number;
  /** Verdicts at which the timeout policy applies (and the interval is tuned for). */
  maxComparisons: number;
  /** Milliseconds after the start at which the timeout policy applies. */
  maxDurationMs: number;
  /** Clinicians' verdicts a pair needs before it counts. */
  judgesPerPair: number;
  /** Rejected at once when the candidate's failed or cancelled share exceeds the champion's by more than this. */
  maxErrorRateIncrease: number;
  /** Candidate answers needed before the error rates are compared. */
  minAnswersForErrorRate: number;
  onTimeout: "reject" | "promote";
};

/** What a canary's decision rested on, stored with it. */
export type CanaryEvidence = {
  comparisons: number;
  wins: number;
  ties: number;
  losses: number;
  winRate: number | null;
  lower: number;
  upper: number;
  /** threshold − nonInferiorityMargin. */
  threshold: number;
  rule: CanaryRule;
  /** Why: `lower bound cleared`, `upper bound below`, `timeout`, `error rate`, or an admin's reason. */
  cause: string;
  errorRates: {
    candidate: number | null;
    champion: number | null;
    candidateAnswers: number;
    championAnswers: number;
  };
  pairIds: number[];
  /** With several clinicians per pair: their agreement (Fleiss' kappa) over the pairs all of them judged. */
  clinicianAgreement?: { pairs: number; judgesPerPair: number; fleissKappa: number | null };
  /** The win rate and its interval after each verdict, for the dashboard's chart. */
  history?: { comparisons: number; winRate: number; lower: number; upper: number }[];
  /**
   * With `canary.judgePrejudge`: the round judge's verdicts, reported apart. They are not in the counts above (the
   * decision is the clinicians'); `combined` shows the clinician's verdict where a pair has one, else the judge's.
   */
  judge?: CanaryJudgeEvidence;
};

/** The round judge's verdicts on a canary's pairs, or why it gives none. */
export type CanaryJudgeEvidence = {
  /** The judge as it describes itself; null when it gives no verdicts. */
  judge: string | null;
  /** Why the judge gives no verdicts (the setting is on, but the round's judge did not pass judgeAgreement). */
  skipped?: string;
  /** Pairs the judge decided, and its win rate for the candidate (ties ½) over them. */
  verdicts: number;
  wins: number;
  ties: number;
  losses: number;
  winRate: number | null;
  /** Pairs both the judge and the clinicians decided, and on how many they gave the same verdict. */
  agreement: { pairs: number; agreed: number };
  /** Per pair, the clinicians' verdict where there is one, else the judge's: shown beside the decision, never used. */
  combined: { pairs: number; winRate: number | null };
};

/**
 * A candidate tried on live traffic after the offline gate: in `split` mode it answers `share` of a name's requests,
 * in `shadow` mode it answers `share` of them in the background. At most one runs per name.
 */
export const canaries = pgTable(
  "canaries",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    modelName: losslessText("model_name").notNull(),
    roundId: uuid("round_id"),
    championVersionId: uuid("champion_version_id").notNull(),
    candidateVersionId: uuid("candidate_version_id").notNull(),
    mode: canaryMode("mode").notNull(),
    /** Share of requests the candidate answers (split) or shadows (shadow), in (0, 1]. */
    share: real("share").notNull(),
    state: canaryState("state").notNull(),
    rule: losslessJsonb("rule").$type<CanaryRule>().notNull(),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull().defaultNow(),
    decidedAt: timestamp("decided_at", { withTimezone: true }),
    /** The decision's evidence; while running, the trainer's latest look. */
    evidence: losslessJsonb("evidence").$type<CanaryEvidence>(),
    /** `trainer (round NAME#N)`, or the operator who decided or stopped it by hand. */
    decidedBy: losslessText("decided_by"),
    reason: losslessText("reason"),
  },
  (table) => [
    uniqueIndex("canaries_one_running_idx").on(table.modelName).where(sql`${table.state} = 'running'`),
    index("canaries_round_idx").on(table.roundId),
  ],
);

/**
 * Blind pairs of a canary: the champion's and the candidate's answer to one prompt. `candidate_side` (`a` or `b`,
 * random per pair) is where the candidate's answer is shown; clinicians' `preference` feedback on the two
 * completions gives the pair's verdicts.
 */
export const canaryPairs = pgTable(
  "canary_pairs",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    canaryId: uuid("canary_id").notNull(),
    championCompletionId: text("champion_completion_id").notNull(),
    candidateCompletionId: text("candidate_completion_id").notNull(),
    candidateSide: text("candidate_side").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex("canary_pairs_champion_idx").on(table.canaryId, table.championCompletionId),
    uniqueIndex("canary_pairs_candidate_idx").on(table.canaryId, table.candidateCompletionId),
  ],
);

/**
 * The round judge's verdicts on canary pairs (`canary.judgePrejudge`), kept apart from the clinicians' (which are
 * `preference` feedback): one per pair, asked in both orders as the gate's pairwise judge is. They never decide a
 * canary: they are reported beside the clinicians' verdicts, and a clinician's verdict on the pair replaces them.
 */
export const canaryJudgeVerdicts = pgTable(
  "canary_judge_verdicts",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    canaryId: uuid("canary_id").notNull(),
    pairId: bigint("pair_id", { mode: "number" }).notNull(),
    /** The judge as it describes itself, e.g. `pairwise (local:tiny.gguf)`. */
    judge: losslessText("judge").notNull(),
    /** `candidate`, `champion` or `tie`: a win needs both orders to prefer the candidate. */
    verdict: text("verdict").notNull(),
    /** P(candidate better) with the candidate's answer shown first, and shown second. */
    candidateFirst: real("candidate_first"),
    candidateSecond: real("candidate_second"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex("canary_judge_verdicts_pair_idx").on(table.pairId),
    index("canary_judge_verdicts_canary_idx").on(table.canaryId),
  ],
);

/**
 * The audit trail of reads of stored text and of the writes that matter (keys, retention runs, promotions):
 * append-only and hash-chained. Rows are numbered 1, 2, … by `seq` with no gaps; each row's `hash` is the sha256
 * of its content and the previous row's hash (`db/auditTrail.ts`), so an edited, deleted or reordered row
 * breaks the chain. Every gateway and command on one database appends to this one chain.
 */
export const auditEvents = pgTable(
  "audit_events",
  {
    /** Position in the chain: 1, 2, … without gaps, assigned under the chain head's row lock. */
    seq: bigint("seq", { mode: "number" }).primaryKey(),
    at: timestamp("at", { withTimezone: true }).notNull(),
    /** `key` (an API key), `person` (a signed-in person), `cli` (an operator's command) or `system`. */
    actorKind: text("actor_kind").notNull(),
    apiKeyId: uuid("api_key_id"),
    /** The key's name, `user@host` for a command, or the person's display name. */
    actorName: losslessText("actor_name"),
    /** A signed-in person's subject and email at the identity provider; null for keys and commands. */
    personSubject: losslessText("person_subject"),
    personEmail: losslessText("person_email"),
    /** `client`, `clinician`, `admin`, or `operator` for a command run on the database. */
    role: text("role").notNull(),
    /** The route template (`GET /v1/chat/completions/{id}`) or the command (`medgate logs export`). */
    action: losslessText("action").notNull(),
    /** The completions whose text was read or written, when the read names them. */
    completionIds: text("completion_ids").array().notNull().default([]),
    /** The query or arguments that selected what was read (filters, ids of keys or rounds, a prune's bound). */
    query: losslessJsonb("query").$type<Record<string, unknown>>().notNull().default({}),
    /** Where the request came from; null for commands. */
    clientAddress: text("client_address"),
    userAgent: losslessText("user_agent"),
    /** The previous row's hash (64 zeros for the first row of the chain). */
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
  },
  (table) => [
    index("audit_events_at_idx").on(table.at),
    index("audit_events_key_idx").on(table.apiKeyId, table.at),
    index("audit_events_completion_ids_idx").using("gin", table.completionIds),
  ],
);

/**
 * The head of the audit chain: one row (id 1), locked FOR UPDATE by every append so that appends from every
 * gateway and command on the database are serialized into one chain; it holds the last row's seq and hash, so a
 * deleted tail is noticed too.
 */
export const auditChainHead = pgTable("audit_chain_head", {
  id: integer("id").primaryKey(),
  lastSeq: bigint("last_seq", { mode: "number" }).notNull(),
  lastHash: text("last_hash").notNull(),
});

/**
 * Sessions of people signed in to the pages through the identity provider (OpenID Connect). The cookie holds a
 * random token; only its sha256 is stored. A session ends at `expires_at`, after the idle timeout since
 * `last_seen_at`, or at sign-out (`ended_at`).
 */
export const pageSessions = pgTable(
  "page_sessions",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    /** Hex sha256 of the cookie's token. */
    tokenHash: text("token_hash").notNull(),
    /** The person's id at medgate (a uuid derived from issuer and subject); feedback they give carries it. */
    personId: uuid("person_id").notNull(),
    issuer: text("issuer").notNull(),
    /** The ID token's `sub`. */
    subject: losslessText("subject").notNull(),
    email: losslessText("email"),
    /** The name shown on the pages: the `name` claim, else the email, else the subject. */
    name: losslessText("name").notNull(),
    /** The role the person's groups gave at sign-in. */
    role: apiKeyRole("role").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    lastSeenAt: timestamp("last_seen_at", { withTimezone: true }).notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    endedAt: timestamp("ended_at", { withTimezone: true }),
  },
  (table) => [
    uniqueIndex("page_sessions_token_hash_idx").on(table.tokenHash),
    index("page_sessions_expires_at_idx").on(table.expiresAt),
  ],
);

/** One scoring of a model on a benchmark suite: a registered version, or a GGUF file scored unregistered. */
export const evalRuns = pgTable(
  "eval_runs",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    /** The registry version scored; null for a file scored without being registered. */
    modelVersionId: uuid("model_version_id"),
    /** The GGUF scored and its sha256 (null on runs stored before they were recorded). */
    ggufPath: text("gguf_path"),
    ggufSha256: text("gguf_sha256"),
    suite: losslessText("suite").notNull(),
    suiteVersion: integer("suite_version").notNull(),
    /** Prompting: shots, chat template or plain, and the scorer's settings. */
    settings: losslessJsonb("settings").$type<Record<string, unknown>>().notNull(),
    status: text("status").notNull(),
    /** Accuracy per benchmark and pooled, once finished. */
    summary: losslessJsonb("summary").$type<Record<string, unknown>>(),
    error: losslessText("error"),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (table) => [index("eval_runs_version_idx").on(table.modelVersionId)],
);

/** Per-question results of an eval run. */
export const evalResults = pgTable(
  "eval_results",
  {
    runId: uuid("run_id").notNull(),
    benchmark: losslessText("benchmark").notNull(),
    questionId: losslessText("question_id").notNull(),
    answer: integer("answer").notNull(),
    /** Choice with the highest log-likelihood (acc) and with the highest per-character one (acc_norm). */
    predicted: integer("predicted").notNull(),
    predictedNorm: integer("predicted_norm").notNull(),
    logprobs: losslessJsonb("logprobs").$type<number[]>().notNull(),
  },
  (table) => [
    uniqueIndex("eval_results_run_question_idx").on(table.runId, table.benchmark, table.questionId),
  ],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type ModelVersionRow = typeof modelVersions.$inferSelect;
export type CompletionRow = typeof completions.$inferSelect;
export type NewCompletionRow = typeof completions.$inferInsert;
export type FeedbackRow = typeof feedback.$inferSelect;
export type RoundRow = typeof rounds.$inferSelect;
export type RoundState = RoundRow["state"];
export type RoundPromptRow = typeof roundPrompts.$inferSelect;
export type RoundCandidateRow = typeof roundCandidates.$inferSelect;
export type RoundPairRow = typeof roundPairs.$inferSelect;
export type RoundAnswerRow = typeof roundAnswers.$inferSelect;
export type ChampionChangeRow = typeof championChanges.$inferSelect;
export type EvalRunRow = typeof evalRuns.$inferSelect;
export type AuditEventRow = typeof auditEvents.$inferSelect;
export type NewAuditEventRow = typeof auditEvents.$inferInsert;
export type PageSessionRow = typeof pageSessions.$inferSelect;
export type CanaryRow = typeof canaries.$inferSelect;
export type CanaryPairRow = typeof canaryPairs.$inferSelect;
export type CanaryJudgeVerdictRow = typeof canaryJudgeVerdicts.$inferSelect;
