// An embedded member with its feed, on free loopback ports and a fresh data dir, for the feed tests.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { filter, firstValueFrom, type Observable, take, timeout, toArray } from "rxjs";
import { defaultConfig } from "../../src/config/defaults.js";
import { buildConfig, parseUrlList } from "../../src/config/index.js";
import { type Etcd, type StartOptions, startEtcd } from "../../src/embed/index.js";
import { FeedClient, type FeedClientOptions } from "../../src/feed/client.js";
import type { FeedEvent } from "../../src/feed/index.js";
import { freePort } from "../e2e/harness.js";

export interface TestMember {
  etcd: Etcd;
  /** The client URL, e.g. http://127.0.0.1:PORT. */
  url: string;
  connect(options: FeedClientOptions): FeedClient;
  close(): Promise<void>;
}

/** The client port over TLS: the member's certificate, and the CA its clients' certificates must come from. */
export interface MemberTls {
  certFile: string;
  keyFile: string;
  trustedCaFile: string;
}

export async function startMember(
  options: Omit<StartOptions, "logger"> = {},
  tls?: MemberTls,
  more: { listenFeedUrls?: string; snapshotCount?: number } = {},
): Promise<TestMember> {
  const dataDir = mkdtempSync(join(tmpdir(), "rxetcd-feed-"));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const client = `${tls ? "https" : "http"}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const config = buildConfig({
    name: "feed",
    dataDir,
    listenClientUrls: parseUrlList(client),
    advertiseClientUrls: parseUrlList(client),
    listenPeerUrls: parseUrlList(peer),
    initialAdvertisePeerUrls: parseUrlList(peer),
    initialCluster: `feed=${peer}`,
    ...(tls ? { clientTls: { ...defaultConfig().clientTls, ...tls, clientCertAuth: true } } : {}),
    ...(more.listenFeedUrls ? { listenFeedUrls: parseUrlList(more.listenFeedUrls) } : {}),
    ...(more.snapshotCount ? { snapshotCount: more.snapshotCount, snapshotCatchUpEntries: 5 } : {}),
  });
  const etcd = await startEtcd(config, { logger: pino({ level: "silent" }), ...options });
  const clients: FeedClient[] = [];
  return {
    etcd,
    url: client,
    connect(o) {
      const c = new FeedClient(client, o);
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await etcd.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The first event matching `pred`, or a timeout error naming what was awaited. */
export function nextEvent<T extends FeedEvent>(
  events$: Observable<FeedEvent>,
  pred: (e: FeedEvent) => e is T,
  what: string,
  ms = 10_000,
): Promise<T> {
  return firstValueFrom(
    events$.pipe(
      filter(pred),
      take(1),
      timeout({ first: ms, with: () => Promise.reject(new Error(`no ${what} within ${ms} ms`)) }),
    ),
  );
}

/** The first `n` events matching `pred`. */
export function events<T extends FeedEvent>(
  events$: Observable<FeedEvent>,
  pred: (e: FeedEvent) => e is T,
  n: number,
  what: string,
  ms = 15_000,
): Promise<T[]> {
  return firstValueFrom(
    events$.pipe(
      filter(pred),
      take(n),
      toArray(),
      timeout({
        first: ms,
        with: () => Promise.reject(new Error(`fewer than ${n} ${what} within ${ms} ms`)),
      }),
    ),
  );
}

export const is =
  <K extends FeedEvent["type"]>(type: K) =>
  (e: FeedEvent): e is Extract<FeedEvent, { type: K }> =>
    e.type === type;

/**
 * The auth set-up the feed's auth tests share, made with etcdctl: user root (password rootpw) with role root,
 * role app-reader that may read the prefix app/, user alice (password alicepw) with that role, then auth on.
 */
export async function enableAuthWithAppReader(ctl: (...args: string[]) => Promise<unknown>): Promise<void> {
  await ctl("user", "add", "root:rootpw");
  await ctl("user", "grant-role", "root", "root");
  await ctl("role", "add", "app-reader");
  await ctl("role", "grant-permission", "app-reader", "read", "app/", "--prefix=true");
  await ctl("user", "add", "alice:alicepw");
  await ctl("user", "grant-role", "alice", "app-reader");
  await ctl("auth", "enable");
}

/** A plain put through the member's API (no lease, no previous value). */
export const put = (m: TestMember, key: string, value: string) =>
  m.etcd.server.api.put({
    key: Buffer.from(key),
    value: Buffer.from(value),
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  });
