// A loopback TCP proxy in front of PostgreSQL that a test can cut and restore, to stage a database outage.
import { connect, createServer, type Socket } from "node:net";

export type TcpProxy = {
  /** The target's connection string with its host and port replaced by the proxy's. */
  url: string;
  /** Destroys every proxied connection and refuses new ones until `restore`. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
};

const loopback = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Listens on 127.0.0.1 on a free port and forwards to the host and port of `targetUrl`, which must be loopback. */
export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  if (!loopback.has(target.hostname))
    throw new Error(`tcpProxy only forwards to loopback, not ${target.hostname}`);
  const targetHost = target.hostname === "[::1]" ? "::1" : target.hostname;
  const targetPort = Number(target.port || 5432);
  const sockets = new Set<Socket>();
  let isCut = false;

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {}); // the other side's close tears this one down
  };

  const server = createServer((client) => {
    if (isCut) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    track(client);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("tcpProxy: no TCP address");
  const url = new URL(targetUrl);
  url.hostname = "127.0.0.1";
  url.port = String(address.port);

  const destroyAll = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    url: url.toString(),
    cut() {
      isCut = true;
      destroyAll();
    },
    restore() {
      isCut = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        destroyAll();
        server.close(() => resolve());
      }),
  };
}
