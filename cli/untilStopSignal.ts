// How `medgate serve` learns that it should stop: the first SIGTERM or SIGINT, after which it drains.

/** Resolves with the name of the first SIGTERM or SIGINT. */
export function untilStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      resolve(signal);
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}
