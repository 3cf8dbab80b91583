// The process's one node-llama-cpp `Llama` instance (the binding and its backends load once per process).
import { getLlama, type Llama, LlamaLogLevel } from "node-llama-cpp";

/** Which compute backend llama.cpp uses. `false` forces the CPU. */
export type GpuChoice = "auto" | false | "cuda" | "vulkan" | "metal";

let shared: { gpu: GpuChoice; llama: Promise<Llama> } | undefined;

/**
 * Returns the process-wide `Llama`, creating it on first use. Thread counts are set per context, so the
 * instance itself is not capped (`maxThreads: 0`). A later call asking for another backend fails loudly
 * rather than silently getting the first one.
 */
export function sharedLlama(gpu: GpuChoice): Promise<Llama> {
  if (shared) {
    if (shared.gpu !== gpu) {
      return Promise.reject(
        new Error(
          `This process already runs llama.cpp with gpu=${String(shared.gpu)}; cannot switch to ${String(gpu)}.`,
        ),
      );
    }
    return shared.llama;
  }
  const llama = getLlama({
    gpu,
    build: "never",
    maxThreads: 0,
    logLevel: LlamaLogLevel.error,
    progressLogs: false,
  });
  shared = { gpu, llama };
  llama.catch(() => {
    shared = undefined;
  });
  return llama;
}
