// Two (or three) Transports in one process on loopback ports: streams, pipeline, snapshots, redials,
// bounded queues and removal, checked through what each side receives and what raft is told.
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, request, type Server } from "node:http";
import type { Socket } from "node:net";
import { basename } from "node:path";
import { after, test } from "node:test";
import { EntryType, type Message, MessageType } from "../../src/gen/raftpb/raft.js";
import { Agents, readBody, startRequest } from "../../src/transport/http-util.js";
import { decodeMessageFrame } from "../../src/transport/message-codec.js";
import {
  decodeMsgAppV2,
  INITIAL_MSGAPPV2_STATE,
  type MsgAppV2State,
} from "../../src/transport/msgappv2-codec.js";
import { PIPELINE_QUEUE_LIMIT, PIPELINE_WORKERS } from "../../src/transport/pipeline.js";
import {
  COMMIT_NOTICE_HOLD_IN_FLIGHT_MS,
  COMMIT_NOTICE_HOLD_MS,
  STREAM_QUEUE_LIMIT,
} from "../../src/transport/stream-writer.js";
import { closeAll, msg, posts, readMsgAppV2, sleep, startNode, streamsFrom, waitFor } from "./helpers.js";

const CLUSTER = 0x512bcc7be0b351a4n;
const A = 0x5a9ff2fd570cac50n;
const B = 0x9f4776933e3fb72an; // above 2^63: ids must never go through a float
const C = 0x52eb4f0d281b02ean;

after(closeAll);

async function connectedPair() {
  const a = await startNode(A, CLUSTER);
  const b = await startNode(B, CLUSTER);
  a.transport.addPeer(B, [b.url]);
  b.transport.addPeer(A, [a.url]);
  await waitFor("streams in both directions", () => streamsFrom(a, B) >= 2 && streamsFrom(b, A) >= 2);
  return { a, b };
}

test("messages travel over the streams once both sides know each other; MsgApp uses msgappv2", async () => {
  const { a, b } = await connectedPair();
  assert.ok(a.transport.activeSince(B) !== undefined, "A sees B active");
  const postsBefore = posts(b);

  const vote = msg({ type: MessageType.MsgVote, to: B, from: A, term: 3, logTerm: 2, index: 7 });
  const apps = [1, 2, 3].map((i) =>
    msg({
      type: MessageType.MsgApp,
      to: B,
      from: A,
      term: 3,
      logTerm: 3,
      index: 9 + i,
      commit: 9 + i,
      entries: [{ type: EntryType.EntryNormal, term: 3, index: 10 + i, data: Buffer.from(`put ${i}`) }],
    }),
  );
  // consecutive appends to one member in one send travel as one MsgApp (see coalesceAppends)
  a.transport.send([vote, ...apps]);
  await waitFor("2 messages at B", () => b.received.length >= 2);
  // the next append continues the stream's (term, index): msgappv2 sends it without its header
  const next = msg({
    type: MessageType.MsgApp,
    to: B,
    from: A,
    term: 3,
    logTerm: 3,
    index: 13,
    commit: 13,
    entries: [{ type: EntryType.EntryNormal, term: 3, index: 14, data: Buffer.from("put 4") }],
  });
  a.transport.send([next]);
  await waitFor("3 messages at B", () => b.received.length >= 3);
  // the vote and the appends travel on different streams: order holds per stream only
  const got = (type: MessageType) =>
    b.received.filter((m) => m.type === type).map((m) => [m.from, m.to, m.term, m.index, m.commit]);
  assert.deepEqual(got(MessageType.MsgVote), [[A, B, 3, 7, 0]]);
  assert.deepEqual(got(MessageType.MsgApp), [
    [A, B, 3, 10, 12],
    [A, B, 3, 13, 13],
  ]);
  assert.deepEqual(
    b.received
      .filter((m) => m.type === MessageType.MsgApp)
      .flatMap((m) => m.entries.map((e) => e.data.toString())),
    ["put 1", "put 2", "put 3", "put 4"],
  );
  assert.equal(posts(b), postsBefore, "nothing went over the pipeline");

  // and back
  b.transport.send([msg({ type: MessageType.MsgVoteResp, to: A, from: B, term: 3 })]);
  await waitFor("vote response at A", () => a.received.some((m) => m.type === MessageType.MsgVoteResp));
  assert.deepEqual(a.raft.unreachable, []);
});

