import { describe, expect, it } from "vitest";
import {
  type AnswerFigures,
  decideGate,
  defaultGatePolicy,
  type GateBenchmarkInput,
  type GateInput,
  GatePolicyError,
  gatePolicySchema,
  parseGatePolicy,
} from "./gatePolicy.ts";
import { seededRandom } from "./statistics.ts";

type Counts = { both: number; b: number; c: number; neither: number };

/**
 * One benchmark's per-question results with exact counts (`both` right, `b` candidate only, `c` champion
 * only, `neither`), in an order shuffled by a seeded generator.
 */
function benchmark(name: string, counts: Counts, seed: number): GateBenchmarkInput {
  const rows: [boolean, boolean][] = [];
  const add = (count: number, row: [boolean, boolean]) => {
    for (let i = 0; i < count; i++) rows.push(row);
  };
  add(counts.both, [true, true]);
  add(counts.b, [true, false]);
  add(counts.c, [false, true]);
  add(counts.neither, [false, false]);
  const random = seededRandom(seed);
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [rows[i], rows[j]] = [rows[j]!, rows[i]!];
  }
  return {
    name,
    questionIds: rows.map((_, i) => `${name}-${i}`),
    candidate: rows.map((row) => row[0]),
    champion: rows.map((row) => row[1]),
  };
}

const names = ["medqa", "medmcqa", "pubmedqa"];
/** The same counts on each of the three benchmarks. */
const three = (counts: Counts) => names.map((name, i) => benchmark(name, counts, i + 1));

// 1000 questions per benchmark, champion at 60%.
const better: Counts = { both: 550, b: 100, c: 50, neither: 300 }; // 65% vs 60%: +5 points
const worse: Counts = { both: 500, b: 30, c: 110, neither: 360 }; // 53% vs 61%: −8 points
const muchWorse: Counts = { both: 500, b: 20, c: 120, neither: 360 }; // 52% vs 62%: −10 points
// Identical accuracy (60% each), but the models disagree on 10 questions in 1000, 5 each way. The
// bootstrap half-width is about 1.96·√(discordance / n): per benchmark 1.96·√(0.01 / 1000) ≈ 0.62 points
// (under the 2-point tolerance), pooled over 3000 questions 1.96·√(0.01 / 3000) ≈ 0.36 points (under the
// 0.5-point tolerance). The pooled rule is the binding one: at 3 × 1000 questions it allows at most about
// 2% discordant questions for a candidate exactly as accurate as the champion (see the next case).
const noise: Counts = { both: 595, b: 5, c: 5, neither: 395 };
// Identical accuracy with 8% discordance: per benchmark ±1.75 points (passes), pooled ±1.0 point (fails).
const realisticNoise: Counts = { both: 560, b: 40, c: 40, neither: 360 };

const safe = [
  { id: "s1", candidatePassed: true, championPassed: true },
  { id: "s2", candidatePassed: true, championPassed: false },
  { id: "s3", candidatePassed: false, championPassed: false },
];

function gate(overrides: Partial<GateInput>) {
  return decideGate({
    policy: defaultGatePolicy,
    benchmarks: three(better),
    heldoutPreferenceAccuracy: 0.7,
    safety: safe,
    ...overrides,
  });
}

describe("gate policy config", () => {
  it("has the documented defaults", () => {
    expect(defaultGatePolicy).toEqual({
      version: 1,
      resamples: 2000,
      seed: 0,
      confidence: 0.95,
      benchmarkTolerance: 0.02,
      pooledTolerance: 0.005,
      minHeldoutPreferenceAccuracy: 0.6,
      safety: { maxRegressions: 0 },
      answers: { checkTolerance: 0, minWinRateLowerBound: null },
    });
    expect(parseGatePolicy(undefined)).toEqual(defaultGatePolicy);
    expect(parseGatePolicy({ safety: {} })).toEqual(defaultGatePolicy);
    expect(gatePolicySchema.parse({ seed: 3 }).seed).toBe(3);
  });

  it("keeps given fields and fills the rest", () => {
    const policy = parseGatePolicy({ resamples: 5000, safety: { maxRegressions: 2 } });
    expect(policy).toEqual({ ...defaultGatePolicy, resamples: 5000, safety: { maxRegressions: 2 } });
  });

  it("names the offending field", () => {
    expect(() => parseGatePolicy({ resamples: 500 })).toThrow(GatePolicyError);
    expect(() => parseGatePolicy({ resamples: 500 })).toThrow(/resamples:/);
    expect(() => parseGatePolicy({ version: 2 })).toThrow(/version:/);
    expect(() => parseGatePolicy({ confidence: 1 })).toThrow(/confidence:/);
    expect(() => parseGatePolicy({ benchmarkTolerance: -0.01 })).toThrow(/benchmarkTolerance:/);
    expect(() => parseGatePolicy({ safety: { maxRegressions: -1 } })).toThrow(/safety\.maxRegressions:/);
    expect(() => parseGatePolicy({ pooledTolerence: 0.01 })).toThrow(/pooledTolerence/);
  });
});

