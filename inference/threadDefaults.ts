// The default llama.cpp thread count, chosen from measurements (see loadtest/bench-threads.ts).

/**
 * Tiny models spend more time synchronising threads than computing, so they run on one thread; larger
 * models use every math core. Measured on a 2-core machine: see the README's "Threads" section.
 */
export function defaultThreadCount(modelFileBytes: number, cpuMathCores: number): number {
  const tinyModelBytes = 64 * 1024 * 1024;
  if (modelFileBytes < tinyModelBytes) return 1;
  return Math.max(1, cpuMathCores);
}