test("a peer without streams is reached over the pipeline, and the receiver adds the sender as a remote", async () => {
  const a = await startNode(A, CLUSTER);
  const b = await startNode(B, CLUSTER);
  a.transport.addPeer(B, [b.url]); // b does not know a: a's stream dials get 404, b never dials a
  a.transport.send([msg({ type: MessageType.MsgHeartbeat, to: B, from: A, term: 2, commit: 4 })]);
  await waitFor("heartbeat at B", () => b.received.length === 1);
  assert.equal(b.received[0].commit, 4);
  assert.ok(posts(b) >= 1, "sent with POST /raft");
  assert.deepEqual(b.transport.peerUrls(A), [a.url], "B learnt A's URL from X-PeerURLs");
  // b answers through its remote (pipeline only)
  b.transport.send([msg({ type: MessageType.MsgHeartbeatResp, to: A, from: B, term: 2 })]);
  await waitFor("heartbeat response at A", () => a.received.length === 1);
  assert.ok(posts(a) >= 1);
});

test("a killed stream is dialed again and carries messages again", async () => {
  const { a, b } = await connectedPair();
  const before = streamsFrom(a, B);
  for (const r of a.requests.filter((r) => r.path.startsWith("/raft/stream/"))) r.res.socket?.destroy();
  await waitFor("B redialed both streams", () => streamsFrom(a, B) >= before + 2);
  const postsBefore = posts(b);
  a.transport.send([msg({ type: MessageType.MsgHeartbeat, to: B, from: A, term: 5 })]);
  await waitFor("heartbeat at B", () => b.received.some((m) => m.term === 5));
  assert.equal(posts(b), postsBefore, "the message used the new stream");
});

test("a stream with no heartbeats is declared dead after the idle limit and redialed", async () => {
  // A's writers send heartbeats every 10 s, B's readers give up after 300 ms of silence
  const a = await startNode(A, CLUSTER, { timings: { heartbeatMs: 10_000, redialMs: 50, probeMs: 10_000 } });
  const b = await startNode(B, CLUSTER, { timings: { streamIdleMs: 300, redialMs: 50, probeMs: 10_000 } });
  a.transport.addPeer(B, [b.url]);
  b.transport.addPeer(A, [a.url]);
  await waitFor("first streams", () => streamsFrom(a, B) >= 2);
  await waitFor("silent streams redialed", () => streamsFrom(a, B) >= 6, 15_000);
});

test("streams with heartbeats stay up while quiet", async () => {
  const { a, b } = await connectedPair();
  const dials = streamsFrom(a, B);
  await sleep(2500); // longer than the 2 s idle limit of the test timings
  assert.equal(streamsFrom(a, B), dials, "no redial while heartbeats flow");
  assert.ok(b.transport.activeSince(A) !== undefined);
});

/** Dials `node`'s stream of `type` as member `from` with raw HTTP and collects the answer's bytes. */
async function rawDial(node: { url: string }, type: "message" | "msgapp", from: bigint, to: bigint) {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(`${node.url}/raft/stream/${type}/${from.toString(16)}`, {
      headers: {
        "X-Server-From": from.toString(16),
        "X-Server-Version": "3.4.23",
        "X-Min-Cluster-Version": "3.0.0",
        "X-Etcd-Cluster-ID": CLUSTER.toString(16),
        "X-Raft-To": to.toString(16),
      },
    });
    req.on("response", resolve).on("error", reject).end();
  });
  const chunks: Buffer[] = [];
  res.on("data", (c: Buffer) => chunks.push(c));
  return { res, bytes: () => Buffer.concat(chunks) };
}

/** A with B as a peer that is not running: only raw dials attach A's writers toward B. */
async function lonelyA() {
  const a = await startNode(A, CLUSTER);
  a.transport.addPeer(B, ["http://127.0.0.1:1"]);
  return a;
}

