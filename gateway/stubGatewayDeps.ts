// Gateway dependencies for unit tests that call routes and pages through `app.request()`: no model served, a log
// and an audit trail that keep nothing, an empty log reader and feedback store. A test passes what it looks at.
import type { GatewayDeps } from "./appTypes.ts";
import { ServedModels } from "./models/ServedModels.ts";

type Stubbed = "models" | "completionLog" | "audit" | "logReader" | "feedbackStore";

export function stubGatewayDeps<T extends Partial<GatewayDeps> & Pick<GatewayDeps, "auth">>(
  deps: T,
): GatewayDeps & T {
  const stubs: Pick<GatewayDeps, Stubbed> = {
    models: new ServedModels(),
    completionLog: { record: async () => {} },
    audit: { append: async () => {} },
    logReader: { find: async () => undefined, list: async () => ({ rows: [], hasMore: false }) },
    feedbackStore: {
      insert: async () => {
        throw new Error("not used");
      },
      listFor: async () => [],
      promptHashOf: async () => undefined,
      completionIdsReviewedBy: async () => new Set<string>(),
      preferencePairsBy: async () => [],
    },
  };
  return { ...stubs, ...deps };
}
