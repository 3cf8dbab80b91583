import { describe, expect, it } from "vitest";
import { canaryRuleOf } from "./canary/canaryDecision.ts";
import { parseRoundConfig, RoundConfigError } from "./roundConfig.ts";
import { demoRoundConfig, tinyRoundConfig } from "./roundPresets.ts";

describe("parseRoundConfig", () => {
  it("fills every default, the gate policy's included", () => {
    const config = parseRoundConfig({});
    expect(config.candidates).toBe(4);
    expect(config.judge).toBe("auto");
    expect(config.gate).toMatchObject({ shots: 0 });
    // No protocol: the suite's (lm-eval for the medical suite).
    expect(config.gate.protocol).toBeUndefined();
    expect(config.gate.policy).toMatchObject({
      version: 1,
      resamples: 2000,
      benchmarkTolerance: 0.02,
      pooledTolerance: 0.005,
      minHeldoutPreferenceAccuracy: 0.6,
      safety: { maxRegressions: 0 },
    });
  });

  it("refuses a mistyped gate policy when the round is created, naming the field", () => {
    expect(() => parseRoundConfig({ gate: { policy: { benchmarkTolerence: 0.1 } } })).toThrow(
      /gate\.policy: Unrecognized key: "benchmarkTolerence"/u,
    );
    expect(() => parseRoundConfig({ gate: { policy: { resamples: 10 } } })).toThrow(RoundConfigError);
    expect(() => parseRoundConfig({ dpo: { learningRate: -1 } })).toThrow(/dpo\.learningRate/u);
    expect(() => parseRoundConfig({ gate: { protocol: "helm" } })).toThrow(/gate\.protocol/u);
    expect(() => parseRoundConfig({ gate: { protocol: "med42", shots: 5 } })).toThrow(
      /gate\.shots: the med42 protocol is zero-shot/u,
    );
    expect(parseRoundConfig({ gate: { protocol: "lm-eval", shots: 5 } }).gate).toMatchObject({
      protocol: "lm-eval",
      shots: 5,
    });
  });

  it("evaluates answers by default, and refuses a malformed probe set or check naming the field", () => {
    expect(parseRoundConfig({}).gate.answers).toEqual({ enabled: true, probeSets: [], samples: 1 });
    const answers = parseRoundConfig({
      gate: {
        answers: { probeSets: [{ name: "clinic", path: "p.jsonl", checks: [{ kind: "noRepetition" }] }] },
      },
    }).gate.answers;
    expect(answers.probeSets[0]!.checks).toEqual([{ kind: "noRepetition", ngram: 4, maxOccurrences: 2 }]);
    const refused = (answers: unknown) => () => parseRoundConfig({ gate: { answers } });
    expect(refused({ probeSets: [{ name: "clinic" }] })).toThrow(
      /gate\.answers\.probeSets\.0\.path: a probe set needs a path/u,
    );
    expect(refused({ probeSets: [{ name: "heldout", path: "p.jsonl" }] })).toThrow(/probeSets\.0\.path/u);
    expect(
      refused({
        probeSets: [
          { name: "a", path: "1.jsonl" },
          { name: "a", path: "2.jsonl" },
        ],
      }),
    ).toThrow(/gate\.answers\.probeSets: probe set names must be unique/u);
    expect(
      refused({ probeSets: [{ name: "a", path: "p", checks: [{ kind: "matches", pattern: "(" }] }] }),
    ).toThrow(/probeSets\.0\.checks\.0\.pattern: not a valid regular expression/u);
    expect(refused({ samples: 0 })).toThrow(/gate\.answers\.samples/u);
    expect(refused({ answerJudge: { gguf: "" } })).toThrow(/gate\.answers\.answerJudge/u);
    expect(() => parseRoundConfig({ gate: { policy: { answers: { checkTolerance: 2 } } } })).toThrow(
      /gate\.policy\.answers\.checkTolerance/u,
    );
  });

  it("accepts the presets, keeping overrides of nested sections", () => {
    const tiny = parseRoundConfig(tinyRoundConfig({ gate: { limit: 5 }, dpo: { epochs: 1 } }));
    expect(tiny.gate.limit).toBe(5);
    expect(tiny.gate.policy.benchmarkTolerance).toBe(0.4);
    expect(tiny.dpo).toMatchObject({ epochs: 1, learningRate: 1e-3 });
    const demo = parseRoundConfig(demoRoundConfig());
    expect(demo.gate).toMatchObject({
      limit: 20,
      policy: { benchmarkTolerance: 0.25, pooledTolerance: 0.05 },
    });
  });

  it("takes a scoring server with its defaults, and refuses a URL that is not http", () => {
    expect(parseRoundConfig({}).scorer).toBeUndefined();
    expect(parseRoundConfig({ scorer: { url: "http://host:8000/v1", apiKeyEnv: "KEY" } }).scorer).toEqual({
      url: "http://host:8000/v1",
      apiKeyEnv: "KEY",
      parallel: 4,
      timeoutMs: 600_000,
    });
    expect(() => parseRoundConfig({ scorer: { url: "file:///tmp/x" } })).toThrow(/scorer\.url/u);
    expect(() => parseRoundConfig({ scorer: { url: "http://host", parallel: 0 } })).toThrow(
      /scorer\.parallel/u,
    );
  });

  it("has no canary unless asked, and fills a canary section's defaults into the rule it is decided by", () => {
    expect(parseRoundConfig({}).canary).toBeUndefined();
    const canary = parseRoundConfig({ canary: {} }).canary!;
    expect(canary).toMatchObject({
      mode: "split",
      share: 0.1,
      threshold: 0.5,
      alpha: 0.05,
      onTimeout: "reject",
    });
    expect(canaryRuleOf({ ...canary, maxDuration: "12h", nonInferiorityMargin: 0.05 })).toMatchObject({
      threshold: 0.5,
      nonInferiorityMargin: 0.05,
      maxDurationMs: 12 * 3_600_000,
      maxComparisons: 200,
      judgesPerPair: 1,
    });
    expect(() => parseRoundConfig({ canary: { share: 0 } })).toThrow(/canary\.share/u);
    expect(() => parseRoundConfig({ canary: { maxDuration: "soon" } })).toThrow(/canary\.maxDuration/u);
    expect(() => parseRoundConfig({ canary: { threshold: 0.3, nonInferiorityMargin: 0.3 } })).toThrow(
      /canary\.nonInferiorityMargin/u,
    );
  });
});
