// A feed operator that hides the values under secret/ from every feed client (the dashboard, `rxetcd
// feed`, any socket.io client), while clients of the KV API with the right to read them still get them.
// Run: npm run demo:redact            then open the printed dashboard URL, or tail the feed as printed;
//                                     put keys under secret/ and elsewhere (Ctrl-C stops the member)
//      npm run demo:redact -- --once  (a few puts, what the feed showed printed, then stop: what the test runs)
// What to look at: secret/ keys appear in the feed with their revisions and versions but the value
// "[redacted]" (also in the initial key list and previous values); other keys show as they are, and
// `etcdctl get secret/db-password` still returns the real value.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Etcd3 } from "etcd3";
import { filter, firstValueFrom, take, timeout, toArray } from "rxjs";
import { FeedClient } from "../../src/feed/client.js";
import type { Bytes, EventOf } from "../../src/feed/protocol.js";
import { redactValues } from "../../src/operators/index.js";
import { startDemoMember, untilInterrupted } from "../member.js";

const once = process.argv.includes("--once");
const member = await startDemoMember("redact", {
  operators: { feed: redactValues({ prefixes: ["secret/"] }) },
});
console.log(`member serving clients on ${member.url}; values under secret/ are hidden from the feed`);
console.log(`dashboard: ${member.url}/dashboard`);

const text = (b: Bytes) => (typeof b === "string" ? b : `base64:${b.base64}`);
const client = new Etcd3({ hosts: member.url });
// one key of each kind before anyone watches: they come with the feed's initial state
await client.put("secret/api-token").value("tok-3f9a27");
await client.put("public/motd").value("welcome");

const feed = new FeedClient(member.url, {
  subscription: { topics: [], keys: [{ key: "", prefix: true, prevKv: true }] },
});
try {
  const initial = await firstValueFrom(feed.batches$.pipe(take(1), timeout(10_000)));
  const snapshot = initial.events.find((e): e is EventOf<"kv.snapshot"> => e.type === "kv.snapshot");
  console.log("\nthe feed's initial state:");
  for (const kv of snapshot?.kvs ?? []) console.log(`  ${text(kv.key)} = ${text(kv.value)}`);

  const changes = firstValueFrom(
    feed.events$.pipe(
      filter((e): e is EventOf<"kv"> => e.type === "kv"),
      take(3),
      toArray(),
      timeout(10_000),
    ),
  );
  await client.put("secret/db-password").value("hunter2");
  await client.put("secret/db-password").value("correct horse battery staple");
  await client.put("public/greeting").value("hello");
  console.log("\nwhat the feed showed of the next puts:");
  for (const e of await changes) {
    const prev = e.prev ? ` (previous value ${text(e.prev.value)})` : "";
    console.log(
      `  ${e.kind} ${text(e.key)} = ${text(e.value)} rev ${e.revision} version ${e.version}${prev}`,
    );
  }
  // asynchronously: the member answers from this very process
  const { stdout } = await promisify(execFile)(
    "etcdctl",
    [`--endpoints=${member.endpoint}`, "get", "secret/db-password", "--print-value-only"],
    { env: { ...process.env, ETCDCTL_API: "3" } },
  );
  const real = stdout.trim();
  console.log(`\netcdctl get secret/db-password -> ${real}   (the store keeps the real value)`);

  if (!once) {
    console.log("\nTry, in another terminal:\n");
    console.log(`  npx rxetcd feed --endpoint ${member.url} --topics kv --prefix ""`);
    console.log(`  ETCDCTL_API=3 etcdctl --endpoints=${member.endpoint} put secret/new-key s3cret`);
    console.log(`  ETCDCTL_API=3 etcdctl --endpoints=${member.endpoint} put public/new-key visible`);
    console.log("\nor open the dashboard and watch the key list. Ctrl-C stops the member.");
    await untilInterrupted();
  }
} finally {
  feed.close();
  client.close();
  await member.close();
}
