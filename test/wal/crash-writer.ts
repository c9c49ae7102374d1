/**
 * Child process of the crash test: appends to a WAL until it is killed.
 *   node --import tsx test/wal/crash-writer.ts <wal-dir> <seed>
 *   node --import tsx test/wal/crash-writer.ts <wal-dir> read     (prints what it reads back)
 * Prints "I <seq> <op>" before issuing an operation and "A <seq> <lastIndex>" once it resolved
 * (durable). Up to four operations are in flight, so kills also land inside group commits.
 */
import { WAL } from "../../src/wal/index.js";
import { formatOp, issueOp, OpPlanner, planStartOf, prng } from "./crash-model.js";

const [dir, seedText] = process.argv.slice(2);
if (seedText === "read") {
  // Diagnostic mode: print what a fresh process reads from the WAL, then exit.
  const read = await WAL.open(dir);
  const last = read.entries.at(-1);
  process.stdout.write(
    `snapshot ${read.snapshot?.metadata?.index ?? 0}, hard state ${read.hardState.term}/${read.hardState.commit}, ` +
      `entries ${read.entries[0]?.index ?? "-"}..${last?.index ?? "-"} (last term ${last?.term ?? "-"}), first stored ${read.wal.firstIndex()}\n`,
  );
  await read.wal.close();
  process.exit(0);
}
const random = prng(Number(seedText));

const opened = WAL.exists(dir) ? await WAL.open(dir) : undefined;
const wal = opened?.wal ?? (await WAL.create(dir, Buffer.from("crash-test")));
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
    process.stdout.write(`${formatOp(mySeq, op)}\n`); // pipes are written synchronously on Linux
    const done: Promise<void> = issueOp(wal, op).then(
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
