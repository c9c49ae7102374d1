// --grpc-keepalive-min-time against Debian's etcd: a client connection that pings too often is ended by
// both with GOAWAY ENHANCE_YOUR_CALM "too_many_pings", and the member keeps serving everyone else.
import assert from "node:assert/strict";
import { connect, constants } from "node:http2";
import { after, describe } from "node:test";
import { type Binary, destroyAllMembers, e2eTest, Member, needsDebianEtcd } from "./harness.js";

interface PingOutcome {
  goaway?: { code: number; data: string };
  answered: number;
}

/** Opens an HTTP/2 connection with no stream, pings `n` times in a row, and reports what the server did. */
async function pingFlood(m: Member, n: number): Promise<PingOutcome> {
  const session = connect(m.clientUrl);
  session.on("error", () => {});
  const outcome: PingOutcome = { answered: 0 };
  const ended = new Promise<void>((resolve) => {
    session.on("goaway", (code, _last, data) => {
      outcome.goaway = { code, data: data?.toString() ?? "" };
    });
    session.on("close", () => resolve());
  });
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  for (let i = 0; i < n && !session.closed && !session.destroyed; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      try {
        session.ping((err) => resolve(err === null));
      } catch {
        resolve(false);
      }
    });
    if (ok) outcome.answered++;
  }
  // give the server a moment to close; then close ourselves
  await Promise.race([ended, new Promise((r) => setTimeout(r, 2000))]);
  session.destroy();
  return outcome;
}

describe("gRPC keepalive enforcement", { timeout: 300_000 }, () => {
  after(destroyAllMembers);

  e2eTest(
    "a connection pinging too often gets GOAWAY too_many_pings from etcd and rxetcd alike",
    { timeout: 200_000 },
    async () => {
      assert.ok(!needsDebianEtcd, needsDebianEtcd || "");
      const outcomes: Partial<Record<Binary, PingOutcome>> = {};
      for (const binary of ["etcd", "rxetcd"] as Binary[]) {
        const m = await Member.start({ binary, name: "n1", startTimeoutMs: 120_000 });
        outcomes[binary] = await pingFlood(m, 10);
        // the member serves the next client as before
        const put = await m.etcdctl(["put", "after", "pings"]);
        assert.equal(put.code, 0, put.stderr);
        await m.stop();
        await m.destroy();
      }
      assert.deepEqual(outcomes.etcd?.goaway, {
        code: constants.NGHTTP2_ENHANCE_YOUR_CALM,
        data: "too_many_pings",
      });
      assert.deepEqual(outcomes.rxetcd, outcomes.etcd);
    },
  );
});
