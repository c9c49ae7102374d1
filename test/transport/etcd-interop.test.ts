// Interop with a real etcd 3.4.23: etcd runs as one member of a two-member cluster whose second
// member is a Transport in this process, answering raft messages like a follower that has every
// entry. If etcd can elect itself with our vote and commit writes with our acknowledgements, every
// byte we sent over its streams and pipeline was understood; every message it sent us was decoded.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import pino from "pino";
import { Registry } from "prom-client";
import { type Message, MessageType } from "../../src/gen/raftpb/raft.js";
import { clusterId as deriveClusterId, memberId } from "../../src/membership/ids.js";
import { Errors } from "../../src/rpctypes/errors.js";
import {
  fetchHashKV,
  fetchMembers,
  fetchVersion,
  forwardLeaseRenew,
  forwardLeaseTimeToLive,
  forwardPromote,
} from "../../src/transport/peer-client.js";
import { type Listening, listenHttp } from "../../src/transport/peer-http.js";
import { Transport } from "../../src/transport/transport.js";
import { etcdctlPath, freePort, which } from "../e2e/harness.js";
import { FakeServices, msg, RecordingRaft, sleep, TEST_TIMINGS, waitFor } from "./helpers.js";

const TOKEN = "rxetcd-interop";
const execFileAsync = promisify(execFile);

const etcdBin = which("etcd");

interface EtcdLog {
  level: string;
  msg: string;
  [k: string]: unknown;
}

let etcd: ChildProcess | undefined;
let dataDir = "";
let listening: Listening | undefined;
let transport: Transport | undefined;
const logs: EtcdLog[] = [];
const received: Message[] = [];
let etcdPeer = "";
let etcdClient = "";
let ourUrl = "";
let etcdId = 0n;
let rxId = 0n;
let startedAt = 0;
const raft = new RecordingRaft();
let cluster = 0n;

/** A follower that has every entry: it votes yes, acknowledges every append and every heartbeat. */
function answer(t: Transport, m: Message): void {
  const reply = (fields: Partial<Message>) =>
    t.send([msg({ to: m.from, from: rxId, term: m.term, ...fields })]);
  if (m.type === MessageType.MsgVote) reply({ type: MessageType.MsgVoteResp });
  else if (m.type === MessageType.MsgPreVote) reply({ type: MessageType.MsgPreVoteResp });
  else if (m.type === MessageType.MsgApp)
    reply({ type: MessageType.MsgAppResp, index: m.index + m.entries.length });
  else if (m.type === MessageType.MsgHeartbeat)
    reply({ type: MessageType.MsgHeartbeatResp, context: m.context });
}

before(async () => {
  if (!etcdBin)
    throw new Error(
      "etcd not found on PATH: apt-get install etcd-server (etcd 3.4.23) is needed for the interop test",
    );
  const version = execFileSync(etcdBin, ["--version"]).toString();
  assert.match(version, /etcd Version: 3\.4\./, "the interop test needs etcd 3.4");

  const [clientPort, peerPort] = [await freePort(), await freePort()];
  etcdClient = `http://127.0.0.1:${clientPort}`;
  etcdPeer = `http://127.0.0.1:${peerPort}`;

  // our listener first: etcd dials it as soon as it starts
  let t: Transport | undefined;
  listening = await listenHttp(new URL("http://127.0.0.1:0"), (req, res) => t?.handler(req, res));
  ourUrl = listening.url.href.replace(/\/$/, "");
  etcdId = memberId([etcdPeer], TOKEN);
  rxId = memberId([ourUrl], TOKEN);
  cluster = deriveClusterId([etcdId, rxId]);
  const services = new FakeServices(rxId, cluster);
  // not published (no client URLs): etcd's "already bootstrapped?" probe must say no
  services.memberList = [
    { id: etcdId, peerURLs: [etcdPeer], name: "e1" },
    { id: rxId, peerURLs: [ourUrl], name: "rx" },
  ];
  services.clusterVersion = "not_decided";

  t = new Transport({
    localId: rxId,
    clusterId: cluster,
    localPeerUrls: [ourUrl],
    electionTimeoutMs: 1000,
    raft,
    services,
    logger: pino({ level: process.env.TRANSPORT_TEST_LOG ?? "silent" }),
    timings: { ...TEST_TIMINGS, dialTimeoutMs: 2000, streamIdleMs: 5000 },
  });
  transport = t;
  t.received$.subscribe((m) => {
    received.push(m);
    answer(t, m);
  });
  t.addPeer(etcdId, [etcdPeer]);

  dataDir = mkdtempSync(join(tmpdir(), "rxetcd-interop-"));
  startedAt = Date.now();
  etcd = spawn(
    etcdBin,
    [
      "--name=e1",
      `--data-dir=${join(dataDir, "e1")}`,
      `--listen-client-urls=${etcdClient}`,
      `--advertise-client-urls=${etcdClient}`,
      `--listen-peer-urls=${etcdPeer}`,
      `--initial-advertise-peer-urls=${etcdPeer}`,
      `--initial-cluster=e1=${etcdPeer},rx=${ourUrl}`,
      `--initial-cluster-token=${TOKEN}`,
      "--initial-cluster-state=new",
      "--heartbeat-interval=100",
      "--election-timeout=1000",
      "--logger=zap",
      "--log-outputs=stderr",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let partial = "";
  etcd.stderr?.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString("utf8")).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as EtcdLog);
      } catch {
        logs.push({ level: "raw", msg: line });
      }
    }
  });
});

