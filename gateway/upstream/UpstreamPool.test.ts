import { once } from "node:events";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { OverloadedError } from "../../inference/errors.ts";
import { UnavailableError } from "../errors.ts";
import { sseData } from "./serverSentEvents.ts";
import { UpstreamPool } from "./UpstreamPool.ts";
import { parseUpstreamsFile } from "./upstreamConfig.ts";

function pool(upstreams: object[], more: object = {}): UpstreamPool {
  const { file, apiKeys } = parseUpstreamsFile(
    JSON.stringify({ models: { m: { upstreams, ...more } } }),
    "f.json",
    {},
  );
  return new UpstreamPool("m", file.models.m!, apiKeys, () => {});
}
const at = (name: string, more: object = {}) => ({
  name,
  url: `http://127.0.0.1:9/${name}/v1`,
  model: "x",
  ...more,
});

describe("UpstreamPool", () => {
  it("sends each request to the upstream with the fewest outstanding requests per weight", () => {
    using upstreams = pool([at("a"), at("b", { weight: 2 })]);
    const names = Array.from({ length: 6 }, () => upstreams.acquire().upstream.name);
    // b takes twice a's share.
    expect(names.filter((name) => name === "b")).toHaveLength(4);
    expect(upstreams.outstanding).toBe(6);
  });

  it("answers 429 at every limit and skips the upstreams a request already tried", () => {
    using upstreams = pool([at("a", { maxConcurrency: 1 }), at("b", { maxConcurrency: 1 })]);
    const first = upstreams.acquire();
    upstreams.acquire();
    expect(() => upstreams.acquire()).toThrow(OverloadedError);
    first.done("ok");
    first.done("ok"); // handing back twice counts once
    expect(upstreams.outstanding).toBe(1);
    expect(() => upstreams.acquire(new Set([first.upstream]))).toThrow(OverloadedError);
    expect(upstreams.acquire().upstream).toBe(first.upstream);
  });

  it("ejects an upstream after consecutive failures; a success in between resets the count", () => {
    using upstreams = pool([at("a"), at("b")], { maxFailures: 2, ejectMs: 60_000 });
    const [a] = upstreams.members;
    const fail = () => {
      const lease = upstreams.acquire(new Set([upstreams.members[1]!]));
      lease.done("failed");
    };
    fail();
    upstreams.acquire(new Set([upstreams.members[1]!])).done("ok");
    fail();
    expect(a!.healthy()).toBe(true);
    fail();
    expect(a!.healthy()).toBe(false);
    expect(upstreams.stats.map((stat) => stat.healthy)).toEqual([false, true]);
    expect(() => upstreams.acquire(new Set([upstreams.members[1]!]))).toThrow(UnavailableError);
  });

  it("marks an upstream that refuses connections unhealthy at the first check", async () => {
    // A port nothing listens on: one just freed.
    const server = createServer().listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    using upstreams = pool([at("a", { url: `http://127.0.0.1:${port}/v1` })]);
    await upstreams.checkHealth();
    expect(upstreams.stats[0]!.healthy).toBe(false);
    expect(() => upstreams.acquire()).toThrow(/No upstream of "m" is healthy/u);
  });
});

describe("sseData", () => {
  it("joins data lines per event, across chunk boundaries and CRLF line ends", async () => {
    const text = 'data: {"a":1}\r\n\r\ndata: {"b"\n\n: comment\ndata: [DONE]\n\n';
    const bytes = new TextEncoder().encode(text);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7));
        controller.close();
      },
    });
    const events: string[] = [];
    for await (const data of sseData(body, 1_000, () => new Error("idle"))) events.push(data);
    expect(events).toEqual(['{"a":1}', '{"b"', "[DONE]"]);
  });

  it("fails with the idle error when the stream goes quiet", async () => {
    const body = new ReadableStream<Uint8Array>({ start() {} });
    const read = async () => {
      for await (const _ of sseData(body, 50, () => new Error("quiet for 50 ms"))) {
        // nothing comes
      }
    };
    await expect(read()).rejects.toThrow("quiet for 50 ms");
  });
});
