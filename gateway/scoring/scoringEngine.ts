// Which in-process engine scores a request: a served name's, or a registered version's (`NAME@vN`) loaded on
// demand. Scoring needs the weights here; a name served by upstreams is scored on the upstream itself.
import type { InferenceEngine } from "../../inference/InferenceEngine.ts";
import { BadRequestError, NotFoundError, UnavailableError } from "../errors.ts";
import type { ServedModels } from "../models/ServedModels.ts";
import { type VersionEngines, versionRefPattern } from "../models/VersionEngines.ts";

/** An engine lent to one request, under the name the request used; disposing hands it back. */
export type ScoringEngine = Disposable & { engine: InferenceEngine; model: string };

export async function scoringEngineFor(
  models: ServedModels,
  versions: VersionEngines | undefined,
  model: string | undefined,
): Promise<ScoringEngine> {
  if (model === undefined) {
    const first = models.list().find((served) => served.engine && !served.engine.disposed);
    if (!first?.engine) {
      if (!models.ready) throw unavailable();
      throw new BadRequestError(
        "None of the models served here runs in this process; name a registered version (NAME@vN) in `model`.",
        "model",
      );
    }
    return { engine: first.engine, model: first.name, [Symbol.dispose]: () => {} };
  }
  const served = models.get(model);
  if (served) {
    if (!served.engine) {
      throw new BadRequestError(
        `\`${model}\` is served by upstream endpoints, and scoring runs where the weights are: send scoring and tokenization to an upstream itself (vLLM and SGLang answer them), or name a registered version (NAME@vN) this gateway can load.`,
        "model",
        "scoring_unavailable",
      );
    }
    return { engine: served.engine, model, [Symbol.dispose]: () => {} };
  }
  const ref = versionRefPattern.exec(model);
  if (ref) {
    // The champion a name serves is already loaded.
    const champion = models.get(ref[1]!);
    if (champion?.engine && champion.version === Number(ref[2])) {
      return { engine: champion.engine, model, [Symbol.dispose]: () => {} };
    }
    if (versions) {
      const lease = await versions.lease(model);
      return { engine: lease.engine, model, [Symbol.dispose]: () => lease[Symbol.dispose]() };
    }
  }
  if (!models.ready) throw unavailable();
  throw new NotFoundError(`The model \`${model}\` does not exist.`, "model", "model_not_found");
}

function unavailable(): UnavailableError {
  return new UnavailableError("The model is still loading. Retry when GET /ready answers 200.");
}
