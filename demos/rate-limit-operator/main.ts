// A proposal operator that refuses writes above a rate on this member, with etcd's own error for it:
// "etcdserver: too many requests" (gRPC RESOURCE_EXHAUSTED), before anything reaches Raft.
// Run: npm run demo:rate-limit [-- --rate N]   (default 20 writes/s; Ctrl-C stops the member)
//      npm run demo:rate-limit -- --once       (one burst, the counts printed, then stop: what the test runs)
// What to look at: a burst of 100 puts, of which N (the bucket) plus what refills while the burst lasts go through,
// the rest refused with the error above; a second later writes go through again; etcdctl shows the error
// as etcd's own; reads are never limited.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Etcd3 } from "etcd3";
import { EtcdError, GrpcCode } from "../../src/rpctypes/errors.js";
import { refuseAboveRate } from "../../streams/operators/refuse-above-rate.js";
import { startDemoMember, untilInterrupted } from "../member.js";

const once = process.argv.includes("--once");
const rateArg = process.argv.indexOf("--rate");
const rate = rateArg >= 0 ? Number(process.argv[rateArg + 1]) : 20;
if (!(rate > 0)) {
  console.error("--rate takes a positive number of writes per second");
  process.exit(2);
}

const member = await startDemoMember("rate-limit", {
  operators: {
    // a token bucket of `rate` writes, refilled at `rate` per second
    proposals: refuseAboveRate(
      { perSecond: rate },
      // etcd's own error for it, so clients that know etcd's errors (etcdctl, clientv3) name it
      () => new EtcdError(GrpcCode.ResourceExhausted, "etcdserver: too many requests"),
    ),
  },
});
console.log(
  `member serving clients on ${member.url}; writes above ${rate}/s are refused with "etcdserver: too many requests"`,
);

/** A put through the JSON gateway: "" when accepted, else the error the member answered with. */
async function put(key: string, value: string): Promise<string> {
  const b64 = (x: string) => Buffer.from(x).toString("base64");
  const res = await fetch(`${member.url}/v3/kv/put`, {
    method: "POST",
    body: JSON.stringify({ key: b64(key), value: b64(value) }),
  });
  if (res.ok) return "";
  const body = (await res.json()) as { code?: number; message?: string };
  return `gRPC code ${body.code}: ${body.message}`;
}

const client = new Etcd3({ hosts: member.url });
try {
  // 100 puts at once (through the gateway: a client library's retry and circuit breaker would hide the answers)
  const burst = await Promise.all(Array.from({ length: 100 }, (_, i) => put(`burst/${i}`, String(i))));
  const refused = burst.filter((answer) => answer !== "");
  console.log(`burst of 100 puts: ${100 - refused.length} accepted, ${refused.length} refused`);
  for (const m of new Set(refused)) console.log(`refused with: ${m}`);
  const stored = await client.getAll().prefix("burst/").count();
  console.log(`keys under burst/ in the store: ${stored}`);

  // the bucket refills: after a second a write goes through again (here with the etcd3 client)
  await new Promise((r) => setTimeout(r, 1000));
  await client.put("after-a-second").value("accepted");
  console.log(`a second later: put after-a-second -> ${await client.get("after-a-second").string()}`);

  // what etcdctl shows for a refused write (its own error line); asynchronously: the member runs in this process
  const ctl = async (...args: string[]) => {
    try {
      const { stdout } = await promisify(execFile)("etcdctl", [`--endpoints=${member.endpoint}`, ...args], {
        env: { ...process.env, ETCDCTL_API: "3" },
      });
      return stdout.trim();
    } catch (err) {
      const stderr = String((err as { stderr?: string }).stderr ?? err).trim();
      return stderr.split("\n").pop() ?? stderr;
    }
  };
  // other writers use up the rate (until they are refused), and go on while etcdctl sends its puts
  let ctlDone = false;
  let refusedOnce: () => void = () => {};
  const bucketEmpty = new Promise<void>((resolve) => {
    refusedOnce = resolve;
  });
  let n = 0;
  const writer = async () => {
    while (!ctlDone) if ((await put(`busy/${n++ % 10}`, "x")) !== "") refusedOnce();
  };
  const writers = Promise.all([writer(), writer(), writer(), writer()]);
  await bucketEmpty;
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => ctl("put", `etcdctl/${i}`, "v")));
  ctlDone = true;
  await writers;
  const counts = new Map<string, number>();
  for (const a of answers) counts.set(a, (counts.get(a) ?? 0) + 1);
  console.log("10 etcdctl puts at once while other writers use up the rate:");
  for (const [answer, times] of counts) console.log(`  ${times} x ${answer}`);

  if (!once) {
    console.log("\nTry, in another terminal:\n");
    console.log(
      `  for i in $(seq 50); do ETCDCTL_API=3 etcdctl --endpoints=${member.endpoint} put k$i v & done; wait`,
    );
    console.log(
      "\nAbout the first burst's worth go through; the others print the error. Ctrl-C stops the member.",
    );
    await untilInterrupted();
  }
} finally {
  client.close();
  await member.close();
}
