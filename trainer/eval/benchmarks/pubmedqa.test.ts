// PubMedQA reader: the original and the Hugging Face layouts, and malformed input.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  escapeRegExp,
  expectFormatError,
  fixtures,
  formatError,
  jsonl,
  useScratch,
} from "../../../test/support/benchmarkFiles.ts";
import { readPubMedQA } from "./pubmedqa.ts";

const { temp } = useScratch();

describe("PubMedQA fixtures", () => {
  it("reads PubMedQA ori_pqal.json: the question, its contexts; yes/no/maybe", async () => {
    const items = await readPubMedQA(join(fixtures, "pubmedqa_ori_pqal_sample.json"));
    expect(items.map((item) => [item.source, item.answer])).toEqual([
      ["90000001", 0],
      ["90000002", 1],
      ["90000003", 2],
    ]);
    expect(items[0]!.choices).toEqual(["yes", "no", "maybe"]);
    expect(items[0]!.question).toBe(
      "Does a structured discharge checklist reduce 30-day readmission after heart failure hospitalization?",
    );
    expect(items[0]!.context).toEqual([
      "Readmission within 30 days is common after hospitalization for heart failure and may reflect gaps in " +
        "discharge planning.",
      "We compared 412 patients discharged with a structured checklist covering medication reconciliation, weight " +
        "monitoring and follow-up booking with 398 patients discharged before its introduction.",
      "Thirty-day readmission fell from 24.1% to 16.8% (adjusted odds ratio 0.63, 95% CI 0.44-0.90).",
    ]);
    expect(items[0]!.task).toBe("pubmedqa");
  });

  it("reads the Hugging Face PubMedQA export the same way as the original", async () => {
    const original = await readPubMedQA(join(fixtures, "pubmedqa_ori_pqal_sample.json"), {
      layout: "original",
    });
    const hf = await readPubMedQA(join(fixtures, "pubmedqa_hf_sample.jsonl"));
    expect(hf).toEqual(original);
    expect(await readPubMedQA(join(fixtures, "pubmedqa_hf_sample.jsonl"), { layout: "hf" })).toEqual(
      original,
    );
    // A one-line ori_pqal.json is still told apart from JSON lines.
    const text = await readFile(join(fixtures, "pubmedqa_ori_pqal_sample.json"), "utf8");
    const compact = await temp("ori_pqal.json", JSON.stringify(JSON.parse(text)));
    expect(await readPubMedQA(compact)).toEqual(original);
  });
});

describe("PubMedQA order", () => {
  // As in the original test_set.json: PMIDs of 7 and 8 digits, not sorted.
  const pmids = ["12377809", "26163474", "19100463", "7482275", "25475395", "9488747", "21645374"];
  const record = (pmid: string, i: number) => ({
    QUESTION: `Question ${i} of PMID ${pmid}?`,
    CONTEXTS: [`Abstract of ${pmid}.`],
    LABELS: ["BACKGROUND"],
    MESHES: [],
    final_decision: ["yes", "no", "maybe"][i % 3],
  });
  /** The file's text with its keys in `pmids`' order (a JavaScript object would sort them). */
  const originalText = (separator: string) =>
    `{${separator}${pmids
      .map((pmid, i) => `${JSON.stringify(pmid)}: ${JSON.stringify(record(pmid, i))}`)
      .join(`,${separator}`)}${separator}}`;

  it("keeps the order of the PMIDs in the text, which JSON.parse would sort", async () => {
    expect(Object.keys(JSON.parse(originalText("\n")) as object)).not.toEqual(pmids);
    const items = await readPubMedQA(await temp("test_set.json", originalText("\n")));
    expect(items.map((item) => item.source)).toEqual(pmids);
    expect(items.map((item) => item.question)).toEqual(pmids.map((pmid, i) => record(pmid, i).QUESTION));
    expect(items.map((item) => item.answer)).toEqual(pmids.map((_, i) => i % 3));
    const oneLine = await readPubMedQA(await temp("test_set.json", originalText("")));
    expect(oneLine).toEqual(items);
    const hf = pmids.map((pmid, i) => ({
      pubid: Number(pmid),
      question: record(pmid, i).QUESTION,
      context: { contexts: record(pmid, i).CONTEXTS, labels: ["BACKGROUND"], meshes: [] },
      long_answer: "l",
      final_decision: record(pmid, i).final_decision,
    }));
    expect(await readPubMedQA(await temp("pqa.jsonl", jsonl(hf)))).toEqual(items);
  });

  it("reports the first bad record of the text, not the one of the lowest PMID", async () => {
    // 19100463 (line 4) and 9488747 (line 7).
    const text = originalText("\n").replaceAll('"final_decision":"maybe"', '"final_decision":"perhaps"');
    const file = await temp("test_set.json", text);
    await expectFormatError(
      readPubMedQA(file),
      { file, line: 4, field: "final_decision" },
      `${file}:4: field "final_decision": must be one of yes, no, maybe (got "perhaps")`,
    );
  });
});

