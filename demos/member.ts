// One embedded member for the demos: a fresh data dir, loopback ports the system picks (so a demo never
// collides with a running etcd), quiet logs. `close()` stops it and removes its data.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { buildConfig, parseUrlList } from "../src/config/index.js";
import { type Etcd, type StartOptions, startEtcd } from "../src/embed/index.js";

export interface DemoMember {
  readonly etcd: Etcd;
  /** The client URL, e.g. http://127.0.0.1:43127 (gRPC, the JSON gateway, the feed and /dashboard). */
  readonly url: string;
  /** host:port, as etcdctl's --endpoints takes it. */
  readonly endpoint: string;
  close(): Promise<void>;
}

export async function startDemoMember(
  name: string,
  options: Omit<StartOptions, "logger"> = {},
): Promise<DemoMember> {
  const dataDir = mkdtempSync(join(tmpdir(), `rxetcd-${name}-`));
  // the peer URL is part of the member's identity, so it gets a real free port rather than 0
  const peer = `http://127.0.0.1:${await freePort()}`;
  const config = buildConfig({
    name,
    dataDir,
    listenClientUrls: parseUrlList("http://127.0.0.1:0"),
    advertiseClientUrls: parseUrlList("http://127.0.0.1:0"),
    listenPeerUrls: parseUrlList(peer),
    initialAdvertisePeerUrls: parseUrlList(peer),
    initialCluster: `${name}=${peer}`,
  });
  const etcd = await startEtcd(config, { logger: pino({ level: "error" }), ...options });
  const url = etcd.clientUrls[0].origin;
  return {
    etcd,
    url,
    endpoint: etcd.clientUrls[0].host,
    close: async () => {
      await etcd.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves on Ctrl-C (the interactive demos run until then). */
export function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => process.once("SIGINT", () => resolve()));
}
