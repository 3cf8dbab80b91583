// Starts a real listening gateway on a free loopback port over a real engine, for integration tests.
import OpenAI from "openai";
import { createApp } from "../../gateway/createApp.ts";
import { GatewayServer } from "../../gateway/GatewayServer.ts";
import { ServedModels } from "../../gateway/ServedModels.ts";
import { InferenceEngine, type InferenceEngineOptions } from "../../inference/InferenceEngine.ts";

export type TestGateway = {
  url: string;
  client: OpenAI;
  engine: InferenceEngine;
  models: ServedModels;
  server: GatewayServer;
  close(): Promise<void>;
};

export async function startGateway(
  engineOptions: Omit<InferenceEngineOptions, "modelName"> & { modelName?: string },
  appOptions: { bodyLimitBytes?: number } = {},
): Promise<TestGateway> {
  const engine = await InferenceEngine.load({ modelName: "tiny", gpu: false, threads: 1, ...engineOptions });
  const models = new ServedModels();
  models.serve(engine.info.modelName, engine);
  const server = await GatewayServer.listen(createApp({ models, ...appOptions }), models, {
    host: "127.0.0.1",
    port: 0,
    drainTimeoutMs: 5_000,
  });
  const client = new OpenAI({
    baseURL: `${server.url}/v1`,
    apiKey: "unused",
    maxRetries: 0,
    timeout: 120_000,
  });
  return { url: server.url, client, engine, models, server, close: () => server.close() };
}

/** Reads a raw SSE response into its `data:` payloads. */
export async function readSse(response: Response): Promise<string[]> {
  const text = await response.text();
  return text
    .split("\n\n")
    .map((event) => event.trim())
    .filter((event) => event.startsWith("data: "))
    .map((event) => event.slice("data: ".length));
}
