// A listening gateway: HTTP server lifecycle, with graceful shutdown that drains in-flight requests.
import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import type { Hono } from "hono";
import type { GatewayEnv } from "./appTypes.ts";
import { ApiError, errorBody } from "./errors.ts";
import type { ServedModels } from "./models/ServedModels.ts";

export type GatewayServerOptions = {
  /** Interface to listen on. Default: "127.0.0.1" */
  host?: string;
  /** Port; 0 picks a free one. Default: 8080 */
  port?: number;
  /** Longest wait for in-flight requests on shutdown before connections are cut, in ms. Default: 30000 */
  drainTimeoutMs?: number;
};

type NodeServer = ReturnType<typeof createAdaptorServer> & {
  closeIdleConnections(): void;
  closeAllConnections(): void;
};

export class GatewayServer {
  readonly url: string;
  readonly #server: NodeServer;
  readonly #models: ServedModels;
  readonly #drainTimeoutMs: number;
  #inFlight = 0;
  #closing: Promise<void> | undefined;

  private constructor(server: NodeServer, url: string, models: ServedModels, drainTimeoutMs: number) {
    this.#server = server;
    this.url = url;
    this.#models = models;
    this.#drainTimeoutMs = drainTimeoutMs;
  }

  static async listen(
    app: Hono<GatewayEnv>,
    models: ServedModels,
    options: GatewayServerOptions = {},
  ): Promise<GatewayServer> {
    const host = options.host ?? "127.0.0.1";
    let gateway: GatewayServer | undefined;
    const server = createAdaptorServer({
      fetch: app.fetch,
      hostname: host,
    }) as NodeServer;
    // A request Node's HTTP parser refuses never reaches the app; it still gets OpenAI's error shape.
    server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
      if (error.code === "ECONNRESET" || !socket.writable) return;
      const [status, reason] =
        error.code === "HPE_HEADER_OVERFLOW"
          ? [431, "Request Header Fields Too Large"]
          : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
            ? [408, "Request Timeout"]
            : [400, "Bad Request"];
      const body = JSON.stringify(
        errorBody(
          new ApiError(
            400,
            `The HTTP request could not be parsed (${error.code ?? error.message}).`,
            "invalid_request_error",
            null,
            "malformed_http",
          ),
        ),
      );
      socket.end(
        `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
    // Count requests until their response is fully written, streams included.
    server.on("request", (_req, res) => {
      if (!gateway) return;
      gateway.#inFlight++;
      res.once("close", () => {
        if (gateway) gateway.#inFlight--;
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 8080, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const urlHost = host.includes(":") ? `[${host}]` : host;
    gateway = new GatewayServer(
      server,
      `http://${urlHost}:${port}`,
      models,
      options.drainTimeoutMs ?? 30_000,
    );
    return gateway;
  }

  /** Requests whose responses have not finished yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Stops accepting connections, lets in-flight requests finish (up to the drain timeout), then disposes
   * every served model. Safe to call more than once.
   */
  [Symbol.asyncDispose](): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const deadline = Date.now() + this.#drainTimeoutMs;
    while (this.#inFlight > 0 && Date.now() < deadline) {
      this.#server.closeIdleConnections();
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    this.#server.closeAllConnections();
    await closed;
    for (const served of this.#models.clear()) await served.backend[Symbol.asyncDispose]();
  }
}
