import { describe, expect, it } from "vitest";
import { parseUpstreamsFile } from "./upstreamConfig.ts";

const one = (upstream: object, more: object = {}) =>
  JSON.stringify({
    models: {
      med42: { upstreams: [{ name: "a", url: "http://10.0.0.5:8000/v1", model: "m", ...upstream }], ...more },
    },
  });

describe("the upstreams file", () => {
  it("fills in the defaults and strips a trailing slash", () => {
    const { file, apiKeys } = parseUpstreamsFile(one({ url: "http://10.0.0.5:8000/v1/" }), "f.json", {});
    const model = file.models.med42!;
    expect(model).toMatchObject({
      maxFailures: 3,
      ejectMs: 30_000,
      healthIntervalMs: 5_000,
      retryWaitMs: 60_000,
    });
    expect(model.upstreams[0]).toEqual({
      name: "a",
      url: "http://10.0.0.5:8000/v1",
      model: "m",
      weight: 1,
      maxConcurrency: 64,
      timeouts: { headersMs: 60_000, idleMs: 60_000, totalMs: 900_000 },
      healthPath: "/health",
    });
    expect(apiKeys.get(model.upstreams[0]!)).toBeUndefined();
  });

  it("takes each upstream's key from its variable", () => {
    const { file, apiKeys } = parseUpstreamsFile(one({ apiKeyEnv: "VLLM_KEY" }), "f.json", {
      VLLM_KEY: "s3cret",
    });
    expect(apiKeys.get(file.models.med42!.upstreams[0]!)).toBe("s3cret");
  });

  it("names the file and the field of what is wrong", () => {
    const bad =
      (text: string, env = {}) =>
      () =>
        parseUpstreamsFile(text, "f.json", env);
    expect(bad("{")).toThrow(/^f\.json is not JSON/u);
    expect(bad(JSON.stringify({ models: {} }))).toThrow(/f\.json: models: name at least one model/u);
    expect(bad(one({ url: "ftp://x/v1" }))).toThrow(/f\.json: models\.med42\.upstreams\.0\.url/u);
    expect(bad(one({ weight: 0 }))).toThrow(/models\.med42\.upstreams\.0\.weight/u);
    expect(bad(one({ colour: "red" }))).toThrow(/models\.med42\.upstreams\.0/u);
    expect(bad(one({ apiKeyEnv: "VLLM_KEY" }))).toThrow(
      /the key variable VLLM_KEY of upstream "a" is not set/u,
    );
    const twice = JSON.stringify({
      models: {
        med42: {
          upstreams: [
            { name: "a", url: "http://h:1/v1", model: "m" },
            { name: "a", url: "http://h:2/v1", model: "m" },
          ],
        },
      },
    });
    expect(bad(twice)).toThrow(/two upstreams are named "a"/u);
  });
});
