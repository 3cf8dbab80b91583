// canary: the candidate that passed the gate answers live traffic while clinicians judge blind pairs; the step
// looks at the canary every poll and ends when its rule (or an admin) has decided. A trainer stopped here resumes
// the same canary: its state lives in the database.
import { canariesOf } from "../../db/canaries.ts";
import { findRound } from "../../db/rounds.ts";
import { checkCanary } from "../canary/checkCanary.ts";
import { type RoundStep, RoundStepError } from "./stepContext.ts";

/** How often the step looks at the canary. Default: 10 s */
export const canaryPollMs = 10_000;

export const watchCanary: RoundStep = async (round, _config, { db, signal, onProgress }) => {
  const actor = `trainer (round ${round.modelName}#${round.number})`;
  for (;;) {
    signal.throwIfAborted();
    const current = await findRound(db, round.id);
    if (current?.state !== "canary") return;
    const canary = (await canariesOf(db, round.modelName)).find((row) => row.roundId === round.id);
    if (!canary) throw new RoundStepError("the round is in canary but has no canary.");
    const look = await checkCanary(db, canary.id, { actor });
    onProgress({
      roundId: round.id,
      step: "canary",
      done: look.evidence.comparisons,
      total: canary.rule.maxComparisons,
      message: `win rate ${look.evidence.winRate?.toFixed(2) ?? "–"} [${look.evidence.lower.toFixed(2)}, ${look.evidence.upper.toFixed(2)}]`,
    });
    if (look.ended || look.canary.state !== "running") return;
    await new Promise<void>((done) => {
      const timer = setTimeout(done, canaryPollMs);
      signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          done();
        },
        { once: true },
      );
    });
  }
};
