import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { tempDir } from "./helpers.js";

/**
 * Checks at the system-call level that a save resolves only after its records reached the disk:
 * between two acknowledgements the segment must be written and then fdatasync'ed (the same file
 * descriptor), and a segment renamed into place must have its directory synced. Needs strace
 * (the test fails, saying so, where it is missing).
 */
/**
 * With -f, strace splits a call that another thread interrupts into "NAME(args <unfinished ...>" and, later,
 * "<... NAME resumed>rest) = R" (a big batch's fdatasync runs on a thread-pool thread, beside the others): the
 * two halves are joined back into one line per call, in the order the calls finished.
 */
function joinInterrupted(lines: string[]): string[] {
  const started = new Map<string, string>();
  const out: string[] = [];
  for (const line of lines) {
    const m = line.match(/^(\d+)\s+(.*)$/);
    if (!m) continue;
    const [, pid, body] = m;
    const cut = body.match(/^(.*) <unfinished \.\.\.>$/);
    if (cut) {
      // An acknowledgement counts from the moment it is written: kept where it started.
      if (cut[1].startsWith("write(2, ")) out.push(`${pid} ${cut[1]}`);
      else started.set(pid, cut[1]);
      continue;
    }
    const resumed = body.match(/^<\.\.\. \w+ resumed>(.*)$/);
    if (resumed) {
      const head = started.get(pid);
      started.delete(pid);
      if (head !== undefined) out.push(`${pid} ${head}${resumed[1]}`);
      continue;
    }
    out.push(line);
  }
  return out;
}

// strace must exist and be allowed to trace (containers may forbid ptrace).
const hasStrace = spawnSync("strace", ["-f", "-o", "/dev/null", "true"]).status === 0;
const PROBE = fileURLToPath(new URL("./sync-probe.ts", import.meta.url));

interface Ack {
  n: number;
  written: boolean;
  synced: boolean;
  dirSynced: boolean;
}

/** Runs the probe under strace (extra arguments passed on) and reads, for each acknowledgement, what preceded it. */
function traceAcks(probeArgs: string[]): { acks: Ack[]; renames: number; segments: number } {
  assert.ok(hasStrace, "strace is not installed or may not trace here (this test needs it)");
  const base = tempDir();
  const dir = join(base, "wal");
  const trace = join(base, "trace.txt");
  execFileSync(
    "strace",
    [
      "-f",
      "-o",
      trace,
      "-e",
      "trace=openat,rename,renameat,renameat2,write,pwrite64,writev,pwritev,fdatasync,fsync",
      process.execPath,
      "--import",
      "tsx",
      PROBE,
      dir,
      ...probeArgs,
    ],
    { stdio: "ignore" },
  );
  const lines = joinInterrupted(readFileSync(trace, "utf8").split("\n"));
  // strace prints the calls of different threads in the order it handles them, not always the order
  // they ran in: descriptors are classified over the whole trace first (a segment is written with
  // pwritev, its directory synced with fsync, the segment itself with fdatasync; nothing else here
  // uses those calls on those descriptors).
  const segmentFds = new Set<string>();
  const directoryFds = new Set<string>();
  for (const line of lines) {
    const open = line.match(/openat\(AT_FDCWD, "([^"]+)", .*\)\s+= (\d+)$/);
    if (open?.[1] === dir) directoryFds.add(open[2]);
    else if (open?.[1].startsWith(`${dir}/`) && /\.seg(\.tmp)?$/.test(open[1])) segmentFds.add(open[2]);
  }
  let written: string | undefined;
  let synced = false;
  let renamedWithoutDirSync = false;
  let renames = 0;
  const acks: Ack[] = [];
  for (const line of lines) {
    const rename = line.match(/rename(?:at2?)?\((?:AT_FDCWD, )?"([^"]+)", (?:AT_FDCWD, )?"([^"]+)".*\) = 0/);
    if (rename?.[1].endsWith(".seg.tmp")) {
      renamedWithoutDirSync = true;
      renames++;
      continue;
    }
    const sync = line.match(/(fdatasync|fsync)\((\d+)\)\s+= 0/);
    if (sync) {
      if (sync[1] === "fdatasync" && sync[2] === written) synced = true;
      if (sync[1] === "fsync" && directoryFds.has(sync[2])) renamedWithoutDirSync = false;
      continue;
    }
    const write = line.match(/^\d+\s+(?:writev|pwritev)\((\d+),/);
    if (write && segmentFds.has(write[1])) {
      written = write[1];
      synced = false;
      continue;
    }
    const ack = line.match(/write\(2, "ACK (\d+)\\n"/);
    if (ack) {
      acks.push({
        n: Number(ack[1]),
        written: written !== undefined,
        synced,
        dirSynced: !renamedWithoutDirSync,
      });
      written = undefined;
      synced = false;
    }
  }
  // the segments the run left: the cuts happened whatever strace managed to print of them
  const segments = readdirSync(dir).filter((f) => f.endsWith(".seg")).length;
  return { acks, renames, segments };
}

test("save resolves only after the segment it wrote was fdatasync'ed", () => {
  const { acks, renames, segments } = traceAcks([]);
  const saves = acks.filter((a) => a.n > 0);
  assert.equal(saves.length, 20, `saw ${acks.length} acknowledgements in the trace`);
  assert.ok(segments >= 3, `the saves cut to new segments (${segments} segments, ${renames} renames traced)`);
  for (const a of saves) {
    assert.ok(a.written, `save ${a.n} resolved without a write to a segment before it`);
    assert.ok(a.synced, `save ${a.n} resolved before the segment it wrote was fdatasync'ed`);
    assert.ok(a.dirSynced, `save ${a.n} resolved before the directory of a renamed segment was synced`);
  }
});

test("with --unsafe-no-fsync a save resolves once written, without an fdatasync of its segment", () => {
  const { acks } = traceAcks(["unsafe-no-fsync"]);
  const saves = acks.filter((a) => a.n > 0);
  assert.equal(saves.length, 20, `saw ${acks.length} acknowledgements in the trace`);
  for (const a of saves) {
    assert.ok(a.written, `save ${a.n} resolved without a write to a segment before it`);
    assert.equal(a.synced, false, `save ${a.n} synced its segment although fsync is off`);
  }
});