test("a new inbound stream replaces the old one for the same peer and type", async () => {
  const a = await lonelyA();
  const first = await rawDial(a, "message", B, A);
  let firstEnded = false;
  first.res.on("end", () => {
    firstEnded = true;
  });
  const dial = await rawDial(a, "message", B, A);
  assert.equal(dial.res.statusCode, 200);
  assert.equal(dial.res.headers["x-server-version"], "3.4.23");
  assert.equal(dial.res.headers["x-etcd-cluster-id"], CLUSTER.toString(16));
  await waitFor("the old answer ended", () => firstEnded);
  a.transport.send([msg({ type: MessageType.MsgHeartbeat, to: B, from: A, term: 9 })]);
  await waitFor("the heartbeat on the new stream", () => dial.bytes().length >= 8 + 47);
  const frame = decodeMessageFrame(dial.bytes());
  assert.ok(frame.done);
  assert.equal(frame.value.term, 9);
  dial.res.destroy();
});

test("a stream writer hands its frame to the socket when it flushes, not on a later tick", async () => {
  const a = await lonelyA();
  const dial = await rawDial(a, "message", B, A);
  const stream = a.requests.find((r) => r.path === `/raft/stream/message/${B.toString(16)}`);
  assert.ok(stream, "A served B's stream dial");
  const socket = stream.res.socket;
  assert.ok(socket, "the stream's answer has its socket");
  // a message sent in a turn whose promise continuations go on (the raft loop, an apply) must be on
  // its way when the writer's flush has run: Node's response write alone corks the socket until the
  // next process.nextTick, which waits for every continuation queued in the turn
  a.transport.send([msg({ type: MessageType.MsgAppResp, to: B, from: A, term: 4, index: 12 })]);
  await Promise.resolve(); // the writer's flush (a microtask queued by send) has run; no tick since
  const corked = socket.writableCorked;
  const buffered = socket.writableLength;
  assert.equal(corked, 0, "the socket is not left corked for a later tick");
  assert.equal(buffered, 0, "nothing of the frame waits in the socket's buffer");
  await waitFor("the frame at the dialer", () => dial.bytes().length >= 8);
  const frame = decodeMessageFrame(dial.bytes());
  assert.ok(frame.done);
  assert.equal(frame.value.type, MessageType.MsgAppResp);
  assert.equal(frame.value.index, 12);
  dial.res.destroy();
});

test("MsgApps on the msgapp stream are msgappv2 frames: a full one, then continuations without header", async () => {
  const a = await lonelyA();
  const dial = await rawDial(a, "msgapp", B, A);
  assert.equal(dial.res.statusCode, 200);
  const app = (index: number, n: number) =>
    msg({
      type: MessageType.MsgApp,
      to: B,
      from: A,
      term: 4,
      logTerm: 4,
      index,
      commit: index,
      entries: Array.from({ length: n }, (_, i) => ({
        type: EntryType.EntryNormal,
        term: 4,
        index: index + 1 + i,
        data: Buffer.from("x"),
      })),
    });
  a.transport.send([app(20, 2)]);
  await Promise.resolve(); // flushed: appends queued in one turn would travel joined
  a.transport.send([app(22, 1)]);
  // walk the frames (link heartbeats may be interleaved) and note each frame's type byte
  const types: number[] = [];
  const decoded: Message[] = [];
  await waitFor("two MsgApp frames", () => {
    types.length = 0;
    decoded.length = 0;
    for (const f of readMsgAppV2(dial.bytes(), A, B)) {
      if (f.type !== 0) {
        types.push(f.type);
        decoded.push(f.message);
      }
    }
    return decoded.length === 2;
  });
  assert.deepEqual(types, [0x02, 0x01], "whole first, then a continuation without header");
  assert.deepEqual(
    decoded.map((m) => [m.index, m.logTerm, m.entries.map((e) => e.index)]),
    [
      [20, 4, [21, 22]],
      [22, 4, [23]],
    ],
  );
  dial.res.destroy();
});

