// Gauges read when metrics are collected: the sequences of each served model, its wait queue, the champion
// version it serves (info-style: 1 with the version as attributes), a running canary's share, verdicts and win rate,
// its upstreams' load and health, and the response log's backlog.
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
  const canaryShare = meter.createObservableGauge("medgate.canary.share", {
    description:
      "Share of a served name's requests its running canary's candidate answers (split) or shadows",
  });
  const canaryComparisons = meter.createObservableGauge("medgate.canary.comparisons", {
    description: "Clinicians' verdicts on a running canary's blind pairs, at the trainer's latest look",
  });
  const canaryWinRate = meter.createObservableGauge("medgate.canary.win_rate", {
    description:
      "The canary candidate's win rate against the champion (ties count half), at the trainer's latest look",
  });
  const canaryBound = meter.createObservableGauge("medgate.canary.win_rate_bound", {
    description: "The always-valid interval of the canary's win rate (bound: lower or upper)",
  });
  const canaryJudgeVerdicts = meter.createObservableGauge("medgate.canary.judge_verdicts", {
    description:
      "The round judge's verdicts on a running canary's pairs (canary.judgePrejudge), apart: they do not count",
  });
  const canaryJudgeWinRate = meter.createObservableGauge("medgate.canary.judge_win_rate", {
    description: "The candidate's win rate by the round judge's verdicts alone, apart from the clinicians'",
  });
  const observables = [
    canaryShare,
    canaryJudgeVerdicts,
    canaryJudgeWinRate,
    canaryComparisons,
    canaryWinRate,
    canaryBound,
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
      if (served.canary) {
        const { canary } = served;
        const attributes = {
          ...model,
          "medgate.canary.id": canary.id,
          "medgate.canary.mode": canary.mode,
          "medgate.model.version": canary.version,
        };
        result.observe(canaryShare, canary.share, attributes);
        const evidence = canary.evidence;
        result.observe(canaryComparisons, evidence?.comparisons ?? 0, attributes);
        if (evidence?.winRate !== null && evidence?.winRate !== undefined) {
          result.observe(canaryWinRate, evidence.winRate, attributes);
        }
        result.observe(canaryBound, evidence?.lower ?? 0, { ...attributes, bound: "lower" });
        result.observe(canaryBound, evidence?.upper ?? 1, { ...attributes, bound: "upper" });
        const judge = evidence?.judge;
        if (judge && !judge.skipped) {
          result.observe(canaryJudgeVerdicts, judge.verdicts, attributes);
          if (judge.winRate !== null) result.observe(canaryJudgeWinRate, judge.winRate, attributes);
        }
      }
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
