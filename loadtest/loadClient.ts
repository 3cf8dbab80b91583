// A load client in its own process: runs runChatLoad against a URL and prints the result as JSON, so that
// a benchmark's clients do not share the server's event loop.
import { parseArgs } from "node:util";
import { runChatLoad } from "./chatLoad.ts";

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    concurrency: { type: "string" },
    requests: { type: "string" },
    /** JSON array of request bodies; request i uses bodies[i % length]. */
    bodies: { type: "string" },
    stream: { type: "boolean", default: false },
    "api-key": { type: "string" },
  },
});
if (!values.url || !values.concurrency || !values.requests || !values.bodies) {
  throw new Error("usage: loadClient --url URL --concurrency N --requests N --bodies JSON [--stream]");
}
const bodies = JSON.parse(values.bodies) as Record<string, unknown>[];
const result = await runChatLoad({
  baseUrl: values.url,
  concurrency: Number(values.concurrency),
  requests: Number(values.requests),
  body: (index) => bodies[index % bodies.length]!,
  stream: values.stream,
  apiKey: values["api-key"],
});
const cpu = process.cpuUsage();
// The client's own CPU time: on a small machine it is taken from the server, so the benchmark reports it.
console.log(JSON.stringify({ ...result, clientCpuMs: (cpu.user + cpu.system) / 1000 }));
