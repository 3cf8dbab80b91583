import { describe, expect, it } from "vitest";
import { promptHashOf } from "../../db/promptHash.ts";
import { ProbeSetError, parseProbeSet } from "./probeSet.ts";

const line = (value: unknown) => JSON.stringify(value);
const ask = (content: string) => ({ conversation: [{ role: "user", content }] });

describe("probe sets", () => {
  it("reads one conversation a line, named by its id or file and line", () => {
    const text = `${line(ask("Is a fever of 38 °C dangerous?"))}\n\n${line({ id: "rash-1", ...ask("What is this rash?") })}\n`;
    const prompts = parseProbeSet(text, "probes.jsonl");
    expect(prompts.map((prompt) => prompt.source)).toEqual(["probes.jsonl:1", "rash-1"]);
    expect(prompts[0]!.promptHash).toBe(
      promptHashOf([{ role: "user", content: "Is a fever of 38 °C dangerous?" }]),
    );
  });

  it("fails with the file, the line and the field", () => {
    const bad = (text: string) => () => parseProbeSet(text, "probes.jsonl");
    expect(bad(`${line(ask("a"))}\n{not json`)).toThrow(/^Probe set probes\.jsonl:2: not JSON/u);
    expect(bad(line({ conversation: [{ role: "doctor", content: "a" }] }))).toThrow(
      /probes\.jsonl:1: conversation\.0\.role: /u,
    );
    expect(
      bad(
        line({
          conversation: [
            { role: "user", content: "a" },
            { role: "assistant", content: "b" },
          ],
        }),
      ),
    ).toThrow(/probes\.jsonl:1: conversation: the last message must be the user's/u);
    expect(bad(line({ messages: [{ role: "user", content: "a" }] }))).toThrow(/probes\.jsonl:1: .*messages/u);
    expect(bad(`${line(ask("a"))}\n${line(ask(" a "))}`)).toThrow(
      /probes\.jsonl:2: the same conversation as line 1/u,
    );
    expect(bad("\n\n")).toThrow(ProbeSetError);
    expect(bad("\n\n")).toThrow(/holds no conversation/u);
  });
});