test("a commit notice (an empty MsgApp) waits for an append and rides with it", async () => {
  const a = await lonelyA();
  const dial = await rawDial(a, "msgapp", B, A);
  const stream = a.requests.find((r) => r.path === `/raft/stream/msgapp/${B.toString(16)}`);
  const socket = stream?.res.socket;
  assert.ok(socket, "the stream's answer has its socket");
  const written = socket.bytesWritten;
  a.transport.send([
    msg({ type: MessageType.MsgApp, to: B, from: A, term: 4, logTerm: 4, index: 30, commit: 29 }),
  ]);
  await new Promise((r) => setImmediate(r)); // an append would have been flushed by now
  assert.equal(socket.bytesWritten, written, "the notice waits past the end of the turn");
  const entry = { type: EntryType.EntryNormal, term: 4, index: 31, data: Buffer.from("x") };
  a.transport.send([
    msg({
      type: MessageType.MsgApp,
      to: B,
      from: A,
      term: 4,
      logTerm: 4,
      index: 30,
      commit: 30,
      entries: [entry],
    }),
  ]);
  const decoded: Message[] = [];
  await waitFor("a MsgApp frame", () => {
    decoded.length = 0;
    let state: MsgAppV2State = INITIAL_MSGAPPV2_STATE;
    let buf = dial.bytes();
    for (;;) {
      const r = decodeMsgAppV2(state, buf, A, B);
      if (!r.done) break;
      if (buf[0] !== 0) decoded.push(r.value.message);
      state = r.value.state;
      buf = buf.subarray(r.size);
    }
    return decoded.length > 0;
  });
  assert.deepEqual(
    decoded.map((m) => [m.index, m.commit, m.entries.map((e) => e.index)]),
    [[30, 30, [31]]],
    "one message: the append, with the newer commit",
  );
  dial.res.destroy();
});

test("a commit notice with no append after it goes out alone once its hold is over", async () => {
  const a = await lonelyA();
  const dial = await rawDial(a, "msgapp", B, A);
  const sent = performance.now();
  a.transport.send([
    msg({ type: MessageType.MsgApp, to: B, from: A, term: 4, logTerm: 4, index: 50, commit: 50 }),
  ]);
  const frame = () => {
    const bytes = dial.bytes();
    let at = 0;
    while (bytes[at] === 0) at++; // link heartbeats
    return decodeMsgAppV2(INITIAL_MSGAPPV2_STATE, bytes.subarray(at), A, B);
  };
  await waitFor("the notice at the dialer", () => frame().done);
  assert.ok(performance.now() - sent >= COMMIT_NOTICE_HOLD_MS - 0.5, "it was held");
  const r = frame();
  assert.ok(r.done);
  assert.deepEqual(
    [r.value.message.index, r.value.message.commit, r.value.message.entries.length],
    [50, 50, 0],
  );
  dial.res.destroy();
});

test("a commit notice below entries in flight waits longer, and a newer notice joins it", async () => {
  const a = await lonelyA();
  const dial = await rawDial(a, "msgapp", B, A);
  const entry = { type: EntryType.EntryNormal, term: 4, index: 61, data: Buffer.from("x") };
  const notice = (commit: number) =>
    msg({ type: MessageType.MsgApp, to: B, from: A, term: 4, logTerm: 4, index: 61, commit });
  /** Every MsgApp written so far: [index, commit, entries]. */
  const written = () =>
    readMsgAppV2(dial.bytes(), A, B)
      .filter((f) => f.type !== 0)
      .map(({ message: m }) => [m.index, m.commit, m.entries.length]);
  a.transport.send([
    msg({
      type: MessageType.MsgApp,
      to: B,
      from: A,
      term: 4,
      logTerm: 4,
      index: 60,
      commit: 60,
      entries: [entry],
    }),
  ]);
  await waitFor("the append", () => written().length === 1);
  const sent = performance.now();
  a.transport.send([notice(60)]); // entry 61 is not acknowledged yet
  await waitFor("the notice", () => written().length === 2);
  assert.ok(performance.now() - sent >= COMMIT_NOTICE_HOLD_IN_FLIGHT_MS - 1, "held for the in-flight hold");
  const second = performance.now();
  a.transport.send([notice(60)]);
  a.transport.send([notice(61)]); // entry 61 committed: nothing is in flight, the short hold applies
  await waitFor("the newer notice", () => written().length === 3);
  const took = performance.now() - second;
  assert.ok(took >= COMMIT_NOTICE_HOLD_MS - 0.5, `held ${took} ms`);
  assert.deepEqual(written(), [
    [60, 60, 1],
    [61, 60, 0],
    [61, 61, 0],
  ]);
  dial.res.destroy();
});

