// Serves the names of an upstreams file: a pool per name, routed to the registry champion's upstream model id
// when the name is registered (promotion and rollback then move the route, see ChampionWatcher).
import type { Database } from "../../db/createDatabase.ts";
import { findChampion } from "../../db/modelVersions.ts";
import type { ModelVersionRow } from "../../db/schema.ts";
import type { ServedModels } from "../models/ServedModels.ts";
import { UpstreamBackend } from "./UpstreamBackend.ts";
import { UpstreamPool } from "./UpstreamPool.ts";
import type { UpstreamConfig, UpstreamsFile } from "./upstreamConfig.ts";

export type UpstreamModels = Disposable & {
  names: string[];
  pools: Map<string, UpstreamPool>;
  /** The route of `name` to a version: its upstream model id, or the file's when it names none. */
  route(name: string, version: ModelVersionRow): UpstreamBackend | undefined;
};

export async function serveUpstreamModels(
  db: Database,
  models: ServedModels,
  file: UpstreamsFile,
  apiKeys: ReadonlyMap<UpstreamConfig, string | undefined>,
  log?: (message: string) => void,
): Promise<UpstreamModels> {
  const pools = new Map<string, UpstreamPool>();
  for (const [name, config] of Object.entries(file.models)) {
    if (models.get(name)) throw new Error(`"${name}" is served by this process's engine and by upstreams.`);
    pools.set(name, new UpstreamPool(name, config, apiKeys, log));
  }
  try {
    await Promise.all([...pools.values()].map((pool) => pool.checkHealth()));
    for (const [name, pool] of pools) {
      const champion = await findChampion(db, name);
      models.serve(name, new UpstreamBackend(pool, champion?.upstreamModel ?? undefined), champion ?? null);
    }
  } catch (error) {
    for (const pool of pools.values()) pool[Symbol.dispose]();
    throw error;
  }
  return {
    names: [...pools.keys()],
    pools,
    route: (name, version) => {
      const pool = pools.get(name);
      return pool ? new UpstreamBackend(pool, version.upstreamModel ?? undefined) : undefined;
    },
    [Symbol.dispose]: () => {
      for (const pool of pools.values()) pool[Symbol.dispose]();
    },
  };
}