describe("PubMedQA malformed input", () => {
  it("PubMedQA original: the line of the bad field inside the PMID's object", async () => {
    const original = JSON.parse(
      await readFile(join(fixtures, "pubmedqa_ori_pqal_sample.json"), "utf8"),
    ) as Record<string, Record<string, unknown>>;
    original["90000002"]!.final_decision = "perhaps";
    const file = await temp("ori_pqal.json", JSON.stringify(original, null, 4));
    await expectFormatError(
      readPubMedQA(file),
      { file, line: 45, field: "final_decision" },
      `${file}:45: field "final_decision": must be one of yes, no, maybe (got "perhaps")`,
    );
    original["90000002"]!.final_decision = "no";
    original["90000003"]!.CONTEXTS = ["fine", 7];
    const contexts = await temp("ori_pqal.json", JSON.stringify(original, null, 4));
    await expectFormatError(
      readPubMedQA(contexts),
      { file: contexts, line: 50, field: "CONTEXTS[1]" },
      `${contexts}:50: field "CONTEXTS[1]": must be a string (got number 7)`,
    );
    const broken = await temp(
      "ori_pqal.json",
      '{\n  "1": {"QUESTION": "q",\n  "CONTEXTS": ["c"] "final_decision": "yes"}\n}\n',
    );
    const error = await formatError(readPubMedQA(broken, { layout: "original" }));
    expect(error.message).toMatch(new RegExp(`^${escapeRegExp(broken)}:3: invalid JSON`, "u"));
    const repeated = await temp(
      "ori_pqal.json",
      '{\n"1": {"QUESTION": "q", "CONTEXTS": ["c"], "final_decision": "yes"},\n"1": {"QUESTION": "q", "CONTEXTS": ["c"], "final_decision": "no"}\n}\n',
    );
    await expectFormatError(
      readPubMedQA(repeated),
      { file: repeated, line: 3, field: "PMID" },
      `${repeated}:3: field "PMID": duplicate key "1" (first at line 2)`,
    );
  });

  it("PubMedQA Hugging Face export: missing contexts, bad decision", async () => {
    const good = {
      pubid: 1,
      question: "q?",
      context: { contexts: ["c"] },
      long_answer: "l",
      final_decision: "yes",
    };
    const file = await temp("pqa.jsonl", jsonl([good, { ...good, pubid: 2, context: { labels: [] } }]));
    await expectFormatError(
      readPubMedQA(file),
      { file, line: 2, field: "context.contexts" },
      `${file}:2: field "context.contexts": missing`,
    );
    const decision = await temp("pqa.jsonl", jsonl([{ ...good, final_decision: "Yes" }]));
    await expectFormatError(
      readPubMedQA(decision, { layout: "hf" }),
      { file: decision, line: 1, field: "final_decision" },
      `${decision}:1: field "final_decision": must be one of yes, no, maybe (got "Yes")`,
    );
  });
});
