// The gate report: the typed jsonb that the trainer writes (a round's stats and the audit row of its promotion
// or rejection) and the admin dashboard and the CLI read. Declared once, here, where both sides meet.

/** McNemar's exact test on paired per-question results. */
export type McNemarResult = {
  /** Candidate right, champion wrong. */
  b: number;
  /** Champion right, candidate wrong. */
  c: number;
  /** Two-sided exact p-value: min(1, 2·P(X ≤ min(b, c))), X ~ Bin(b + c, 1/2); 1 when b + c = 0. */
  pValue: number;
};

/** Candidate against champion on one benchmark (accuracies and bounds as fractions). */
export type GateBenchmarkReport = {
  name: string;
  n: number;
  candidateAccuracy: number;
  championAccuracy: number;
  difference: number;
  lower: number;
  upper: number;
  mcnemar: McNemarResult;
  passed: boolean;
};

/** The decision of the gate policy and what it rests on. */
export type GateDecision = {
  policyVersion: number;
  passed: boolean;
  /** One human-readable line per failed rule; empty when passed. */
  reasons: string[];
  benchmarks: GateBenchmarkReport[];
  pooled: Omit<GateBenchmarkReport, "name" | "mcnemar">;
  heldoutPreferenceAccuracy: number | null;
  heldoutPassed: boolean;
  safety: {
    total: number;
    candidatePassed: number;
    championPassed: number;
    /** Ids of the items the champion passed and the candidate failed. */
    regressions: string[];
    passed: boolean;
  };
  /** Candidate's and champion's answers to probe prompts, checked and judged; absent when not evaluated. */
  answers?: AnswerEvaluationReport | null;
};

/** A figure and its percentile bootstrap 95% interval; null where no pair could give it. */
export type Estimate = { value: number | null; lower: number | null; upper: number | null };

/** A judge's agreement with the clinicians on the pairs they labelled (trainer/judges/agreement.ts). */
export type JudgeAgreementReport = {
  /** The judge as it describes itself, and its kind (`pairwise`, `implicit-reward`). */
  judge: string;
  kind: string;
  /** Labelled pairs decided, and those the clinicians did not call a tie. */
  pairs: number;
  decisive: number;
  accuracy: Estimate;
  kappa: Estimate;
  positionConsistency: Estimate;
  lengthBias: { judgeLongerShare: Estimate; clinicianLongerShare: Estimate };
  tieMargin: number;
  resamples: number;
  seed: number;
  /** In a round: whether its pairs were used, and why not. */
  used?: boolean;
  reasons?: string[];
};

/** One check on one probe set: how many answers of each version pass it, and the paired change. */
export type AnswerCheckReport = {
  name: string;
  /** Answers per version (prompts × samples). */
  n: number;
  championPassed: number;
  candidatePassed: number;
  /** Answers the candidate passes where the champion's fails (gained), and the reverse (lost), with McNemar's test. */
  mcnemar: McNemarResult;
  /** Candidate pass rate minus champion pass rate is below −checkTolerance. */
  regressed: boolean;
};

/** The answer judge's comparison of candidate with champion on a set of prompts (candidate's side). */
export type AnswerJudgeReport = {
  prompts: number;
  comparisons: number;
  wins: number;
  ties: number;
  losses: number;
  /** Ties count half; interval: percentile bootstrap over prompts. */
  winRate: number;
  lower: number;
  upper: number;
  /** AlpacaEval 2.0's length-controlled win rate: the logistic fit of the verdict on the length difference, at 0. */
  lengthControlledWinRate: number;
  lengthCoefficient: number;
};

/** What the gate found in one probe set's answers. */
export type AnswerProbeSetReport = {
  /** `heldout` (the round's held-out prompts) or the config's name; `path` for a file. */
  name: string;
  path?: string;
  prompts: number;
  /** Prompts left out because the round trained on them (a probe set must never enter training). */
  trainedOn: number;
  /** Prompts left out because they do not fit a model's context with the answer's tokens. */
  tooLong?: number;
  /** Mean answer length in characters, and the share of answers that ended before the token limit. */
  meanChars: { candidate: number; champion: number };
  stopped: { candidate: number; champion: number };
  checks: AnswerCheckReport[];
  judge: AnswerJudgeReport | null;
};

/** The gate's answer evaluation (trainer/eval/answerEvaluation.ts): stored answers are in `round_answers`. */
export type AnswerEvaluationReport = {
  settings: { samples: number; temperature: number | null; maxTokens: number; seed: number };
  /** The judge as it describes itself, or null with `judgeSkipped` saying why. */
  judge: string | null;
  judgeSkipped?: string;
  probeSets: AnswerProbeSetReport[];
  /** The judge over every probe set's prompts: the figure `minWinRateLowerBound` applies to. */
  overall: AnswerJudgeReport | null;
  /** No check regressed and the win rate met its minimum (when set). */
  passed: boolean;
};

/** A model the gate scored: its registry version and the eval run of its scores. */
export type GatedModel = { versionId: string; version: number; evalRunId: string };

/** The whole report a round stores: the decision, the policy and settings it used, both models, the time spent. */
export type GateReport = GateDecision & {
  suite: string;
  settings: Record<string, unknown>;
  policy: { benchmarkTolerance: number; pooledTolerance: number } & Record<string, unknown>;
  candidate: GatedModel;
  champion: GatedModel;
  /** Seconds spent scoring each model on the suite (0 when a finished run was reused), the safety set, held-out pairs. */
  seconds: Record<string, number>;
  /** The round's judge against the clinicians, as the judging step measured it. */
  judgeAgreement?: JudgeAgreementReport | null;
};

/** Quartiles of a set of judge margins, and how many there were. */
export type MarginSummary = { n: number; p25: number; p50: number; p75: number };

/** A round's statistics: what each step recorded, the gate report among them. */
export type RoundStats = {
  judged?: {
    judge: string;
    pairs: number;
    train: number;
    heldout: number;
    agreement?: JudgeAgreementReport;
    /** Quartiles of the judge's chosen − rejected margins over the pairs it decided (absent in older rounds). */
    margins?: MarginSummary | null;
  } & Record<string, unknown>;
  /** The tuning step: SFT's merged checkpoint (DPO's start and reference) and its loss curve. */
  tuned?: { checkpointDir: string; curve: { step: number; epoch: number | null; loss: number }[] } & Record<
    string,
    unknown
  >;
  warnings?: string[];
  seconds?: Record<string, number>;
  gate?: GateReport;
  [key: string]: unknown;
};
