// The README's ten-line operators example, run as written: the code block is taken from the README,
// given its imports and a member, and exercised (a burst above the rate, the audit lines, a redacted feed).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";

const root = new URL("../..", import.meta.url).pathname;

/** The ```ts block that follows the README's "in ten lines:". */
function readmeExample(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const at = readme.indexOf("in ten lines:\n");
  assert.ok(at > 0, 'the README has no operators example introduced by "in ten lines:"');
  const start = readme.indexOf("```ts\n", at) + "```ts\n".length;
  return readme.slice(start, readme.indexOf("```", start));
}

const PRELUDE = `
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { firstValueFrom, filter, take, tap, timeout } from "rxjs";
import { buildConfig, parseUrlList } from "../../src/config/index.js";
import { type StartOptions, startEtcd as startMember } from "../../src/embed/index.js";
import { FeedClient } from "../../src/feed/client.js";
import { PutRequest } from "../../src/gen/etcdserverpb/rpc.js";
import { composeOperators, evaluateProposal, type Proposal, redactValues } from "../../src/operators/index.js";
import { EtcdError, GrpcCode } from "../../src/rpctypes/errors.js";
import { refuseAboveRate } from "../../streams/operators/refuse-above-rate.js";

const peer = process.env.PEER_URL as string;
const config = buildConfig({
  name: "readme",
  dataDir: mkdtempSync(join(tmpdir(), "rxetcd-readme-")),
  listenClientUrls: parseUrlList("http://127.0.0.1:0"),
  advertiseClientUrls: parseUrlList("http://127.0.0.1:0"),
  listenPeerUrls: parseUrlList(peer),
  initialAdvertisePeerUrls: parseUrlList(peer),
  initialCluster: \`readme=\${peer}\`,
});
const logger = pino({ level: "silent" });
const audited: string[] = [];
const audit = { write: (line: string) => audited.push(line) };
// the example's startEtcd, keeping what it was given
let options: StartOptions | undefined;
const startEtcd: typeof startMember = (c, o) => {
  options = o;
  return startMember(c, o);
};
`;

const EXERCISE = `
// the proposal operators on a burst of 300 puts evaluated at once (as fast as the member could take them)
const proposals = composeOperators(options?.operators?.proposals ?? []);
const proposal = (i: number): Proposal => ({
  kind: "put",
  member: "readme",
  at: Date.now(),
  request: PutRequest.fromPartial({ key: Buffer.from(\`k\${i}\`), value: Buffer.from("v") }),
});
const burst = await Promise.all(
  Array.from({ length: 300 }, (_, i) =>
    evaluateProposal(proposals, proposal(i), 500).then(() => "ok", (err: Error) => err.message),
  ),
);
await new Promise((r) => setTimeout(r, 1100)); // the bucket refills

// then writes through the JSON gateway, as a client writes (the operators sit in front of the client API)
const b64 = (x: string) => Buffer.from(x).toString("base64");
const put = async (key: string, value: string) => {
  const res = await fetch(\`\${etcd.clientUrls[0].origin}/v3/kv/put\`, {
    method: "POST",
    body: JSON.stringify({ key: b64(key), value: b64(value) }),
  });
  return res.ok ? "ok" : ((await res.json()) as { message: string }).message;
};
const feed = new FeedClient(etcd.clientUrls[0].origin, { subscription: { topics: [], keys: [{ key: "secret/", prefix: true }] } });
const seen = firstValueFrom(feed.events$.pipe(filter((e) => e.type === "kv"), take(1), timeout(10_000)));
await firstValueFrom(feed.batches$.pipe(take(1), timeout(10_000))); // the initial state first
const writes = [await put("secret/token", "s3cret"), await put("a", "1"), await put("b", "2")];
const e = (await seen) as { key: string; value: string };
for (let waited = 0; audited.length < 3 && waited < 10_000; waited += 50)
  await new Promise((r) => setTimeout(r, 50)); // the apply path runs after the answers
console.log(JSON.stringify({
  accepted: burst.filter((a) => a === "ok").length,
  refusals: [...new Set(burst.filter((a) => a !== "ok"))],
  writes,
  audited,
  feed: [e.key, e.value],
}));
feed.close();
await etcd.close();
`;

test("the README's operators example is ten lines and works as written", async () => {
  const example = readmeExample();
  const lines = example.trimEnd().split("\n");
  assert.ok(lines.length <= 10, `the example has ${lines.length} lines`);
  const { freePort } = await import("../e2e/harness.js");
  const file = join(root, "test", "operators", `.readme-example-${process.pid}.ts`);
  writeFileSync(file, PRELUDE + example + EXERCISE);
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", file], {
      cwd: root,
      timeout: 120_000,
      env: { ...process.env, PEER_URL: `http://127.0.0.1:${await freePort()}` },
    });
    const out = JSON.parse(stdout.trim().split("\n").pop() ?? "") as {
      accepted: number;
      refusals: string[];
      writes: string[];
      audited: string[];
      feed: [string, string];
    };
    // a bucket of 100, and what refilled while the burst was evaluated (well under a second)
    assert.ok(out.accepted >= 100 && out.accepted < 150, `accepted ${out.accepted} of 300`);
    assert.deepEqual(out.refusals, ["etcdserver: too many requests"]);
    assert.deepEqual(out.writes, ["ok", "ok", "ok"]);
    // one audit line per applied put, in log order
    assert.equal(out.audited.length, 3, out.audited.join(""));
    for (const line of out.audited) assert.match(line, /^\d+ put rev \d+\n$/);
    const indexes = out.audited.map((l) => Number(l.split(" ")[0]));
    assert.deepEqual(
      indexes,
      [...indexes].sort((a, b) => a - b),
    );
    assert.deepEqual(out.feed, ["secret/token", "[redacted]"]);
  } finally {
    rmSync(file, { force: true });
  }
});
