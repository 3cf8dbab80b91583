// The engine's token log-probabilities in the shape of OpenAI's chat API (`choices[].logprobs`).
import type { TokenLogprob } from "../../inference/chatTypes.ts";
import type { ChatLogprobs } from "../protocol.ts";

/** OpenAI's `logprobs` of a choice or a chunk: null when none were asked for. */
export function chatLogprobsOf(logprobs: TokenLogprob[] | undefined): ChatLogprobs | null {
  if (!logprobs) return null;
  return {
    content: logprobs.map((entry) => ({
      token: entry.text,
      logprob: entry.logprob,
      bytes: entry.bytes,
      top_logprobs: entry.top.map((top) => ({ token: top.text, logprob: top.logprob, bytes: top.bytes })),
    })),
    refusal: null,
  };
}
