import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { parseTailArgs } from "../../src/cli/feed-tail.js";
import { startMember, type TestMember } from "./harness.js";

const bin = new URL("../../bin/rxetcd.js", import.meta.url).pathname;

test("rxetcd feed refuses unknown topics and flags with one clear line", () => {
  assert.match(String(parseTailArgs(["--topics", "raft,gossip"])), /unknown topic "gossip"/);
  assert.match(String(parseTailArgs(["--bogus"])), /unknown flag --bogus/);
  assert.match(String(parseTailArgs(["--endpoint", "ftp://x"])), /must be an http/);
  assert.deepEqual(parseTailArgs(["--endpoint=http://h:1", "--topics", "kv", "--prefix", "a/"]), {
    endpoint: "http://h:1",
    subscription: { topics: ["kv"], keys: [{ key: "a/", prefix: true }] },
  });
  assert.match(String(parseTailArgs(["--cert", "c.pem"])), /--cert and --key go together/);
  assert.match(
    String(parseTailArgs(["--cacert", "/no/such/ca.pem"])),
    /cannot read --cacert \/no\/such\/ca.pem/,
  );
  const own = new URL(import.meta.url).pathname;
  const withTls = parseTailArgs(["--cacert", own, "--cert", own, "--key", own]);
  assert.ok(
    typeof withTls !== "string" && withTls.tls?.ca?.includes("parseTailArgs"),
    "the files' text is read",
  );
});

describe("rxetcd feed against a member", { timeout: 60_000 }, () => {
  let m: TestMember;
  before(async () => {
    m = await startMember();
  });
  after(async () => m?.close());

  test("prints one line per event: the initial state, then a put under the prefix", async () => {
    const child = spawn(process.execPath, [
      bin,
      "feed",
      "--endpoint",
      m.url,
      "--topics",
      "raft",
      "--prefix",
      "tail/",
    ]);
    let out = "";
    const seen = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no kv line; got:\n${out}`)), 30_000);
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("raft.state") && !out.includes(" kv ")) {
          void m.etcd.server.api.put({
            key: Buffer.from("tail/1"),
            value: Buffer.from("hello"),
            lease: 0n,
            prevKv: false,
            ignoreValue: false,
            ignoreLease: false,
          });
        }
        if (/ kv revision=\d+ kind=put key=tail\/1 value=hello/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    try {
      await seen;
    } finally {
      child.kill("SIGINT");
    }
    assert.match(out, /raft\.state role=leader/);
  });
});
