// The default llama.cpp thread count, chosen from measurements (see loadtest/bench-threads.ts).

/**
 * Tiny models spend more time synchronising threads than computing, so they run on one thread; larger
 * models use every math core but `reservedCores`. A server reserves one for its JavaScript thread (HTTP,
 * sampling, the log): llama.cpp's threads spin while they wait, and one of them descheduled stalls every
 * step. Measured on a 2-core machine: see docs/benchmarks.md, "Measurements".
 */
export function defaultThreadCount(modelFileBytes: number, cpuMathCores: number, reservedCores = 0): number {
  const tinyModelBytes = 64 * 1024 * 1024;
  if (modelFileBytes < tinyModelBytes) return 1;
  return Math.max(1, cpuMathCores - reservedCores);
}
