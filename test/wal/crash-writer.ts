/**
 * Child process of the crash test: appends to a WAL until it is killed.
 *   node --import tsx test/wal/crash-writer.ts <wal-dir> <seed>
 *   node --import tsx test/wal/crash-writer.ts <wal-dir> read     (prints what it reads back)
 * Prints "I <seq> <op>" before issuing an operation and "A <seq> <lastIndex>" once it resolved
 * (durable). Up to four operations are in flight, so kills also land inside group commits.
 * Segments of 256 KiB: kills also land in cuts to new segments and in their preparation.
 */
import { writeSync } from "node:fs";
import { WAL } from "../../src/wal/index.js";
import { formatOp, issueOp, OpPlanner, planStartOf, prng } from "./crash-model.js";

const [dir, seedText] = process.argv.slice(2);
const OPTIONS = { segmentBytes: 256 * 1024 };
if (seedText === "read") {
  // Diagnostic mode: print what a fresh process reads from the WAL, then exit.
  const read = await WAL.open(dir, OPTIONS);
  const last = read.entries.at(-1);
  process.stdout.write(
    `snapshot ${read.snapshot?.metadata?.index ?? 0}, hard state ${read.hardState.term}/${read.hardState.commit}, ` +
      `entries ${read.entries[0]?.index ?? "-"}..${last?.index ?? "-"} (last term ${last?.term ?? "-"}), first stored ${read.wal.firstIndex()}\n`,
  );
  await read.wal.close();
  process.exit(0);
}
const random = prng(Number(seedText));

/**
 * Writes one line to fd 1 before returning. process.stdout queues writes in memory when the pipe
 * is full (the parent reads slowly under load), and a SIGKILL would lose what is queued: the test
 * would then not know about operations that were issued and may be durable.
 */
const pause = new Int32Array(new SharedArrayBuffer(4));
function emit(line: string): void {
  const bytes = Buffer.from(`${line}\n`);
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(1, bytes, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

const opened = WAL.exists(dir) ? await WAL.open(dir, OPTIONS) : undefined;
const wal = opened?.wal ?? (await WAL.create(dir, Buffer.from("crash-test"), OPTIONS));
const planner = new OpPlanner(
  random,
  opened === undefined
    ? { entries: [], snapshotIndex: 0, snapshotTerm: 0, lastIndex: 0, hsTerm: 0, commit: 0 }
    : planStartOf(opened, wal.lastIndex()),
);

let seq = 0;
const inFlight = new Set<Promise<void>>();
for (;;) {
  while (inFlight.size < 1 + Math.floor(random() * 4)) {
    const op = planner.next();
    const mySeq = ++seq;
    emit(formatOp(mySeq, op)); // on the pipe before the operation starts
    const done: Promise<void> = issueOp(wal, op).then(
      () => {
        emit(`A ${mySeq} ${wal.lastIndex()}`);
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
