// An rxetcd member inside your own Node process, used through the etcd3 client.
// Run: npx tsx demos/embed.ts
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { pino } from "pino";
import { buildConfig, parseUrlList } from "../src/config/index.js";
import { startEtcd } from "../src/embed/index.js";

const dataDir = mkdtempSync(join(tmpdir(), "rxetcd-demo-"));
const config = buildConfig({
  name: "demo",
  dataDir,
  // port 0: the system picks free ports, so the demo never collides with a running etcd
  listenClientUrls: parseUrlList("http://127.0.0.1:0"),
  advertiseClientUrls: parseUrlList("http://127.0.0.1:0"),
});
const etcd = await startEtcd(config, { logger: pino({ level: "warn" }) });
const hosts = etcd.clientUrls.map((u) => `${u.protocol}//${u.host}`);
console.log(`member ${etcd.server.memberId.toString(16)} serving clients on ${hosts.join(", ")}`);

const client = new Etcd3({ hosts });
try {
  await client.put("greeting").value("hello from an embedded rxetcd");
  console.log("get greeting ->", await client.get("greeting").string());

  // watch a prefix, then write under it
  const watcher = await client.watch().prefix("jobs/").create();
  const seen = new Promise<string>((resolve) =>
    watcher.on("put", (kv) => resolve(`${kv.key} = ${kv.value}`)),
  );
  await client.put("jobs/1").value("queued");
  console.log("watch saw ->", await seen);
  await watcher.cancel();

  // a lease: the key goes when the lease is revoked
  const lease = client.lease(10);
  await lease.put("session").value("alive");
  console.log("leased key ->", await client.get("session").string());
  await lease.revoke();
  console.log("after revoke ->", await client.get("session").string());
} finally {
  client.close();
  await etcd.close();
  rmSync(dataDir, { recursive: true, force: true });
}
