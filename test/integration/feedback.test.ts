// The feedback API: clinicians rate, correct, comment on and compare answers; rows keep who and when.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import { feedback } from "../../db/schema.ts";
import { testModels } from "../support/fixtures.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";

let gateway: TestGateway;
let clinician: { id: string; headers: Record<string, string> };
let client: Record<string, string>;

beforeAll(async () => {
  gateway = await startGateway({ modelPath: testModels().ggufPath, parallel: 2, contextSize: 512 });
  const made = await createApiKey(gateway.database.db, { name: "Dr. Rivera", role: "clinician" });
  clinician = { id: made.key.id, headers: { authorization: `Bearer ${made.secret}` } };
  const app = await createApiKey(gateway.database.db, { name: "ward app", role: "client" });
  client = { authorization: `Bearer ${app.secret}` };
});
afterAll(async () => {
  await gateway?.[Symbol.asyncDispose]();
});

const answer = async (content: string) =>
  (
    await gateway.client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content }],
      max_tokens: 4,
    })
  ).id;
const give = (body: unknown, headers = clinician.headers) =>
  fetch(`${gateway.url}/v1/feedback`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

describe("POST /v1/feedback", () => {
  it("keeps feedback given the moment an answer arrives, before its log row is flushed", async () => {
    const id = await answer("What is a fever?");
    const response = await give({ type: "rating", completion_id: id, rating: "up" });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({
      object: "feedback",
      completion_id: id,
      type: "rating",
      rating: "up",
    });
  });

  it("stores every kind with the clinician's identity, and lists them", async () => {
    const first = await answer("How is asthma treated?");
    const second = await answer("How is asthma treated?");
    await gateway.completionLog.flush();
    for (const body of [
      { type: "rating", completion_id: first, rating: 2 },
      {
        type: "correction",
        completion_id: first,
        correction: "Inhaled corticosteroids; consult a clinician.",
      },
      { type: "comment", completion_id: first, comment: "Too short." },
      { type: "preference", completion_id: first, other_completion_id: second, preference: "b" },
    ]) {
      expect((await give(body)).status, JSON.stringify(body)).toBe(201);
    }
    const rows = await gateway.database.db.select().from(feedback).where(eq(feedback.completionId, first));
    expect(rows.map((row) => row.kind)).toEqual(["rating", "correction", "comment", "preference"]);
    expect(rows.every((row) => row.apiKeyId === clinician.id)).toBe(true);
    expect(rows.find((row) => row.kind === "preference")).toMatchObject({
      otherCompletionId: second,
      preference: "b",
    });
    const listed = (await (
      await fetch(`${gateway.url}/v1/feedback?completion_id=${first}`, { headers: clinician.headers })
    ).json()) as { data: { type: string }[] };
    expect(listed.data.map((item) => item.type)).toEqual(["rating", "correction", "comment", "preference"]);
  });

  it("refuses client keys, unknown completions, mismatched preferences and bad bodies", async () => {
    const id = await answer("What is anaemia?");
    const other = await answer("What is a stroke?");
    await gateway.completionLog.flush();
    expect((await give({ type: "comment", completion_id: id, comment: "x" }, client)).status).toBe(403);
    const unknown = await give({ type: "comment", completion_id: "chatcmpl-unknown", comment: "x" });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { param: string } }).error.param).toBe("completion_id");
    const mismatched = await give({
      type: "preference",
      completion_id: id,
      other_completion_id: other,
      preference: "a",
    });
    expect(mismatched.status).toBe(400);
    const bad = await give({ type: "rating", completion_id: id, rating: 9 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { param: string } }).error.param).toBe("rating");
  });
});