test("a commit notice still waiting when its peer is removed is written before the stream ends", async () => {
  // the removed member learns the commit of its own removal this way, applies it and answers its client
  const a = await lonelyA();
  const dial = await rawDial(a, "msgapp", B, A);
  a.transport.send([
    msg({ type: MessageType.MsgApp, to: B, from: A, term: 4, logTerm: 4, index: 40, commit: 40 }),
  ]);
  a.transport.removePeer(B);
  // link heartbeats (one 0x00 byte each) may come first
  const frame = () => {
    const bytes = dial.bytes();
    let at = 0;
    while (bytes[at] === 0) at++;
    return decodeMsgAppV2(INITIAL_MSGAPPV2_STATE, bytes.subarray(at), A, B);
  };
  await waitFor("the notice at the dialer", () => frame().done);
  const r = frame();
  assert.ok(r.done);
  assert.deepEqual([r.value.message.index, r.value.message.commit], [40, 40]);
  dial.res.destroy();
});

test("full queues drop messages and tell raft the peer is unreachable, without growing", async () => {
  // a peer that accepts connections and never answers: pipeline workers hang
  const sockets = new Set<Socket>();
  const hang: Server = createServer(() => {});
  hang.on("connection", (s) => sockets.add(s));
  await new Promise<void>((r) => hang.listen(0, "127.0.0.1", r));
  const port = (hang.address() as { port: number }).port;
  try {
    const a = await startNode(A, CLUSTER, { timings: { dialTimeoutMs: 60_000, redialMs: 60_000 } });
    a.transport.addPeer(C, [`http://127.0.0.1:${port}`]);
    const n = 100;
    a.transport.send(
      Array.from({ length: n }, (_, i) =>
        msg({ type: MessageType.MsgHeartbeat, to: C, from: A, term: 1, commit: i }),
      ),
    );
    const accepted = PIPELINE_WORKERS + PIPELINE_QUEUE_LIMIT;
    assert.equal(a.raft.unreachable.length, n - accepted);
    assert.equal(a.raft.unreachable.filter((id) => id !== C).length, 0);
    // a remote (pipeline only) is bounded the same way
    const D = 0xd0n;
    a.transport.addRemote(D, [`http://127.0.0.1:${port}`]);
    a.transport.send(
      Array.from({ length: n }, (_, i) =>
        msg({ type: MessageType.MsgHeartbeat, to: D, from: A, term: 1, commit: i }),
      ),
    );
    assert.equal(a.raft.unreachable.filter((id) => id === D).length, n - accepted);
    await a.close();
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => hang.close(() => r()));
  }
});

test("stream dials are rate-limited to one per 100 ms per reader", async () => {
  const a = await startNode(A, CLUSTER, { timings: { redialMs: 100 } });
  const b = await startNode(B, CLUSTER); // does not know a: every dial gets 404 at once
  a.transport.addPeer(B, [b.url]);
  const dials = () => b.requests.filter((r) => r.path.startsWith("/raft/stream/")).length;
  await waitFor("the first dials", () => dials() >= 2);
  const start = dials();
  const t0 = Date.now();
  await sleep(1000);
  const elapsed = Date.now() - t0;
  const made = dials() - start;
  // two readers, each at most one dial per 100 ms (plus the one in flight at each end)
  assert.ok(made <= 2 * (Math.ceil(elapsed / 100) + 1), `${made} dials in ${elapsed} ms`);
  assert.ok(made >= 2, "the readers keep dialing");
});

test("a stream writer holds at most its queue limit and reports the rest unreachable", async () => {
  const { a } = await connectedPair();
  const before = a.raft.unreachable.length;
  const n = STREAM_QUEUE_LIMIT + 10;
  a.transport.send(
    Array.from({ length: n }, (_, i) =>
      msg({ type: MessageType.MsgHeartbeat, to: B, from: A, term: 1, commit: i }),
    ),
  );
  assert.equal(a.raft.unreachable.length - before, 10);
});

