// An apply operator that writes every change this member applies to an audit log, one JSON line per
// applied request, in log order (index, term, revision, what it did).
// Run: npm run demo:audit            then write with etcdctl (the demo prints how) and watch the log:
//                                    tail -f <the printed audit file>     (Ctrl-C stops the member)
//      npm run demo:audit -- --once  (a few writes, the audit log printed, then stop: what the test runs)
// What to look at: one line per applied write, with its raft index and the store's revision after it,
// including writes that came from other clients (etcdctl) and lease expiries; reads never appear.
import { mkdtempSync, rmSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { concatMap } from "rxjs";
import type { AppliedRequest } from "../../src/operators/index.js";
import { startDemoMember, untilInterrupted } from "../member.js";

const once = process.argv.includes("--once");
const dir = mkdtempSync(join(tmpdir(), "rxetcd-audit-"));
const auditFile = join(dir, "audit.log");
const log = await open(auditFile, "a");

const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");

/** What an applied request did, in a few readable fields. */
function describe(r: AppliedRequest): Record<string, unknown> {
  const q = r.request;
  if (q.put) return { key: text(q.put.key), value: text(q.put.value), lease: q.put.lease.toString(16) };
  if (q.deleteRange)
    return { key: text(q.deleteRange.key), rangeEnd: text(q.deleteRange.rangeEnd) || undefined };
  if (q.txn) {
    const ops = [...q.txn.success, ...q.txn.failure];
    const keys = ops.flatMap((o) => {
      const k = o.requestPut?.key ?? o.requestDeleteRange?.key ?? o.requestRange?.key;
      return k ? [text(k)] : [];
    });
    return { compares: q.txn.compare.length, keys };
  }
  if (q.leaseGrant) return { lease: q.leaseGrant.ID.toString(16), ttl: q.leaseGrant.TTL };
  if (q.leaseRevoke) return { lease: q.leaseRevoke.ID.toString(16) };
  if (q.compaction) return { revision: q.compaction.revision };
  return {};
}

// appends run one applied request at a time (the apply path keeps the log's order), off the apply itself
const audit = concatMap(async (r: AppliedRequest) => {
  const line = {
    at: new Date().toISOString(),
    index: r.index,
    term: r.term,
    revision: r.revision,
    kind: r.kind,
  };
  await log.appendFile(`${JSON.stringify({ ...line, ...describe(r) })}\n`);
  return r;
});

const member = await startDemoMember("audit", { operators: { applies: audit } });
console.log(`member serving clients on ${member.url}`);
console.log(`audit log: ${auditFile}`);

const client = new Etcd3({ hosts: member.url });
/** Waits until the audit log holds the entry at `index` (the apply path runs after the client's answer). */
async function written(index: number): Promise<void> {
  for (let waited = 0; waited < 10_000; waited += 50) {
    const lines = (await readFile(auditFile, "utf8")).trim().split("\n").filter(Boolean);
    const last = lines.length > 0 ? (JSON.parse(lines[lines.length - 1]) as { index: number }).index : 0;
    if (last >= index) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the audit log has no entry ${index} after 10 s`);
}
try {
  await client.put("config/color").value("blue");
  await client.put("config/color").value("green");
  await client.delete().key("config/color");
  await client.if("jobs/1", "Create", "==", 0).then(client.put("jobs/1").value("queued")).commit();
  const lease = client.lease(30);
  await lease.put("sessions/a").value("alive");
  await lease.revoke();
  await written(member.etcd.server.store.consistentIndex());

  if (once) {
    console.log("\naudit log:");
    console.log((await readFile(auditFile, "utf8")).trimEnd());
  } else {
    console.log("\nTry, in another terminal:\n");
    console.log(`  tail -f ${auditFile}`);
    console.log(`  ETCDCTL_API=3 etcdctl --endpoints=${member.endpoint} put greeting hello`);
    console.log(`  ETCDCTL_API=3 etcdctl --endpoints=${member.endpoint} del greeting`);
    console.log(
      `  ETCDCTL_API=3 etcdctl --endpoints=${member.endpoint} get greeting   # reads are not audited`,
    );
    console.log("\nEach applied write adds one line to the audit log. Ctrl-C stops the member.");
    await untilInterrupted();
  }
} finally {
  client.close();
  await member.close();
  await log.close();
  if (once) rmSync(dir, { recursive: true, force: true });
}
