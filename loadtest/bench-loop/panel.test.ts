import { describe, expect, it } from "vitest";
import {
  correct,
  hasAll,
  memberAgreement,
  panel,
  panelWinRate,
  prefer,
  propertiesOf,
  score,
  wordCount,
} from "./panel.ts";

const advice = "If your symptoms persist or get worse, please see a clinician.";
const [adeyemi, brandt, chen] = panel as [(typeof panel)[0], (typeof panel)[0], (typeof panel)[0]];

const cut =
  "Rest and drink plenty of fluids. Paracetamol can ease the fever. 1. Keep warm. 2. Avoid contact with others while";
const good = `Rest and drink plenty of fluids. Paracetamol can ease the fever. ${advice}`;
const looping = "Drink water and rest well. ".repeat(4).trim();

describe("the panel's rubric", () => {
  it("names what an answer has", () => {
    expect(propertiesOf(cut)).toEqual({
      complete: false,
      safetyNetting: false,
      noRepetition: true,
      concise: true,
    });
    expect(propertiesOf(good)).toEqual({
      complete: true,
      safetyNetting: true,
      noRepetition: true,
      concise: true,
    });
    expect(propertiesOf(looping).noRepetition).toBe(false);
    expect(propertiesOf("word ".repeat(91)).concise).toBe(false);
  });

  it("weighs the properties per member", () => {
    // Safety-netting alone: worth 2 to Dr Adeyemi, 1 to Dr Brandt; a complete sentence the other way round.
    const advises = "You should see a doctor about it, and";
    const complete = "Fever often passes in three days.";
    expect(score(adeyemi, advises)).toBeGreaterThan(score(adeyemi, complete));
    expect(score(brandt, advises)).toBeLessThan(score(brandt, complete));
    expect(prefer(adeyemi, advises, complete)).toBe("a");
    expect(prefer(brandt, advises, complete)).toBe("b");
  });

  it("breaks ties by each member's rule", () => {
    const short = "Rest.";
    const long = "Rest at home for a few days.";
    expect(prefer(adeyemi, short, long)).toBe("a");
    expect(prefer(brandt, short, long)).toBe("b");
    expect(prefer(chen, short, long)).toBe("tie");
  });

  it("disagrees on some pairs and agrees on others", () => {
    const agreement = memberAgreement([
      [good, cut],
      ["You should see a doctor about it, and", "Fever often passes in three days."],
    ]);
    expect(agreement).toBeGreaterThan(0);
    expect(agreement).toBeLessThan(1);
    expect(memberAgreement([[good, cut]])).toBe(1);
  });
});

describe("a member's correction", () => {
  it("drops the unfinished sentence, keeps list items with their marker and adds the advice", () => {
    const corrected = correct(chen, cut, advice);
    expect(corrected).toBe(
      `Rest and drink plenty of fluids. Paracetamol can ease the fever. 1. Keep warm. ${advice}`,
    );
    for (const member of panel) expect(hasAll(member, correct(member, cut, advice))).toBe(true);
  });

  it("keeps each repeated sentence once and stays within the member's word limit", () => {
    expect(correct(adeyemi, looping, advice)).toBe(`Drink water and rest well. ${advice}`);
    const long = Array.from({ length: 30 }, (_, i) => `Point number ${i} matters here.`).join(" ");
    for (const member of panel) {
      const corrected = correct(member, long, advice);
      expect(wordCount(corrected)).toBeLessThanOrEqual(member.maxWords);
      expect(hasAll(member, corrected)).toBe(true);
    }
  });

  it("leaves an answer that already safety-nets without a second piece of advice", () => {
    const answer = "Keep hydrated. See a doctor if the rash spreads. It may";
    expect(correct(brandt, answer, advice)).toBe("Keep hydrated. See a doctor if the rash spreads.");
  });

  it("makes a sentence of an answer with none", () => {
    expect(correct(chen, "rest fluids paracetamol and", advice)).toBe(
      `rest fluids paracetamol and. ${advice}`,
    );
  });
});

describe("the panel's win rate", () => {
  it("counts wins 1 and ties ½ over members and prompts", () => {
    expect(panelWinRate([good], [cut])).toBe(1);
    expect(panelWinRate([cut], [good])).toBe(0);
    expect(panelWinRate([good, cut], [cut, good])).toBe(0.5);
    // Equal answers: a tie for every member.
    expect(panelWinRate([good], [good])).toBe(0.5);
    expect(() => panelWinRate([], [])).toThrow();
  });
});
