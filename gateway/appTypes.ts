// The services a gateway app is built from, and the typed context variables routes reach them through.
import type { ServedModels } from "./ServedModels.ts";

export type GatewayDeps = {
  models: ServedModels;
  /** Largest accepted request body in bytes. Default: 4 MiB */
  bodyLimitBytes?: number;
};

export type GatewayEnv = {
  Variables: {
    deps: Required<GatewayDeps>;
    requestId: string;
    /** Milliseconds of this request spent inside the inference engine, subtracted from the overhead. */
    engineMs: number;
  };
};
