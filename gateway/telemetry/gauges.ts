// Gauges read when metrics are collected: the sequences of each served model, its wait queue, the champion
// version it serves (info-style: 1 with the version as attributes), its upstreams' load and health, and the
// response log's backlog.
import type { CompletionLog } from "../log/CompletionLog.ts";
import type { ServedModels } from "../models/ServedModels.ts";
import { gatewayInstruments } from "./instruments.ts";

/** Registers the gauges of a gateway; disposing removes them. */
export function observeGateway(models: ServedModels, log: CompletionLog): Disposable {
  const { meter } = gatewayInstruments();
  const busy = meter.createObservableGauge("medgate.sequences.busy", {
    description: "Sequences generating or scoring",
  });
  const free = meter.createObservableGauge("medgate.sequences.free", {
    description: "Sequences free to lend",
  });
  const queued = meter.createObservableGauge("medgate.queue.depth", {
    description: "Requests waiting for a sequence",
  });
  const champion = meter.createObservableGauge("medgate.model.champion", {
    description: "1 for the version each served name answers with",
  });
  const logQueued = meter.createObservableGauge("medgate.completion_log.queued", {
    description: "Response-log rows in memory, not yet in the database or the spool",
  });
  const spooled = meter.createObservableGauge("medgate.completion_log.spooled", {
    description: "Response-log rows in the spool, not yet replayed",
  });
  const spoolBytes = meter.createObservableGauge("medgate.completion_log.spool_bytes", {
    unit: "By",
    description: "Bytes of the spool's segments not yet replayed",
  });
  const rejected = meter.createObservableGauge("medgate.completion_log.rejected", {
    description: "Response-log rows the database refused, set aside",
  });
  const upstreamOutstanding = meter.createObservableGauge("medgate.upstream.outstanding", {
    description: "Requests in flight to each upstream of a served name",
  });
  const upstreamHealthy = meter.createObservableGauge("medgate.upstream.healthy", {
    description: "1 while an upstream gets requests (health check passed, not ejected), else 0",
  });
  const observables = [
    busy,
    free,
    queued,
    champion,
    logQueued,
    spooled,
    spoolBytes,
    rejected,
    upstreamOutstanding,
    upstreamHealthy,
  ];
  const callback = async (result: Parameters<Parameters<typeof meter.addBatchObservableCallback>[0]>[0]) => {
    for (const served of models.list()) {
      if (served.backend.disposed) continue;
      const pool = served.backend.stats;
      const model = { "gen_ai.request.model": served.name };
      result.observe(busy, pool.inUse, model);
      result.observe(free, pool.size - pool.inUse, model);
      result.observe(queued, pool.queued, model);
      result.observe(champion, 1, {
        ...model,
        "medgate.model.version_id": served.versionId ?? "unregistered",
        "medgate.model.version": served.version ?? 0,
      });
      for (const upstream of pool.upstreams ?? []) {
        const attributes = { ...model, "medgate.upstream.name": upstream.name };
        result.observe(upstreamOutstanding, upstream.outstanding, attributes);
        result.observe(upstreamHealthy, upstream.healthy ? 1 : 0, attributes);
      }
    }
    const stats = log.stats;
    result.observe(logQueued, stats.queued);
    result.observe(spooled, stats.spooled);
    result.observe(rejected, stats.rejected);
    result.observe(spoolBytes, await log.spoolBytes().catch(() => 0));
  };
  meter.addBatchObservableCallback(callback, observables);
  return { [Symbol.dispose]: () => meter.removeBatchObservableCallback(callback, observables) };
}
