// The stream writer against a real HTTP/1.1 answer: what reaches the socket (one chunk per flush, in
// chunked transfer coding Node's client reads back) and when (a commit notice waits out its hold).
import assert from "node:assert/strict";
import { createServer, get, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import pino from "pino";
import { EntryType, MessageType } from "../../src/gen/raftpb/raft.js";
import { ETCD_TIMINGS, type TransportContext } from "../../src/transport/context.js";
import type { Agents } from "../../src/transport/http-util.js";
import { encodeMessageFrame, LINK_HEARTBEAT } from "../../src/transport/message-codec.js";
import { TransportMetrics } from "../../src/transport/metrics.js";
import {
  encodeMsgAppV2,
  INITIAL_MSGAPPV2_STATE,
  type MsgAppV2State,
} from "../../src/transport/msgappv2-codec.js";
import { PeerStatus } from "../../src/transport/peer-status.js";
import {
  COMMIT_NOTICE_HOLD_MS,
  chunkOf,
  MESSAGE_FRAMES,
  msgAppV2Frames,
  StreamWriter,
} from "../../src/transport/stream-writer.js";
import { msg, RecordingRaft, readMsgAppV2, sleep, waitFor } from "./helpers.js";

const A = 0xaan;
const B = 0xbbn;

/** The bytes of one chunk of chunked transfer coding, checked and unwrapped. */
function unchunk(framed: ReturnType<typeof chunkOf>): Buffer {
  const { chunk, start, size } = framed;
  const head = `${size.toString(16)}\r\n`;
  assert.equal(chunk.subarray(0, start).toString("latin1"), head);
  assert.equal(chunk.subarray(start + size).toString("latin1"), "\r\n");
  return chunk.subarray(start, start + size);
}

const entry = (index: number, bytes: number) => ({
  type: EntryType.EntryNormal,
  term: 4,
  index,
  data: Buffer.alloc(bytes, index),
});

test("a batch's chunk holds exactly the frames of the per-message encoders, in order", () => {
  const batches = [
    [LINK_HEARTBEAT],
    [
      msg({
        type: MessageType.MsgApp,
        to: B,
        from: A,
        term: 4,
        logTerm: 3,
        index: 7,
        commit: 5,
        entries: [entry(8, 3)],
      }),
    ],
    [
      msg({
        type: MessageType.MsgApp,
        to: B,
        from: A,
        term: 4,
        logTerm: 4,
        index: 8,
        commit: 8,
        entries: [entry(9, 200), entry(10, 0)],
      }),
      msg({ type: MessageType.MsgApp, to: B, from: A, term: 4, logTerm: 4, index: 10, commit: 10 }),
      LINK_HEARTBEAT,
      msg({
        type: MessageType.MsgApp,
        to: B,
        from: A,
        term: 5,
        logTerm: 4,
        index: 10,
        commit: 10,
        entries: [entry(11, 70_000)],
      }),
    ],
    [msg({ type: MessageType.MsgApp, to: B, from: A, term: 5, logTerm: 5, index: 11, commit: 11 })],
  ];
  const frames = msgAppV2Frames();
  let state: MsgAppV2State = INITIAL_MSGAPPV2_STATE;
  for (const batch of batches) {
    const expected: Buffer[] = [];
    for (const m of batch) {
      const r = encodeMsgAppV2(state, m);
      expected.push(r.bytes);
      state = r.state;
    }
    assert.deepEqual(unchunk(chunkOf(frames, batch)), Buffer.concat(expected));
  }
  const messages = [
    LINK_HEARTBEAT,
    msg({ type: MessageType.MsgAppResp, to: A, from: B, term: 4, index: 11 }),
    msg({ type: MessageType.MsgHeartbeat, to: B, from: A, term: 2 ** 40, commit: 2 ** 33 }),
  ];
  assert.deepEqual(
    unchunk(chunkOf(MESSAGE_FRAMES, messages)),
    Buffer.concat(messages.map(encodeMessageFrame)),
  );
});

/** A msgapp stream writer from A to B attached to a live answer; every socket write is recorded. */
async function attachedWriter() {
  let answer!: ServerResponse;
  const server = createServer((_req, res) => {
    res.writeHead(200);
    res.flushHeaders();
    answer = res;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const chunks: Buffer[] = [];
  const reply = await new Promise<IncomingMessage>((resolve, reject) => {
    get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, resolve).on("error", reject);
  });
  reply.on("data", (c: Buffer) => chunks.push(c));
  const socket = answer.socket;
  assert.ok(socket);
  const writes: Array<{ at: number; bytes: Buffer }> = [];
  const write = socket.write.bind(socket) as (b: Buffer) => boolean;
  socket.write = ((b: Buffer) => {
    writes.push({ at: performance.now(), bytes: Buffer.from(b) });
    return write(b);
  }) as typeof socket.write;
  const logger = pino({ level: "silent" });
  const metrics = new TransportMetrics();
  const ctx: TransportContext = {
    localId: A,
    clusterId: 1n,
    localPeerUrls: [],
    timings: ETCD_TIMINGS(1000),
    raft: new RecordingRaft(),
    logger,
    metrics,
    now: Date.now,
    pipelineAgents: undefined as unknown as Agents,
    streamAgents: undefined as unknown as Agents,
    deliver: () => {},
    reportRemoved: () => {},
  };
  const writer = new StreamWriter(ctx, B, "msgapp", new PeerStatus(A, B, metrics, logger, Date.now));
  writer.attach(answer);
  after(() => {
    writer.stop();
    reply.destroy();
    server.close();
  });
  /** The MsgApps Node's client read back: [index, commit, entries]. */
  const received = () =>
    readMsgAppV2(Buffer.concat(chunks), B, A)
      .filter((f) => f.type !== 0)
      .map(({ message: m }) => [m.index, m.commit, m.entries.length]);
  return { writer, writes, received };
}

const notice = (index: number) =>
  msg({ type: MessageType.MsgApp, to: B, from: A, term: 4, logTerm: 4, index, commit: index });
const append = (index: number, commit: number) =>
  msg({
    type: MessageType.MsgApp,
    to: B,
    from: A,
    term: 4,
    logTerm: 4,
    index,
    commit,
    entries: [{ type: EntryType.EntryNormal, term: 4, index: index + 1, data: Buffer.from("v") }],
  });

test("the messages of one turn go to the socket as one chunk, and the client reads them back", async () => {
  const { writer, writes, received } = await attachedWriter();
  await sleep(5);
  const before = writes.length;
  writer.enqueue(append(10, 10));
  writer.enqueue(append(11, 10));
  writer.enqueue(notice(12));
  writer.enqueue(append(20, 12)); // not where the previous append ended: a frame of its own
  await waitFor("the frames at the client", () => received().length >= 2);
  assert.equal(writes.length - before, 1, "one write");
  assert.deepEqual(received(), [
    [10, 12, 2],
    [20, 12, 1],
  ]);
});

test("a commit notice waits out its whole hold, wherever in the turn it was queued", async () => {
  // Node cuts a timer's delay to whole milliseconds: a 2 ms timer set at 1.9 ms past a
  // millisecond of the loop's clock fires 0.1 ms later
  const { writer, writes } = await attachedWriter();
  const held: number[] = [];
  for (let round = 0; round < 8; round++) {
    await sleep(1);
    const turnStarted = performance.now();
    while (performance.now() - turnStarted < round * 0.23) {
      // a long turn (a synced write, an apply) before the notice is queued
    }
    const before = writes.length;
    const queued = performance.now();
    writer.enqueue(notice(20 + round));
    await waitFor("the notice on the socket", () => writes.length > before);
    held.push(writes[before].at - queued);
  }
  assert.ok(
    held.every((ms) => ms >= COMMIT_NOTICE_HOLD_MS - 0.1),
    `held ${held.map((ms) => ms.toFixed(2)).join(", ")} ms`,
  );
});
