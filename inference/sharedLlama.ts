// The process's one node-llama-cpp `Llama` instance (the binding and its backends load once per process).
import { getLlama, type Llama, LlamaLogLevel } from "node-llama-cpp";

/** Which compute backend llama.cpp uses. `false` forces the CPU. */
export type GpuChoice = "auto" | false | "cuda" | "vulkan" | "metal";

let shared: { gpu: GpuChoice; llama: Promise<Llama> } | undefined;

/**
 * Returns the process-wide `Llama`, creating it on first use. On a CPU, its thread splitter is capped at the
 * CPU's math cores: contexts that decode at the same time (a champion and its canary's candidate, the gate's two
 * engines) then share the cores between them, each getting its share of its thread count for each batch, instead
 * of running more threads than there are cores (llama.cpp's threads spin while they wait, and oversubscribed they
 * slow each other down many times). An engine asking for more threads than that raises the cap
 * (`allowThreads`). On a GPU the instance is not capped. A later call asking for another backend fails loudly
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
  shared = {
    gpu,
    llama: llama.then((instance) => {
      if (instance.gpu === false) instance.maxThreads = instance.cpuMathCores;
      return instance;
    }),
  };
  shared.llama.catch(() => {
    shared = undefined;
  });
  return shared.llama;
}

/** Lets a context use `threads` threads on this instance: an explicit thread count above the cap raises it. */
export function allowThreads(llama: Llama, threads: number): void {
  if (llama.maxThreads !== 0 && llama.maxThreads < threads) llama.maxThreads = threads;
}
