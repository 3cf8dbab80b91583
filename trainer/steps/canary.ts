// canary: the candidate that passed the gate answers live traffic while clinicians judge blind pairs; the step
// looks at the canary every poll and ends when its rule (or an admin) has decided. A trainer stopped here resumes
// the same canary: its state lives in the database. With `canary.judgePrejudge`, the round's judge (when it passed
// judgeAgreement) gives its verdict on the pairs no clinician has judged yet, reported apart from theirs.
import { setTimeout as sleep } from "node:timers/promises";
import { canariesOf, pairCanaryAnswers } from "../../db/canaries.ts";
import { findRound } from "../../db/rounds.ts";
import { checkCanary } from "../canary/checkCanary.ts";
import { pairsAwaitingJudge, prejudgeCanaryPairs, prejudgeRefusal } from "../canary/prejudgeCanary.ts";
import { judgeFor } from "../judges/judgeFor.ts";
import type { Judge } from "../judges/types.ts";
import { type RoundStep, RoundStepError } from "./stepContext.ts";

/** How often the step looks at the canary. Default: 10 s */
export const canaryPollMs = 10_000;

export const watchCanary: RoundStep = async (round, config, context) => {
  const { db, signal, onProgress } = context;
  const actor = `trainer (round ${round.modelName}#${round.number})`;
  const refusal = config.canary?.judgePrejudge ? prejudgeRefusal(round, config) : undefined;
  const prejudge = config.canary?.judgePrejudge === true && !refusal;
  // The judge is loaded at the first pair it has to decide, and held until the step ends.
  let judge: (Judge & AsyncDisposable) | undefined;
  const tooLong = new Set<number>();
  try {
    for (;;) {
      signal.throwIfAborted();
      const current = await findRound(db, round.id);
      if (current?.state !== "canary") return;
      const canary = (await canariesOf(db, round.modelName)).find((row) => row.roundId === round.id);
      if (!canary) throw new RoundStepError("the round is in canary but has no canary.");
      if (prejudge && canary.state === "running") {
        await pairCanaryAnswers(db, canary);
        const open = (await pairsAwaitingJudge(db, canary)).filter((pair) => !tooLong.has(pair.id));
        if (open.length > 0) {
          judge ??= await judgeFor(round, config, context);
          onProgress({
            roundId: round.id,
            step: "canary",
            message: `the judge pre-judges ${open.length} pair(s)`,
          });
          await prejudgeCanaryPairs(db, canary, judge, open, { signal, tooLong });
        }
      }
      const look = await checkCanary(db, canary.id, {
        actor,
        ...(config.canary?.judgePrejudge
          ? { judge: refusal ? { name: null, skipped: refusal } : { name: judge?.describe() ?? null } }
          : {}),
      });
      const judged = look.evidence.judge;
      onProgress({
        roundId: round.id,
        step: "canary",
        done: look.evidence.comparisons,
        total: canary.rule.maxComparisons,
        message: `win rate ${look.evidence.winRate?.toFixed(2) ?? "–"} [${look.evidence.lower.toFixed(2)}, ${look.evidence.upper.toFixed(2)}]${judged && judged.verdicts > 0 ? `; judge (apart) ${judged.winRate?.toFixed(2) ?? "–"} on ${judged.verdicts}` : ""}`,
      });
      if (look.ended || look.canary.state !== "running") return;
      // Until the next look, or at once when the round is stopped (the wait's abort listener goes with it).
      await sleep(canaryPollMs, undefined, { signal }).catch(() => {});
    }
  } finally {
    await judge?.[Symbol.asyncDispose]();
  }
};
