/**
 * Raft core throughput: an in-memory 3-node cluster (RawNode + MemoryStorage, no I/O), messages handed from node
 * to node in process, 256-byte proposals submitted in batches the way a server accumulates client requests
 * between two Readys. Prints proposals committed per second and the commit latency in loop iterations.
 *
 *   npm run bench:raft [-- --seconds 15 --batch 256 --max-pending 4096 --nodes 3 --serialize]
 *
 * One iteration = propose a batch at the leader, handle every node's Ready in etcd's order (persist to
 * MemoryStorage, send, apply, advance), deliver every message; a tick every TICK_EVERY iterations.
 */
import { parseArgs } from "node:util";
import { type Entry, EntryType, Message } from "../src/gen/raftpb/raft.js";
import { discardLogger, MemoryStorage, RawNode, SeededRand, StateType } from "../src/raft/index.js";

const ENTRY_BYTES = 256;
/** One tick per this many iterations (heartbeats; elections never fire once a leader exists). */
const TICK_EVERY = 50;
/** Entries kept behind the applied index when the in-memory log is compacted. */
const KEEP_ENTRIES = 5000;
const COMPACT_EVERY = 200;

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "15" },
    batch: { type: "string", default: "256" },
    "max-pending": { type: "string", default: "4096" },
    nodes: { type: "string", default: "3" },
    serialize: { type: "boolean", default: false },
  },
});
const seconds = Number(values.seconds);
const batch = Number(values.batch);
const maxPending = Number(values["max-pending"]);
const nodeCount = Number(values.nodes);

interface BenchNode {
  id: bigint;
  storage: MemoryStorage;
  rn: RawNode;
  applied: number;
}

const ids = Array.from({ length: nodeCount }, (_, i) => BigInt(i + 1));
const nodes = new Map<bigint, BenchNode>();
for (const id of ids) {
  const storage = new MemoryStorage();
  const rn = new RawNode({
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    maxSizePerMsg: 1024 * 1024,
    maxInflightMsgs: 512,
    checkQuorum: true,
    preVote: true,
    logger: discardLogger,
    rand: new SeededRand(Number(id)),
  });
  rn.bootstrap(ids.map((p) => ({ id: p })));
  nodes.set(id, { id, storage, rn, applied: 0 });
}

let inbox: Message[] = [];
let iteration = 0;
/** Proposal sequence number -> the iteration it was proposed at. */
const proposedAt = new Map<number, number>();
const latencies: number[] = [];
let nextSeq = 1;
let committedProposals = 0;
let measuring = false;

function payload(seq: number): Buffer {
  const b = Buffer.alloc(ENTRY_BYTES, 0x61);
  b.writeUInt32BE(seq, 0);
  b.writeUInt32BE(0x70726f70, 4); // marks a benchmark proposal ("prop")
  return b;
}

function isProposal(e: Entry): boolean {
  return (
    e.type === EntryType.EntryNormal && e.data.length === ENTRY_BYTES && e.data.readUInt32BE(4) === 0x70726f70
  );
}

function handleReady(n: BenchNode, leaderId: bigint): void {
  if (!n.rn.hasReady()) return;
  const rd = n.rn.ready();
  // Persist: snapshot, entries, hard state (all in memory).
  if (rd.snapshot !== undefined && (rd.snapshot.metadata?.index ?? 0) > 0)
    n.storage.applySnapshot(rd.snapshot);
  if (rd.entries.length > 0) n.storage.append(rd.entries);
  if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
  for (const m of rd.messages) inbox.push(values.serialize ? Message.decode(Message.encode(m).finish()) : m);
  for (const e of rd.committedEntries) {
    n.applied = e.index;
    if (e.type === EntryType.EntryConfChange) continue; // the bootstrap configuration, applied by bootstrap()
    if (n.id === leaderId && isProposal(e)) {
      const seq = e.data.readUInt32BE(0);
      const at = proposedAt.get(seq);
      if (at !== undefined) {
        proposedAt.delete(seq);
        if (measuring) {
          committedProposals++;
          latencies.push(iteration - at);
        }
      }
    }
  }
  if (rd.snapshot !== undefined && (rd.snapshot.metadata?.index ?? 0) > 0)
    n.applied = rd.snapshot.metadata!.index;
  n.rn.advance(rd);
}

function leader(): BenchNode | undefined {
  for (const n of nodes.values())
    if (n.rn.basicStatus().softState.raftState === StateType.StateLeader) return n;
  return undefined;
}

function iterate(lead: BenchNode | undefined): void {
  iteration++;
  if (lead !== undefined) {
    for (let i = 0; i < batch && proposedAt.size < maxPending; i++) {
      const seq = nextSeq++;
      proposedAt.set(seq, iteration);
      lead.rn.propose(payload(seq));
    }
  }
  const leaderId = lead?.id ?? 0n;
  for (const n of nodes.values()) handleReady(n, leaderId);
  while (inbox.length > 0) {
    const batchOfMessages = inbox;
    inbox = [];
    for (const m of batchOfMessages) nodes.get(m.to)?.rn.step(m);
  }
  if (iteration % TICK_EVERY === 0) for (const n of nodes.values()) n.rn.tick();
  if (iteration % COMPACT_EVERY === 0) {
    for (const n of nodes.values()) {
      const upTo = n.applied - KEEP_ENTRIES;
      if (upTo > n.storage.firstIndex()) n.storage.compact(upTo);
    }
  }
}

// Elect a leader first.
nodes.get(1n)!.rn.campaign();
let lead: BenchNode | undefined;
for (let i = 0; i < 1000 && lead === undefined; i++) {
  iterate(undefined);
  lead = leader();
}
if (lead === undefined) throw new Error("no leader elected");

// Warm up (JIT), then measure.
const warmupEnd = Date.now() + Math.min(2000, seconds * 100);
while (Date.now() < warmupEnd) iterate(lead);
measuring = true;
const startIteration = iteration;
const started = process.hrtime.bigint();
const deadline = Date.now() + seconds * 1000;
while (Date.now() < deadline) {
  for (let k = 0; k < 20; k++) iterate(lead);
}
const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
if (leader()?.id !== lead.id) throw new Error("leadership changed during the run");

latencies.sort((a, b) => a - b);
const pct = (p: number): number =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
const iterations = iteration - startIteration;
console.log(
  `raft core, ${nodeCount} nodes in memory, ${ENTRY_BYTES}-byte entries, batches of up to ${batch}, at most ${maxPending} pending` +
    (values.serialize ? ", messages protobuf-encoded" : ", messages passed as objects"),
);
console.log(
  `${committedProposals} proposals committed in ${elapsed.toFixed(1)}s: ${Math.round(committedProposals / elapsed)} proposals/s ` +
    `(${(((committedProposals / elapsed) * ENTRY_BYTES) / 1e6).toFixed(1)} MB/s of payload)`,
);
console.log(
  `commit latency (propose -> applied on the leader), in loop iterations: p50 ${pct(50)}, p99 ${pct(99)}, max ${latencies[latencies.length - 1]} ` +
    `(${iterations} iterations, ${Math.round(iterations / elapsed)} iterations/s, one tick per ${TICK_EVERY}: ` +
    `p50 ${(pct(50) / TICK_EVERY).toFixed(2)} ticks, p99 ${(pct(99) / TICK_EVERY).toFixed(2)} ticks)`,
);
