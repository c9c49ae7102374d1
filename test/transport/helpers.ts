// Transports on loopback listeners with recording raft reporters and scriptable peer services.

import { mkdtempSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { Registry } from "prom-client";
import { type Message, MessageType } from "../../src/gen/raftpb/raft.js";
import type { MemberJson } from "../../src/membership/member-json.js";
import {
  decodeMsgAppV2,
  INITIAL_MSGAPPV2_STATE,
  type MsgAppV2State,
} from "../../src/transport/msgappv2-codec.js";
import { type Listening, type ListenTls, listenHttp } from "../../src/transport/peer-http.js";
import { emptyMessage } from "../../src/transport/raft-wire.js";
import {
  PeerServiceError,
  type PeerServices,
  Transport,
  type TransportOptions,
  type TransportTimings,
} from "../../src/transport/transport.js";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every 20 ms until it holds or `timeoutMs` passed (then throws naming `what`). */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * The whole frames of a msgappv2 byte stream as read by `local` from `remote`: each frame's type byte (0 is
 * the link heartbeat) and its message.
 */
export function readMsgAppV2(
  bytes: Buffer,
  local: bigint,
  remote: bigint,
): Array<{ type: number; message: Message }> {
  const out: Array<{ type: number; message: Message }> = [];
  let state: MsgAppV2State = INITIAL_MSGAPPV2_STATE;
  let buf = bytes;
  for (;;) {
    const r = decodeMsgAppV2(state, buf, local, remote);
    if (!r.done) return out;
    out.push({ type: buf[0], message: r.value.message });
    state = r.value.state;
    buf = buf.subarray(r.size);
  }
}

export function msg(fields: Partial<Message>): Message {
  return { ...emptyMessage(MessageType.MsgHup), ...fields };
}

export class RecordingRaft {
  readonly unreachable: bigint[] = [];
  readonly snapshots: Array<{ id: bigint; failed: boolean }> = [];
  reportUnreachable(id: bigint): void {
    this.unreachable.push(id);
  }
  reportSnapshot(id: bigint, failed: boolean): void {
    this.snapshots.push({ id, failed });
  }
}

export interface RequestRecord {
  method: string;
  path: string;
  res: ServerResponse;
  req: IncomingMessage;
}

/** Services with plain fields a test can change. */
export class FakeServices implements PeerServices {
  removed = new Set<bigint>();
  memberList: MemberJson[] = [];
  clusterVersion = "3.4.0";
  leases = new Map<bigint, { ttl: number; granted: number; keys: Buffer[] }>();
  primary = true;
  caughtUp = true;
  snapshots: Array<{ msg: Message; dbFile: string }> = [];
  hash = { revision: 6, hash: 2966679853, compactRevision: -1 };
  promote: (id: bigint) => Promise<MemberJson[]> = async () => this.memberList;
  readonly dir = mkdtempSync(join(tmpdir(), "rxetcd-transport-"));

  constructor(
    private readonly local: bigint,
    private readonly cluster: bigint,
  ) {}
  clusterId() {
    return this.cluster;
  }
  localId() {
    return this.local;
  }
  members() {
    return this.memberList;
  }
  isRemoved(id: bigint) {
    return this.removed.has(id);
  }
  version() {
    return { etcdserver: "3.4.23", etcdcluster: this.clusterVersion };
  }
  promoteMember(id: bigint) {
    return this.promote(id);
  }
  async hashKV(revision: number) {
    if (revision > this.hash.revision)
      throw new PeerServiceError(400, "mvcc: required revision is a future revision");
    return this.hash;
  }
  async leaseRenew(id: bigint) {
    if (!this.primary) throw new PeerServiceError(400, "not a primary lessor");
    const l = this.leases.get(id);
    if (!l) throw new PeerServiceError(404, "lease not found");
    return l.granted;
  }
  async leaseTimeToLive(id: bigint, _keys: boolean) {
    const l = this.leases.get(id);
    if (!l) throw new PeerServiceError(404, "lease not found");
    return { ttl: l.ttl, grantedTtl: l.granted, keys: l.keys };
  }
  async waitAppliedCaughtUp(_timeoutMs: number) {
    return this.caughtUp;
  }
  async receiveSnapshot(m: Message, dbFile: string) {
    this.snapshots.push({ msg: m, dbFile });
  }
  snapshotDir() {
    return this.dir;
  }
}

/** Quick timings: fast redials and probes; streams declared dead after 2 s of silence. */
export const TEST_TIMINGS: Partial<TransportTimings> = {
  dialTimeoutMs: 1000,
  streamIdleMs: 2000,
  heartbeatMs: 200,
  redialMs: 50,
  probeMs: 200,
  probeReportMs: 300,
};

export interface Node {
  id: bigint;
  url: string;
  transport: Transport;
  raft: RecordingRaft;
  services: FakeServices;
  received: Message[];
  removed: string[];
  requests: RequestRecord[];
  registry: Registry;
  listening: Listening;
  close(): Promise<void>;
}

const nodes = new Set<Node>();

export async function startNode(
  id: bigint,
  clusterId: bigint,
  extra: Partial<TransportOptions> = {},
  listenTls?: ListenTls,
): Promise<Node> {
  let transport: Transport | undefined;
  const requests: RequestRecord[] = [];
  const scheme = listenTls ? "https" : "http";
  const listening = await listenHttp(
    new URL(`${scheme}://127.0.0.1:0`),
    (req, res) => {
      if (!transport) {
        res.writeHead(503);
        res.end();
        return;
      }
      transport.handler(req, res);
      requests.push({ method: req.method ?? "", path: (req.url ?? "").split("?")[0], res, req });
    },
    listenTls,
  );
  const url = listening.url.href.replace(/\/$/, "");
  const raft = new RecordingRaft();
  const services = new FakeServices(id, clusterId);
  const registry = new Registry();
  const t = new Transport({
    localId: id,
    clusterId,
    localPeerUrls: [url],
    electionTimeoutMs: 1000,
    raft,
    services,
    logger: pino({ level: process.env.TRANSPORT_TEST_LOG ?? "silent" }),
    registry,
    timings: TEST_TIMINGS,
    ...extra,
  });
  transport = t;
  const received: Message[] = [];
  const removed: string[] = [];
  t.received$.subscribe((m) => received.push(m));
  t.removed$.subscribe((r) => removed.push(r));
  const node: Node = {
    id,
    url,
    transport: t,
    raft,
    services,
    received,
    removed,
    requests,
    registry,
    listening,
    close: async () => {
      nodes.delete(node);
      await t.close();
      await listening.close();
    },
  };
  nodes.add(node);
  return node;
}

export async function closeAll(): Promise<void> {
  await Promise.all([...nodes].map((n) => n.close()));
}

/** Both stream GETs from `dialer` reached `node` (its writers toward `dialer` are attached). */
export function streamsFrom(node: Node, dialer: bigint): number {
  const hex = dialer.toString(16);
  return node.requests.filter(
    (r) =>
      r.method === "GET" &&
      r.res.statusCode === 200 &&
      (r.path === `/raft/stream/message/${hex}` || r.path === `/raft/stream/msgapp/${hex}`),
  ).length;
}

export function posts(node: Node, path = "/raft"): number {
  return node.requests.filter((r) => r.method === "POST" && r.path === path).length;
}
