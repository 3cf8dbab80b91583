// Which in-process engine scores a request: a served name's, or a registered version's (`NAME@vN`) loaded on
// demand. Scoring needs the weights here: a name served by a managed llama-server is scored on an engine of the
// same GGUF loaded on first use; a name served by upstreams is scored on the upstream itself.
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
    const live = models.list().filter((served) => !served.backend.disposed);
    const first = live.find((served) => served.engine) ?? live.find((served) => served.backend.scoringEngine);
    if (first && !first.engine && first.backend.scoringEngine) {
      const engine = await loadScoring(first.backend.scoringEngine());
      return { engine, model: first.name, [Symbol.dispose]: () => {} };
    }
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
    if (!served.engine && served.backend.scoringEngine) {
      return { engine: await loadScoring(served.backend.scoringEngine()), model, [Symbol.dispose]: () => {} };
    }
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
    if (champion?.backend.scoringEngine && champion.version === Number(ref[2])) {
      return {
        engine: await loadScoring(champion.backend.scoringEngine()),
        model,
        [Symbol.dispose]: () => {},
      };
    }
    if (versions) {
      const lease = await versions.lease(model);
      return { engine: lease.engine, model, [Symbol.dispose]: () => lease[Symbol.dispose]() };
    }
  }
  if (!models.ready) throw unavailable();
  throw new NotFoundError(`The model \`${model}\` does not exist.`, "model", "model_not_found");
}

/** A served model's scoring engine, loading on first use: its failure is the server's, said as 503. */
async function loadScoring(engine: Promise<InferenceEngine>): Promise<InferenceEngine> {
  try {
    return await engine;
  } catch (error) {
    throw new UnavailableError(
      `The scoring engine could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function unavailable(): UnavailableError {
  return new UnavailableError("The model is still loading. Retry when GET /ready answers 200.");
}
