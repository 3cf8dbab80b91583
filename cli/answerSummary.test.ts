import { describe, expect, it } from "vitest";
import type { AnswerEvaluationReport } from "../db/gateReport.ts";
import { answerSummary } from "./answerSummary.ts";

const judged = {
  prompts: 34,
  comparisons: 68,
  wins: 30,
  ties: 20,
  losses: 18,
  winRate: 0.588,
  lower: 0.49,
  upper: 0.68,
  lengthControlledWinRate: 0.55,
  lengthCoefficient: 0.7,
};

const report: AnswerEvaluationReport = {
  settings: { samples: 2, temperature: 0.8, maxTokens: 160, seed: 0 },
  judge: "pairwise (endpoint:judge@http://judge/v1)",
  probeSets: [
    {
      name: "clinic",
      path: "probes/clinic.jsonl",
      prompts: 34,
      trainedOn: 2,
      tooLong: 1,
      meanChars: { candidate: 412.4, champion: 380.6 },
      stopped: { candidate: 0.25, champion: 0.1 },
      checks: [
        {
          name: "advises a clinician",
          n: 68,
          championPassed: 6,
          candidatePassed: 54,
          mcnemar: { b: 48, c: 0, pValue: 7.1e-15 },
          regressed: false,
        },
        {
          name: "ends with a complete sentence",
          n: 68,
          championPassed: 30,
          candidatePassed: 28,
          mcnemar: { b: 1, c: 3, pValue: 0.625 },
          regressed: true,
        },
      ],
      judge: judged,
    },
  ],
  overall: judged,
  passed: false,
};

describe("answerSummary", () => {
  it("prints the settings, the overall win rate, and per probe set lengths, checks and verdicts", () => {
    expect(answerSummary(report, { champion: "v1", candidate: "v2" }).split("\n")).toEqual([
      "answer evaluation (failed): 2 samples at temperature 0.8, up to 160 tokens; judge: pairwise (endpoint:judge@http://judge/v1)",
      "  overall, v2 against v1: 30 win(s), 20 tie(s), 18 loss(es) in 68 comparisons of 34 prompts; win rate 0.588 [0.49, 0.68], length-controlled 0.55",
      "  clinic (probes/clinic.jsonl): 34 prompts (2 left out: the round trained on them) (1 left out: too long for a model's context); mean length v1 381 → v2 412 characters; ended before the limit 10% → 25%",
      "    check                          v1       v2       gained  lost  McNemar p",
      "    advises a clinician            6/68     54/68    48      0     7.1e-15",
      "    ends with a complete sentence  30/68    28/68    1       3     0.625  REGRESSED",
      "    judge: 30 win(s), 20 tie(s), 18 loss(es) in 68 comparisons of 34 prompts; win rate 0.588 [0.49, 0.68], length-controlled 0.55",
    ]);
  });

  it("says why no judge compared the answers", () => {
    const unjudged = { ...report, judge: null, judgeSkipped: "no answerJudge is configured", overall: null };
    expect(answerSummary(unjudged, { champion: "v1", candidate: "v2" })).toMatch(
      /judge: none \(no answerJudge is configured\)\n {2}clinic/u,
    );
  });
});
