// An HTTP forwarder that records the `model` of every JSON request body it passes on: the tests see which
// model id the gateway asked an upstream for. A client that leaves aborts the forwarded request.
import { createServer } from "node:http";

export type RecordingProxy = AsyncDisposable & {
  /** Base URL of the forwarded OpenAI API (`http://127.0.0.1:PORT/v1`). */
  url: string;
  /** `model` of each request body, in arrival order. */
  models: string[];
};

export async function startRecordingProxy(targetRoot: string): Promise<RecordingProxy> {
  const models: string[] = [];
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (body.length > 0) {
      try {
        models.push(String((JSON.parse(body.toString()) as { model?: unknown }).model));
      } catch {
        models.push("(not json)");
      }
    }
    const abort = new AbortController();
    response.on("close", () => abort.abort());
    try {
      const upstream = await fetch(`${targetRoot}${request.url}`, {
        method: request.method,
        headers: { "content-type": request.headers["content-type"] ?? "application/json" },
        body: body.length > 0 ? body : undefined,
        signal: abort.signal,
      });
      response.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "" });
      if (upstream.body) for await (const chunk of upstream.body) response.write(chunk);
      response.end();
    } catch {
      response.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/v1`,
    models,
    [Symbol.asyncDispose]: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
