// Turns a token sampling failure inside llama.cpp into an error of the one generation it belongs to.
//
// node-llama-cpp 3.22 samples inside its batch dispatch; when llama.cpp's sampler throws (a grammar that refuses
// the sampled token, "Unexpected empty grammar stack after accepting piece"), that rejection escapes the
// dispatch as an unhandled rejection, which ends a Node process, and the generation waiting for the token never
// settles. Answering -1 instead ("no token") takes node-llama-cpp's own path for a failed sample: the waiting
// generation rejects with "Failed to sample next token", and only that request fails.
import type { LlamaContext } from "node-llama-cpp";
import { InferenceError } from "./errors.ts";

type NativeContext = { sampleToken?: (...args: unknown[]) => Promise<unknown> };

/** llama.cpp could not sample or accept the next token; the request fails, the engine keeps serving. */
export class SamplingFailedError extends InferenceError {
  override name = "SamplingFailedError";
}

export function guardSampler(context: LlamaContext): { failureOf(error: unknown): unknown } {
  const native = (context as unknown as { _ctx?: NativeContext })._ctx;
  let lastFailure: unknown;
  const sample = native?.sampleToken;
  // Only the pinned node-llama-cpp's internals are known; anything else is left as it is.
  if (native && typeof sample === "function") {
    // The addon's methods are read-only on its prototype: an own property takes their place on this instance.
    Object.defineProperty(native, "sampleToken", {
      configurable: true,
      value: (...args: unknown[]) =>
        sample.apply(native, args).catch((error: unknown) => {
          lastFailure = error;
          return -1;
        }),
    });
  }
  return {
    /** The sampler's own error behind node-llama-cpp's generic one, as a typed error; other errors unchanged. */
    failureOf(error: unknown) {
      if (!(error instanceof Error) || error.message !== "Failed to sample next token") return error;
      const cause = lastFailure instanceof Error ? lastFailure.message : "no reason given";
      return new SamplingFailedError(`The engine could not sample the next token (${cause}).`, {
        cause: error,
      });
    },
  };
}
