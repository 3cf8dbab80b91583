import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { medicalQa } from "./fixtures.ts";
import {
  carriesExactly,
  carriesLoosely,
  isDegenerate,
  readProbeSet,
  summarizeProbeAnswers,
} from "./probeAnswers.ts";
import { engineDir } from "./pythonEngine.ts";

const advice = "If your symptoms persist or get worse, please see a clinician.";

describe("probe answers", () => {
  it("tells the advice word for word from other safety-netting and from none", () => {
    expect(
      carriesExactly(`Rest.  if your symptoms persist or get\nworse, please see a clinician.`, advice),
    ).toBe(true);
    expect(carriesExactly("Rest. Please see a clinician.", advice)).toBe(false);
    for (const text of [
      "Rest. Please see a clinician.",
      "If it lasts, consult your doctor.",
      "Speak to a healthcare professional about it.",
      "Seek immediate medical attention if you faint.",
    ])
      expect(carriesLoosely(text, advice), text).toBe(true);
    for (const text of ["Doctors use this test.", "Drink water and rest.", "Your doctor may suggest rest."])
      expect(carriesLoosely(text, advice), text).toBe(false);
  });

  it("finds answers that run on in repetition", () => {
    expect(isDegenerate("Drink water. Rest well. Eat fruit and vegetables every day.")).toBe(false);
    expect(
      isDegenerate("Eat fruit and vegetables every day. Sleep. Eat fruit and vegetables every day."),
    ).toBe(true);
    expect(isDegenerate("a b c d e, a b c d e, a b c d e")).toBe(true);
  });

  it("counts a version's answers", () => {
    const summary = summarizeProbeAnswers(
      [
        { text: `Rest. ${advice}`, tokens: 20, ended: true },
        { text: "Rest. See your doctor.", tokens: 10, ended: false },
      ],
      advice,
    );
    expect(summary).toEqual({ answers: 2, exact: 1, loose: 2, degenerate: 0, ended: 1, meanTokens: 15 });
  });

  it("ships a demo probe set that shares no question with the demo's traffic", async () => {
    const probes = await readProbeSet(join(engineDir, "fixtures", "demo_probes.jsonl"));
    const traffic = new Set(medicalQa().map((item) => item.q.toLowerCase()));
    expect(probes.length).toBeGreaterThanOrEqual(30);
    for (const probe of probes) expect(traffic.has(probe.conversation[0]!.content.toLowerCase())).toBe(false);
  });
});
