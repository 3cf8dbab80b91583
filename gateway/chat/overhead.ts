// The gateway's own added time for a request: wall time minus the time spent inside the engine.

export function overheadMs(startedAt: number, engineMs: number): string {
  return Math.max(0, performance.now() - startedAt - engineMs).toFixed(2);
}
