import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { tempDir } from "./helpers.js";

/**
 * Checks at the system-call level that a save resolves only after its data reached the disk:
 * between two acknowledgements LMDB must fdatasync the data file and then write the meta page
 * through its O_DSYNC descriptor. Needs strace (skipped, visibly, where it is missing).
 */
/**
 * With -f, strace splits a call that another thread interrupts into "NAME(args <unfinished ...>" and, later,
 * "<... NAME resumed>rest) = R" (the commit's fdatasync runs on LMDB's write thread, beside the others): the
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
      started.set(pid, cut[1]);
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

test("save resolves only after fdatasync and the synchronous meta page write", {
  skip: hasStrace ? false : "strace is not installed or may not trace here",
}, () => {
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
      "trace=openat,write,pwrite64,writev,pwritev,fdatasync,fsync",
      process.execPath,
      "--import",
      "tsx",
      PROBE,
      dir,
    ],
    { stdio: "ignore" },
  );
  const lines = readFileSync(trace, "utf8").split("\n");
  const dataFile = join(dir, "data.mdb");
  const dsyncFds = new Set<string>();
  const dataFds = new Set<string>();
  // Per acknowledgement: did we see a data sync, then a synchronous meta write after it?
  let synced = false;
  let metaAfterSync = false;
  const acks: { n: number; synced: boolean; metaAfterSync: boolean }[] = [];
  for (const line of joinInterrupted(lines)) {
    const open = line.match(/openat\(AT_FDCWD, "([^"]+)", ([A-Z_|]+).*\) = (\d+)$/);
    if (open && open[1] === dataFile) {
      (open[2].includes("O_DSYNC") ? dsyncFds : dataFds).add(open[3]);
      continue;
    }
    const sync = line.match(/(?:fdatasync|fsync)\((\d+)\)\s+= 0/);
    if (sync && dataFds.has(sync[1])) {
      synced = true;
      continue;
    }
    const write = line.match(/(?:pwrite64|write|writev|pwritev)\((\d+),/);
    if (write && dsyncFds.has(write[1]) && synced) metaAfterSync = true;
    const ack = line.match(/write\(2, "ACK (\d+)\\n"/);
    if (ack) {
      acks.push({ n: Number(ack[1]), synced, metaAfterSync });
      synced = metaAfterSync = false;
    }
  }
  assert.ok(dsyncFds.size > 0, "LMDB opened its data file with O_DSYNC for meta pages");
  const saves = acks.filter((a) => a.n > 0);
  assert.equal(saves.length, 10, `saw ${acks.length} acknowledgements in the trace`);
  for (const a of saves) {
    assert.ok(a.synced, `save ${a.n} resolved without an fdatasync of the data file before it`);
    assert.ok(a.metaAfterSync, `save ${a.n} resolved without a synchronous meta page write after the sync`);
  }
});