after(async () => {
  if (etcd && etcd.exitCode === null) {
    etcd.kill("SIGTERM");
    await Promise.race([new Promise((r) => etcd?.once("exit", r)), sleep(5000)]);
    if (etcd.exitCode === null) etcd.kill("SIGKILL");
  }
  await transport?.close();
  await listening?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** etcdctl without blocking the event loop: the Transport in this process must keep answering etcd meanwhile. */
async function etcdctl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(
    etcdctlPath(),
    [`--endpoints=${etcdClient}`, "--command-timeout=10s", ...args],
    {
      env: { ...process.env, ETCDCTL_API: "3" },
    },
  );
  return stdout;
}

const describeLogs = () =>
  logs
    .filter((l) => l.level !== "info" && l.level !== "debug")
    .map((l) => JSON.stringify(l))
    .join("\n");

test("etcd's vote request arrives over the streams we dialed, and our vote makes it leader", async () => {
  await waitFor(
    "a MsgVote or MsgPreVote from etcd",
    () =>
      received.some(
        (m) => (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) && m.from === etcdId,
      ),
    30_000,
  );
  const vote = received.find((m) => m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote)!;
  assert.equal(vote.to, rxId);
  await waitFor("etcd elected itself", () => logs.some((l) => /elected leader/.test(l.msg)), 30_000).catch(
    (err) => {
      throw new Error(`${(err as Error).message}\netcd said:\n${describeLogs()}`);
    },
  );
});

test("etcd's appends (msgappv2 stream) and heartbeats arrive; our acknowledgements commit its writes", async () => {
  await waitFor(
    "a MsgApp with entries",
    () => received.some((m) => m.type === MessageType.MsgApp && m.entries.length > 0),
    30_000,
  );
  await waitFor("a MsgHeartbeat", () =>
    received.some((m) => m.type === MessageType.MsgHeartbeat && m.from === etcdId),
  );
  // a write needs our MsgAppResp to commit in a two-member cluster
  assert.match(await etcdctl("put", "interop", "works"), /OK/);
  assert.match(await etcdctl("get", "interop", "--print-value-only"), /works/);
  const apps = received.filter((m) => m.type === MessageType.MsgApp);
  assert.ok(apps.every((m) => m.from === etcdId && m.to === rxId));
  // etcd writes field 9 into every marshalled message; only a compressed msgappv2 frame (0x01),
  // rebuilt from our (term, index) state, comes without it
  assert.ok(
    apps.some((m) => m.snapshot === undefined && m.entries.length > 0),
    "etcd sent appends as msgappv2 continuations",
  );
  const entryIndexes = apps.flatMap((m) => m.entries.map((e) => e.index));
  assert.ok(entryIndexes.length >= 3, "bootstrap, leader and put entries arrived");
});

test("a pipeline POST to etcd is answered 204", async () => {
  // a second sender with the same identity but no streams: it can only use the pipeline
  const registry = new Registry();
  const raft = new RecordingRaft();
  const services = new FakeServices(rxId, cluster);
  const pipelineOnly = new Transport({
    localId: rxId,
    clusterId: cluster,
    localPeerUrls: [ourUrl],
    electionTimeoutMs: 1000,
    raft,
    services,
    logger: pino({ level: "silent" }),
    registry,
    timings: TEST_TIMINGS,
  });
  try {
    pipelineOnly.addRemote(etcdId, [etcdPeer]);
    const term = received.at(-1)?.term ?? 2;
    pipelineOnly.send([msg({ type: MessageType.MsgHeartbeatResp, to: etcdId, from: rxId, term })]);
    const sent = async () => {
      const text = await registry.metrics();
      return new RegExp(`etcd_network_peer_sent_bytes_total\\{To="${etcdId.toString(16)}"\\} [1-9]`).test(
        text,
      );
    };
    let ok = false;
    await waitFor("the POST accepted", () => {
      void sent().then((v) => (ok = v));
      return ok || raft.unreachable.length > 0;
    });
    assert.deepEqual(raft.unreachable, [], "etcd refused the POST");
    assert.ok(ok);
  } finally {
    await pipelineOnly.close();
  }
});

test("peer client reads etcd's /members and /version", async () => {
  const got = await fetchMembers([etcdPeer], 5000);
  assert.ok(got, "etcd answered /members");
  assert.equal(got.clusterId, cluster);
  assert.deepEqual(
    got.members.map((m) => m.id).sort((x, y) => (x < y ? -1 : 1)),
    [etcdId, rxId].sort((x, y) => (x < y ? -1 : 1)),
  );
  const e1 = got.members.find((m) => m.id === etcdId);
  assert.equal(e1?.name, "e1");
  assert.deepEqual(e1?.clientURLs, [etcdClient]);
  const v = await fetchVersion(etcdPeer, 5000);
  assert.equal(v?.etcdserver, "3.4.23");
  assert.match(v?.etcdcluster ?? "", /^(3\.4\.0|not_decided)$/);
});

test("lease keepalives and TTL queries forwarded to etcd, hashkv and promote answers decode", async () => {
  const granted = await etcdctl("lease", "grant", "60");
  const id = BigInt(`0x${/lease ([0-9a-f]+) granted/.exec(granted)?.[1]}`);
  await etcdctl("put", "--lease", id.toString(16), "leased-key", "v");
  assert.equal(await forwardLeaseRenew([etcdPeer], id, 5000), 60);
  const ttl = await forwardLeaseTimeToLive([etcdPeer], id, true, 5000);
  assert.equal(ttl.grantedTtl, 60);
  assert.ok(ttl.ttl > 0 && ttl.ttl <= 60);
  assert.deepEqual(ttl.keys, [Buffer.from("leased-key")]);
  await assert.rejects(forwardLeaseRenew([etcdPeer], 0x1234n, 5000), (e) => e === Errors.LeaseNotFound);

  const hash = await fetchHashKV(etcdPeer, 0, 5000);
  assert.ok(hash, "etcd answered /members/hashkv");
  assert.ok(hash.revision >= 3);
  assert.equal(hash.compactRevision, -1);

  // we are a voter: etcd refuses to promote us with its 412 text
  await assert.rejects(forwardPromote([etcdPeer], rxId, 5000), (e) => e === Errors.MemberNotLearner);
});

test("a merged snapshot POST is saved by etcd and answered 204", async () => {
  // an old term: etcd's raft ignores the message, but the handler saves the db and answers first
  const db = Buffer.alloc(40_000, 0xab);
  async function* chunks() {
    for (let i = 0; i < db.length; i += 8192) yield db.subarray(i, i + 8192);
  }
  const snap = msg({
    type: MessageType.MsgSnap,
    to: etcdId,
    from: rxId,
    term: 1,
    snapshot: {
      data: Buffer.from("{}"),
      metadata: {
        index: 0xabc,
        term: 1,
        confState: {
          voters: [etcdId, rxId],
          learners: [],
          votersOutgoing: [],
          learnersNext: [],
          autoLeave: false,
        },
      },
    },
  });
  await assert.rejects(transport!.sendSnapshot(0x77n, snap, chunks()), /member not found/);
  await transport!.sendSnapshot(etcdId, snap, chunks());
  assert.deepEqual(raft.snapshots.at(-1), { id: etcdId, failed: false });
  await waitFor("etcd's log of the saved snapshot", () =>
    logs.some(
      (l) => l.msg === "received and saved database snapshot" && l["incoming-snapshot-index"] === 0xabc,
    ),
  );
  const saved = logs.find((l) => l.msg === "received and saved database snapshot");
  assert.equal(saved?.["incoming-snapshot-size-bytes"], db.length);
});

test("etcd logged no error and no warning about our traffic", async () => {
  // etcd's prober reports an unhealthy peer 5 s after it started probing: give it the time
  await sleep(Math.max(0, startedAt + 7000 - Date.now()));
  const bad = logs.filter(
    (l) =>
      l.level === "error" ||
      l.level === "panic" ||
      l.level === "fatal" ||
      l.level === "raw" ||
      (l.level === "warn" &&
        /failed to (process|unmarshal|decode|read|find|check)|mismatch|incompatib|unexpected|dropped|unhealthy|lost/i.test(
          `${l.msg} ${String(l.error ?? "")}`,
        )),
  );
  assert.deepEqual(bad, [], `etcd said:\n${describeLogs()}`);
  assert.ok(logs.length > 10, "etcd's log was read");
});
