// The traffic a round learns from, sent through a real gateway: answers a clinician corrected, a pair a
// clinician compared, answers left to the AI judge (one rated down), and an answer stored without its text.
import { expect } from "vitest";
import { createApiKey } from "../../db/apiKeys.ts";
import type { Database } from "../../db/createDatabase.ts";
import { promptHashOf } from "../../db/promptHash.ts";
import { completions, feedback } from "../../db/schema.ts";
import { completionRow } from "./completionRows.ts";
import type { TestGateway } from "./startGateway.ts";

/** Sends the traffic and feedback; returns the ids of the answers rated down. */
export async function sendRoundTraffic(
  gateway: TestGateway,
  questions: string[],
  suffix: string,
): Promise<string[]> {
  const database = gateway.database;
  const thumbsDown: string[] = [];
  const clinician = await createApiKey(database.db, { name: "Dr. Osei", role: "clinician" });
  const give = async (body: Record<string, unknown>) => {
    const response = await fetch(`${gateway.url}/v1/feedback`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${clinician.secret}` },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(201);
  };
  const ask = async (question: string, seed: number) => {
    const answer = await gateway.client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: question }],
      max_tokens: 40,
      temperature: 0.7,
      seed,
    });
    return { id: answer.id, text: answer.choices[0]!.message.content ?? "" };
  };

  // 44 prompts a clinician corrected the same way: the answer, then advice to consult a clinician.
  for (const question of questions.slice(0, 44)) {
    const { id, text } = await ask(question, 1);
    await give({ type: "correction", completion_id: id, correction: `${text.trimEnd()}${suffix}` });
  }
  // 2 prompts answered twice, and a clinician preferred one answer.
  for (const question of questions.slice(44, 46)) {
    const first = await ask(question, 1);
    const second = await ask(question, 2);
    await give({
      type: "preference",
      completion_id: first.id,
      other_completion_id: second.id,
      preference: "b",
    });
  }
  // 3 prompts for the AI judge, one of whose answers a clinician rated down.
  for (const [i, question] of questions.slice(46, 49).entries()) {
    const { id } = await ask(question, 1);
    if (i === 0) {
      await give({ type: "rating", completion_id: id, rating: "down" });
      thumbsDown.push(id);
    }
  }
  // Neither errors nor a conversation logged without its text take part: a refused request logs nothing,
  // and a store:false answer has no messages to learn from.
  await gateway.client.chat.completions.create({
    model: "tiny",
    messages: [{ role: "user", content: "Not for training." }],
    max_tokens: 4,
    store: false,
  });
  await gateway.completionLog.flush();

  return thumbsDown;
}

/**
 * A finished answer logged for `model` straight into the completions table, as the gateway logs one, and where
 * `correction` is given, a clinician's correction of it.
 */
export async function logAnswer(
  db: Database,
  answer: {
    id: string;
    model: string;
    question: string;
    text: string;
    at: Date;
    correction?: { text: string; clinicianKeyId: string };
  },
): Promise<void> {
  const messages = [{ role: "user", content: answer.question }];
  await db.insert(completions).values(
    completionRow(answer.id, {
      createdAt: answer.at,
      request: { model: answer.model },
      messages,
      choices: [{ index: 0, text: answer.text, finishReason: "stop" }],
      promptHash: promptHashOf(messages),
      promptTokens: 20,
      completionTokens: 30,
      latencyMs: 100,
      modelName: answer.model,
      traceId: answer.id,
    }),
  );
  if (answer.correction) {
    await db.insert(feedback).values({
      completionId: answer.id,
      kind: "correction",
      correction: answer.correction.text,
      apiKeyId: answer.correction.clinicianKeyId,
    });
  }
}