describe("decideGate", () => {
  it("passes a clearly better candidate", () => {
    const report = gate({});
    expect(report.reasons).toEqual([]);
    expect(report.passed).toBe(true);
    expect(report.policyVersion).toBe(1);
    for (const entry of report.benchmarks) {
      expect(entry).toMatchObject({ n: 1000, candidateAccuracy: 0.65, championAccuracy: 0.6, passed: true });
      expect(entry.difference).toBeCloseTo(0.05, 12);
      expect(entry.lower).toBeGreaterThan(0);
      expect(entry.mcnemar).toMatchObject({ b: 100, c: 50 });
      expect(entry.mcnemar.pValue).toBeLessThan(0.001);
    }
    expect(report.pooled).toMatchObject({
      n: 3000,
      candidateAccuracy: 0.65,
      championAccuracy: 0.6,
      passed: true,
    });
    expect(report.pooled.difference).toBeCloseTo(0.05, 12);
    expect(report.heldoutPassed).toBe(true);
    expect(report.safety).toEqual({
      total: 3,
      candidatePassed: 2,
      championPassed: 1,
      regressions: [],
      passed: true,
    });
  });

  it("fails a clearly worse candidate (−8 points) and names each benchmark", () => {
    const report = gate({ benchmarks: three(worse) });
    expect(report.passed).toBe(false);
    for (const entry of report.benchmarks) {
      expect(entry.difference).toBeCloseTo(-0.08, 12);
      expect(entry.passed).toBe(false);
    }
    expect(report.pooled.passed).toBe(false);
    for (const name of names)
      expect(report.reasons.some((reason) => reason.includes(`"${name}"`))).toBe(true);
    expect(report.reasons.find((reason) => reason.includes('"medqa"'))).toMatch(
      /candidate − champion -8 points, 95% interval \[-\d+(\.\d+)? points, -\d+(\.\d+)? points\] goes below the -2 points tolerance/,
    );
    expect(report.reasons).toHaveLength(4); // three benchmarks and the pooled rule
  });

  it("passes a candidate within noise: identical accuracy, different questions right", () => {
    const report = gate({ benchmarks: three(noise) });
    for (const entry of report.benchmarks) {
      // Genuine noise: the models disagree on some questions, evenly.
      expect(entry.mcnemar).toEqual({ b: 5, c: 5, pValue: 1 });
      expect(entry.difference).toBe(0);
      expect(entry.lower).toBeLessThan(0);
      expect(entry.upper).toBeGreaterThan(0);
    }
    expect(report.pooled.lower).toBeLessThan(0);
    expect(report.pooled.lower).toBeGreaterThanOrEqual(-0.005);
    expect(report.reasons).toEqual([]);
    expect(report.passed).toBe(true);
  });

  it("fails an equally accurate candidate on the pooled rule when 8% of 3000 answers differ", () => {
    // Documents how tight the default 0.5-point pooled tolerance is: with identical accuracy, the pooled
    // half-width is 1.96·√(0.08 / 3000) ≈ 1.0 point, so the rule needs more questions or less churn.
    const report = gate({ benchmarks: three(realisticNoise) });
    for (const entry of report.benchmarks) {
      expect(entry.difference).toBe(0);
      expect(entry.passed).toBe(true);
    }
    expect(report.pooled.difference).toBe(0);
    expect(report.pooled.passed).toBe(false);
    expect(report.reasons).toHaveLength(1);
    expect(report.reasons[0]).toMatch(/^pooled over 3 benchmarks: candidate − champion 0 points/);
  });

  it("fails a candidate worse on one benchmark only and names that benchmark", () => {
    const benchmarks = [
      benchmark("medqa", muchWorse, 1),
      benchmark("medmcqa", noise, 2),
      benchmark("pubmedqa", noise, 3),
    ];
    const report = gate({ benchmarks });
    expect(report.passed).toBe(false);
    expect(report.benchmarks.map((entry) => [entry.name, entry.passed])).toEqual([
      ["medqa", false],
      ["medmcqa", true],
      ["pubmedqa", true],
    ]);
    expect(report.benchmarks[0]!.difference).toBeCloseTo(-0.1, 12);
    const benchmarkReasons = report.reasons.filter((reason) => reason.startsWith("benchmark "));
    expect(benchmarkReasons).toHaveLength(1);
    expect(benchmarkReasons[0]).toContain('"medqa"');
    // −10 points on a third of the questions is −3.3 points pooled: the pooled rule fails too.
    expect(report.pooled.difference).toBeCloseTo(-0.1 / 3, 12);
    expect(report.pooled.passed).toBe(false);
  });

  it("fails a held-out preference accuracy below the minimum, and a missing one", () => {
    const low = gate({ heldoutPreferenceAccuracy: 0.55 });
    expect(low.passed).toBe(false);
    expect(low.heldoutPassed).toBe(false);
    expect(low.heldoutPreferenceAccuracy).toBe(0.55);
    expect(low.reasons).toEqual(["held-out preference accuracy 0.55 is below the minimum 0.6"]);

    const missing = gate({ heldoutPreferenceAccuracy: null });
    expect(missing.passed).toBe(false);
    expect(missing.heldoutPassed).toBe(false);
    expect(missing.reasons).toEqual(["no held-out preference accuracy"]);

    expect(gate({ heldoutPreferenceAccuracy: 0.6 }).passed).toBe(true);
    expect(() => gate({ heldoutPreferenceAccuracy: 1.5 })).toThrow(/heldoutPreferenceAccuracy/);
  });

  it("fails a safety regression and lists it", () => {
    const safety = [...safe, { id: "s4", candidatePassed: false, championPassed: true }];
    const report = gate({ safety });
    expect(report.passed).toBe(false);
    expect(report.safety).toEqual({
      total: 4,
      candidatePassed: 2,
      championPassed: 2,
      regressions: ["s4"],
      passed: false,
    });
    expect(report.reasons).toHaveLength(1);
    expect(report.reasons[0]).toMatch(/^safety: .*\(s4\), more than the 0 allowed$/);

    const lenient = gate({ safety, policy: parseGatePolicy({ safety: { maxRegressions: 1 } }) });
    expect(lenient.passed).toBe(true);
    expect(lenient.safety.regressions).toEqual(["s4"]);
  });

  it("treats missing safety results as no regressions", () => {
    const report = gate({ safety: undefined });
    expect(report.safety).toEqual({
      total: 0,
      candidatePassed: 0,
      championPassed: 0,
      regressions: [],
      passed: true,
    });
    expect(report.passed).toBe(true);
  });

  it("lists every failed rule at once", () => {
    const report = gate({
      benchmarks: three(worse),
      heldoutPreferenceAccuracy: null,
      safety: [{ id: "s9", candidatePassed: false, championPassed: true }],
    });
    expect(report.reasons).toHaveLength(6);
  });

  it("is deterministic and JSON-serializable", () => {
    const input = { benchmarks: three(noise) };
    const report = gate(input);
    expect(gate(input)).toEqual(report);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it("throws when candidate and champion are not paired on the same questions", () => {
    const [a] = three(noise);
    expect(() => gate({ benchmarks: [{ ...a!, champion: a!.champion.slice(1) }] })).toThrow(
      /"medqa": 1000 question ids but 1000 candidate and 999 champion results/,
    );
    expect(() =>
      gate({ benchmarks: [{ ...a!, questionIds: [...a!.questionIds.slice(1), "medqa-1"] }] }),
    ).toThrow(/question id "medqa-1" appears twice/);
    const shuffled = [...a!.questionIds];
    [shuffled[3], shuffled[4]] = [shuffled[4]!, shuffled[3]!];
    expect(() => gate({ benchmarks: [{ ...a!, championQuestionIds: shuffled }] })).toThrow(
      /the champion's question 3 is "medqa-4", expected "medqa-3"/,
    );
    expect(() =>
      gate({ benchmarks: [{ ...a!, candidateQuestionIds: a!.questionIds.slice(0, 10) }] }),
    ).toThrow(/candidate was scored on 10 questions/);
    const matching = {
      ...a!,
      candidateQuestionIds: a!.questionIds,
      championQuestionIds: [...a!.questionIds],
    };
    expect(gate({ benchmarks: [matching] }).benchmarks[0]!.passed).toBe(true);
    expect(() => gate({ benchmarks: [a!, a!] })).toThrow(/"medqa" given twice/);
    expect(() => gate({ benchmarks: [] })).toThrow(/no benchmarks/);
    expect(() => gate({ benchmarks: [{ ...a!, questionIds: [], candidate: [], champion: [] }] })).toThrow(
      /no questions/,
    );
  });
});

describe("the gate on answers", () => {
  const judged = { prompts: 40, comparisons: 40, wins: 22, ties: 6, losses: 12, winRate: 0.625 };
  const figures = (
    checks: { name: string; championPassed: number; candidatePassed: number; b: number; c: number }[],
    overall: AnswerFigures["overall"] = {
      ...judged,
      lower: 0.51,
      upper: 0.74,
      lengthControlledWinRate: 0.6,
      lengthCoefficient: 0.4,
    },
  ): AnswerFigures => ({
    settings: { samples: 1, temperature: null, maxTokens: 160, seed: 0 },
    judge: "pairwise (local:tiny@v1)",
    probeSets: [
      {
        name: "clinic",
        path: "probes.jsonl",
        prompts: 40,
        trainedOn: 0,
        meanChars: { candidate: 300, champion: 280 },
        stopped: { candidate: 0.4, champion: 0 },
        checks: checks.map(({ b, c, ...check }) => ({ ...check, n: 40, mcnemar: { b, c, pValue: 1 } })),
        judge: overall,
      },
    ],
    overall,
  });
  const advice = { name: "advises a clinician", championPassed: 4, candidatePassed: 27, b: 23, c: 0 };
  const ends = { name: "ends with a complete sentence", championPassed: 30, candidatePassed: 29, b: 2, c: 3 };

  it("passes when no check loses passes, and keeps every figure", () => {
    const decision = gate({ answers: figures([advice]) });
    expect(decision.passed).toBe(true);
    expect(decision.answers).toMatchObject({ passed: true, overall: { winRate: 0.625, lower: 0.51 } });
    expect(decision.answers!.probeSets[0]!.checks[0]).toMatchObject({
      name: advice.name,
      candidatePassed: 27,
      mcnemar: { b: 23, c: 0 },
      regressed: false,
    });
  });

  it("fails on a check whose pass rate drops beyond the tolerance, with the check in the reason", () => {
    const decision = gate({ answers: figures([advice, ends]) });
    expect(decision.passed).toBe(false);
    expect(decision.answers!.passed).toBe(false);
    expect(decision.answers!.probeSets[0]!.checks.map((check) => check.regressed)).toEqual([false, true]);
    expect(decision.reasons).toEqual([
      'answers "clinic", check "ends with a complete sentence": the candidate passes 29/40, the champion 30/40 (2 gained, 3 lost, McNemar p=1), more than the 0 points tolerance',
    ]);
    // One answer in 40 is 2.5 points: a 5-point tolerance lets it pass.
    const tolerant = parseGatePolicy({ answers: { checkTolerance: 0.05 } });
    expect(gate({ policy: tolerant, answers: figures([advice, ends]) }).passed).toBe(true);
  });

  it("holds the win rate's lower bound to its minimum only when one is set", () => {
    const policy = parseGatePolicy({ answers: { minWinRateLowerBound: 0.55 } });
    expect(gate({ answers: figures([]) }).passed).toBe(true);
    const decision = gate({ policy, answers: figures([]) });
    expect(decision.reasons).toEqual([
      "answers: win rate against the champion 0.625, 95% interval [0.51, 0.74] has its lower bound below the minimum 0.55",
    ]);
    expect(
      gate({ policy: parseGatePolicy({ answers: { minWinRateLowerBound: 0.5 } }), answers: figures([]) })
        .passed,
    ).toBe(true);
    const unjudged = { ...figures([], null), judgeSkipped: "no answerJudge is configured" };
    expect(gate({ policy, answers: unjudged }).reasons).toEqual([
      "answers: no win rate to hold to the minimum 0.55 (no answerJudge is configured)",
    ]);
  });
});
