// Chat log-probabilities through the official openai client on a listening gateway (tiny model): `logprobs` and
// `top_logprobs` as OpenAI shapes them, whole and streamed, read from the engine's own token probabilities.
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testModels } from "../support/fixtures.ts";
import { startGateway, type TestGateway } from "../support/startGateway.ts";

const messages: OpenAI.ChatCompletionMessageParam[] = [
  { role: "system", content: "You are a careful medical assistant." },
  { role: "user", content: "What are the symptoms of asthma?" },
];
const greedy = { model: "tiny", messages, max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 3 };

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway({ modelPath: testModels().ggufPath, parallel: 2, contextSize: 512 });
});
afterAll(async () => {
  await gateway?.[Symbol.asyncDispose]();
});

/** The text the tokens' bytes spell, as a client rebuilds it. */
const textOf = (content: OpenAI.ChatCompletionTokenLogprob[]) =>
  Buffer.from(content.flatMap((entry) => entry.bytes ?? [])).toString("utf8");

describe("chat logprobs", () => {
  it("gives each answer token's log-probability and the likeliest tokens there, best first", async () => {
    const completion = await gateway.client.chat.completions.create(greedy);
    const choice = completion.choices[0]!;
    const content = choice.logprobs!.content!;
    expect(choice.logprobs!.refusal).toBeNull();
    expect(content.length).toBeGreaterThan(0);
    expect(content.length).toBeLessThanOrEqual(completion.usage!.completion_tokens);
    expect(textOf(content)).toBe(choice.message.content);
    for (const entry of content) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.top_logprobs).toHaveLength(3);
      const tops = entry.top_logprobs.map((top) => top.logprob);
      expect(tops).toEqual([...tops].sort((a, b) => b - a));
      // Greedy decoding picks the likeliest token: the answer's token is the first of the list, same probability.
      expect(entry.top_logprobs[0]!.token).toBe(entry.token);
      expect(Math.abs(entry.top_logprobs[0]!.logprob - entry.logprob)).toBeLessThan(1e-4);
    }
  });

  it("streams each chunk with its own tokens' log-probabilities, as the whole answer gives them", async () => {
    const whole = (await gateway.client.chat.completions.create(greedy)).choices[0]!.logprobs!.content!;
    const stream = await gateway.client.chat.completions.create({ ...greedy, stream: true });
    const streamed: OpenAI.ChatCompletionTokenLogprob[] = [];
    let text = "";
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        const content = choice.delta.content ?? "";
        text += content;
        if (content !== "") expect(choice.logprobs?.content?.length).toBeGreaterThan(0);
        streamed.push(...(choice.logprobs?.content ?? []));
      }
    }
    expect(textOf(streamed)).toBe(text);
    expect(streamed.map((entry) => entry.token)).toEqual(whole.map((entry) => entry.token));
    for (const [i, entry] of streamed.entries()) {
      expect(Math.abs(entry.logprob - whole[i]!.logprob)).toBeLessThan(1e-4);
    }
  });

  it("is null unless asked for, and lists no alternatives without top_logprobs", async () => {
    const plain = await gateway.client.chat.completions.create({ model: "tiny", messages, max_tokens: 4 });
    expect(plain.choices[0]!.logprobs).toBeNull();
    const bare = await gateway.client.chat.completions.create({
      model: "tiny",
      messages,
      max_tokens: 4,
      logprobs: true,
      n: 2,
      seed: 7,
    });
    for (const choice of bare.choices) {
      expect(choice.logprobs!.content!.every((entry) => entry.top_logprobs.length === 0)).toBe(true);
    }
  });
});
