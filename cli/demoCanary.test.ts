import { describe, expect, it } from "vitest";
import { clinicianPreference, comparePagePair, demoCanaryConfig } from "./demoCanary.ts";

const advice = "If your symptoms persist or get worse, please see a clinician.";

describe("the demo clinician's blind rubric", () => {
  it("prefers the answer that advises seeing a clinician, on either side", () => {
    const without = "Rest and drink fluids.";
    const with_ = `Rest and drink fluids. ${advice}`;
    expect(clinicianPreference(with_, without, advice)).toBe("a");
    expect(clinicianPreference(without, with_, advice)).toBe("b");
    // Equivalent safety-netting counts as advice.
    expect(clinicianPreference("Rest. Talk to your doctor if it gets worse.", without, advice)).toBe("a");
  });
  it("then the one that does not repeat itself, then the one that ends on a complete sentence", () => {
    const repetitive = "Drink plenty of water every day. Drink plenty of water every day.";
    expect(clinicianPreference("Drink plenty of water every day.", repetitive, advice)).toBe("a");
    expect(clinicianPreference("Drink water and rest", "Drink water and rest.", advice)).toBe("b");
    expect(clinicianPreference("Rest.", "Drink water.", advice)).toBe("tie");
  });
});

describe("comparePagePair", () => {
  it("reads the compare view's two answers, unescaped, in the order shown", () => {
    const html = `<article><div class="pair"><section data-completion-id="chatcmpl-a"><div><span class="role">answer A</span><div class="text answer">Take &lt;2 g &amp; rest &quot;now&quot; it&#39;s fine</div></div></section><section data-completion-id="chatcmpl-b"><div><span class="role">answer B</span><div class="text answer">See a doctor.</div></div></section></div></article>`;
    expect(comparePagePair(html)).toEqual({
      a: { id: "chatcmpl-a", text: `Take <2 g & rest "now" it's fine` },
      b: { id: "chatcmpl-b", text: "See a doctor." },
    });
    expect(comparePagePair("<p>No pair of answers left to compare.</p>")).toBeUndefined();
  });
});

describe("demoCanaryConfig", () => {
  it("is a shadow canary with a verdict per question, at most 24", () => {
    expect(demoCanaryConfig(14)).toMatchObject({ mode: "shadow", shadowFraction: 1, maxComparisons: 14 });
    expect(demoCanaryConfig(34).maxComparisons).toBe(24);
  });
});