test("a removed member's stream dials get 410 and its transport reports the removal", async () => {
  const a = await startNode(A, CLUSTER);
  const b = await startNode(B, CLUSTER);
  a.services.removed.add(B);
  a.transport.addPeer(B, [b.url]);
  b.transport.addPeer(A, [a.url]);
  await waitFor("removed$ at B", () => b.removed.length === 1);
  assert.match(b.removed[0], /permanently removed/);
  const gone = a.requests.find((r) => r.path.startsWith("/raft/stream/") && r.res.statusCode === 410);
  assert.ok(gone, "A answered 410 Gone");
});

test("a removed member's pipeline POST gets 403 and its transport reports the removal", async () => {
  const a = await startNode(A, CLUSTER);
  const b = await startNode(B, CLUSTER);
  a.services.removed.add(B);
  b.transport.addRemote(A, [a.url]);
  b.transport.send([msg({ type: MessageType.MsgHeartbeatResp, to: A, from: B, term: 1 })]);
  await waitFor("removed$ at B", () => b.removed.length === 1);
  assert.equal(a.received.length, 0, "the message was not delivered");
  assert.deepEqual(b.raft.unreachable, [A]);
});

test("a merged snapshot is saved as <index>.snap.db, handed over and acknowledged", async () => {
  const { a, b } = await connectedPair();
  const db = Buffer.alloc(200_000);
  for (let i = 0; i < db.length; i++) db[i] = i % 251;
  async function* chunks() {
    for (let i = 0; i < db.length; i += 16_384) yield db.subarray(i, i + 16_384);
  }
  const snap = msg({
    type: MessageType.MsgSnap,
    to: B,
    from: A,
    term: 2,
    snapshot: {
      data: Buffer.from('{"Root":{}}'),
      metadata: {
        index: 0x1e,
        term: 2,
        confState: { voters: [A, B], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
      },
    },
  });
  await a.transport.sendSnapshot(B, snap, chunks());
  assert.equal(b.services.snapshots.length, 1);
  const got = b.services.snapshots[0];
  assert.equal(basename(got.dbFile), "000000000000001e.snap.db");
  assert.deepEqual(readFileSync(got.dbFile), db);
  assert.equal(got.msg.snapshot?.metadata?.index, 0x1e);
  assert.deepEqual(got.msg.snapshot?.metadata?.confState?.voters, [A, B]);
  assert.deepEqual(a.raft.snapshots, [{ id: B, failed: false }]);
  const req = b.requests.find((r) => r.path === "/raft/snapshot");
  assert.equal(req?.req.headers["transfer-encoding"], "chunked");
  assert.equal(req?.req.headers["content-type"], "application/octet-stream");
});

test("a failed snapshot tells raft (failure and unreachable) and rejects", async () => {
  const a = await startNode(A, CLUSTER);
  const b = await startNode(B, CLUSTER);
  a.transport.addPeer(B, [b.url]);
  b.services.receiveSnapshot = async () => {
    throw new Error("raft refused");
  };
  async function* one() {
    yield Buffer.from("db");
  }
  const snap = msg({ type: MessageType.MsgSnap, to: B, from: A, term: 2 });
  await assert.rejects(
    a.transport.sendSnapshot(B, snap, one()),
    /failed to process raft message \(raft refused\)|500/,
  );
  assert.deepEqual(a.raft.snapshots, [{ id: B, failed: true }]);
  assert.ok(a.raft.unreachable.includes(B));
  assert.equal(a.transport.activeSince(B), undefined);
});

test("send() never sends a bare MsgSnap", async () => {
  const { a, b } = await connectedPair();
  a.transport.send([msg({ type: MessageType.MsgSnap, to: B, from: A, term: 1 })]);
  await sleep(200);
  assert.equal(b.received.length, 0);
  assert.deepEqual(a.raft.snapshots, [{ id: B, failed: true }]);
});

test("the round-trip metric is published after probes", async () => {
  const { a } = await connectedPair();
  await waitFor(
    "a round-trip sample",
    () => (a.registry.getSingleMetric("etcd_network_peer_round_trip_time_seconds") as unknown) !== undefined,
  );
  let text = "";
  await waitFor("a round-trip sample for B", () => {
    void a.registry.metrics().then((t) => (text = t));
    return text.includes(`etcd_network_peer_round_trip_time_seconds_count{To="${B.toString(16)}"}`);
  });
  assert.match(text, /etcd_network_active_peers\{Local="5a9ff2fd570cac50",Remote="9f4776933e3fb72a"\} 1/);
});

test("peers on https: streams and the pipeline over TLS with the peer CA", async () => {
  // a self-signed certificate for 127.0.0.1 that is its own CA (test fixture, valid for 100 years)
  const cert = readFileSync(new URL("./fixtures/peer-cert.pem", import.meta.url));
  const key = readFileSync(new URL("./fixtures/peer-key.pem", import.meta.url));
  const a = await startNode(A, CLUSTER, { tls: { ca: cert } }, { cert, key });
  const b = await startNode(B, CLUSTER, { tls: { ca: cert } }, { cert, key });
  assert.match(a.url, /^https:/);
  a.transport.addPeer(B, [b.url]);
  b.transport.addPeer(A, [a.url]);
  await waitFor("streams over TLS", () => streamsFrom(a, B) >= 2 && streamsFrom(b, A) >= 2);
  a.transport.send([msg({ type: MessageType.MsgHeartbeat, to: B, from: A, term: 11 })]);
  await waitFor("heartbeat at B", () => b.received.some((m) => m.term === 11));
  // without the CA the dial fails and nothing is delivered
  const c = await startNode(C, CLUSTER);
  c.transport.addRemote(B, [b.url]);
  c.transport.send([msg({ type: MessageType.MsgHeartbeat, to: B, from: C, term: 12 })]);
  await waitFor("C's POST failed", () => c.raft.unreachable.includes(B));
  assert.ok(!b.received.some((m) => m.term === 12));
});

test("removing a peer stops its streams; activeSince is gone", async () => {
  const { a, b } = await connectedPair();
  a.transport.removePeer(B);
  assert.equal(a.transport.activeSince(B), undefined);
  assert.equal(a.transport.peerUrls(B), undefined);
  // b keeps dialing a, which now answers 404 and learns b as a remote again
  await waitFor("a 404 to b's dial", () =>
    a.requests.some((r) => r.path.startsWith("/raft/stream/") && r.res.statusCode === 404),
  );
  void b;
});

test("roundTripMs is the prober's smoothed RTT: undefined before the first answer, then a positive figure", async () => {
  const a = await startNode(A, CLUSTER, { timings: { probeMs: 100 } });
  const b = await startNode(B, CLUSTER);
  assert.equal(a.transport.roundTripMs(B), undefined, "no peer yet");
  a.transport.addPeer(B, [b.url]);
  assert.equal(a.transport.roundTripMs(B), undefined, "no probe answered yet");
  await waitFor("a probe answer", () => a.transport.roundTripMs(B) !== undefined);
  const rtt = a.transport.roundTripMs(B) ?? 0;
  assert.ok(rtt > 0 && rtt < 5000, `rtt ${rtt} ms`);
  a.transport.removePeer(B);
  assert.equal(a.transport.roundTripMs(B), undefined, "gone with the peer");
});

test("a reader redialling an unreachable peer, and requests that were answered, leave no listeners on long-lived abort signals", async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => {
    if (w.name === "MaxListenersExceededWarning") warnings.push(w.message);
  };
  process.on("warning", onWarning);
  try {
    // nothing listens on the peer's port: both stream readers redial every 20 ms, sleeping between dials
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, "127.0.0.1", r));
    const port = (dead.address() as { port: number }).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const a = await startNode(A, CLUSTER, { timings: { redialMs: 20 } });
    a.transport.addPeer(B, [`http://127.0.0.1:${port}`]);
    await sleep(1500);

    // requests answered in full under one signal that outlives them
    const server = createServer((_req, res) => res.end("ok"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
    const outer = new AbortController();
    const agents = new Agents(undefined, true);
    try {
      for (let i = 0; i < 30; i++) {
        const res = await startRequest({ method: "GET", url, agent: agents.for(url), signal: outer.signal });
        assert.equal((await readBody(res)).toString(), "ok");
      }
      await sleep(50);
      assert.equal(getEventListeners(outer.signal, "abort").length, 0, "listeners left on the signal");
    } finally {
      agents.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
    assert.deepEqual(warnings, []);
  } finally {
    process.off("warning", onWarning);
  }
});
