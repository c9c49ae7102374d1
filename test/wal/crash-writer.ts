/**
 * Child process of the crash test: appends to a WAL until it is killed.
 *   node --import tsx test/wal/crash-writer.ts <wal-dir> <seed>
 * Prints "I <seq> <op>" before issuing an operation and "A <seq> <lastIndex>" once it resolved
 * (durable). Up to four operations are in flight, so kills also land inside group commits.
 */
import { Entry, EntryType, HardState, Snapshot } from "../../src/gen/raftpb/raft.js";
import { WAL } from "../../src/wal/index.js";
import { type CrashOp, crashPayload, formatOp, prng, snapshotData } from "./crash-model.js";

const [dir, seedText] = process.argv.slice(2);
const random = prng(Number(seedText));
const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

const opened = WAL.exists(dir) ? await WAL.open(dir) : { ...(await emptyWal()) };
async function emptyWal() {
  const wal = await WAL.create(dir, Buffer.from("crash-test"));
  return { wal, snapshot: undefined, hardState: HardState.create(), entries: [] as Entry[] };
}
const wal = opened.wal;

// The writer's plan of the log after every issued operation.
const terms = new Map<number, number>(opened.entries.map((e) => [e.index, e.term]));
let snapIndex = opened.snapshot?.metadata?.index ?? 0;
const snapTerm = opened.snapshot?.metadata?.term ?? 0;
let lastIndex = wal.lastIndex();
const lastTerm = opened.entries.at(-1)?.term ?? snapTerm;
let term = Math.max(opened.hardState.term, lastTerm, 1);
let commit = opened.hardState.commit;

function nextOp(): CrashOp {
  const roll = random();
  if (roll < 0.05 && commit > snapIndex) {
    return { kind: "snap", index: commit, term: terms.get(commit)! };
  }
  if (roll < 0.08) return { kind: "purge", catchUpEntries: int(0, 40), maxSnapshots: int(1, 3) };
  let first = lastIndex + 1;
  let entryTerm = term;
  if (roll < 0.16 && lastIndex > Math.max(commit, snapIndex)) {
    // A new leader overwrites an uncommitted suffix.
    entryTerm = term + 1;
    first = int(Math.max(commit, snapIndex) + 1, lastIndex);
  }
  const last = first + int(0, 31);
  const newCommit = int(commit, Math.max(commit, first - 1));
  return { kind: "save", first, last, term: entryTerm, hsTerm: entryTerm, commit: newCommit };
}

function plan(op: CrashOp): void {
  if (op.kind === "save") {
    for (let i = op.first; i <= lastIndex; i++) terms.delete(i);
    for (let i = op.first; i <= op.last; i++) terms.set(i, op.term);
    lastIndex = op.last;
    term = op.hsTerm;
    commit = op.commit;
  } else if (op.kind === "snap") {
    snapIndex = op.index;
  }
}

function issue(op: CrashOp): Promise<void> {
  if (op.kind === "save") {
    const entries: Entry[] = [];
    for (let i = op.first; i <= op.last; i++) {
      entries.push(
        Entry.fromPartial({
          type: EntryType.EntryNormal,
          index: i,
          term: op.term,
          data: crashPayload(i, op.term),
        }),
      );
    }
    return wal.save(HardState.fromPartial({ term: op.hsTerm, vote: 1n, commit: op.commit }), entries);
  }
  if (op.kind === "snap") {
    const snap = Snapshot.fromPartial({
      data: snapshotData(op.index),
      metadata: { index: op.index, term: op.term, confState: { voters: [1n] } },
    });
    return wal.saveSnapshot(snap);
  }
  return wal
    .purge({ catchUpEntries: op.catchUpEntries, maxSnapshots: op.maxSnapshots })
    .then(() => undefined);
}

let seq = 0;
const inFlight = new Set<Promise<void>>();
for (;;) {
  while (inFlight.size < int(1, 4)) {
    const op = nextOp();
    const mySeq = ++seq;
    process.stdout.write(`${formatOp(mySeq, op)}\n`); // pipes are written synchronously on Linux
    plan(op);
    const done: Promise<void> = issue(op).then(
      () => {
        process.stdout.write(`A ${mySeq} ${wal.lastIndex()}\n`);
        inFlight.delete(done);
      },
      (error: Error) => {
        process.stderr.write(`crash writer: operation ${mySeq} failed: ${error.message}\n`);
        process.exit(2);
      },
    );
    inFlight.add(done);
  }
  await Promise.race(inFlight);
}
