// Side by side with Debian's etcd 3.4: the HTTP gateway's Grpc-Timeout header on unary calls and on streams, sent as
// raw HTTP to both servers and compared as a curl user sees it (status, then the body with member ids, revisions and
// snapshot bytes masked). Etcd's grpc-gateway makes the header the context of its own gRPC client: none for 0, a
// call refused before it is sent once its deadline has passed, and for a stream a 504 while no message came yet or
// an error line after.
import assert from "node:assert/strict";
import { test } from "node:test";
import { debianEtcd } from "../e2e/harness.js";
import { withMembers } from "./runner.js";

interface Call {
  path: string;
  body: string;
  timeout?: string;
  /** The client leaves after this long (streams that do not end by themselves). */
  leaveAfterMs?: number;
}

const EXPIRED_LINE =
  '{"error":{"grpc_code":4,"http_code":504,"message":"context deadline exceeded","http_status":"Gateway Timeout"}}';
/**
 * A stream's deadline passing after its first message races inside etcd: its gateway's client sees the deadline
 * (code 4), or its server's handler returns the context's error first, which grpc-go sends as code 2 with the same
 * text. Both count as the one answer.
 */
const UNKNOWN_DEADLINE_LINE =
  '{"error":{"grpc_code":2,"http_code":500,"message":"context deadline exceeded","http_status":"Internal Server Error"}}';

/**
 * Before a stream's first message the race is between etcd's gateway client giving up (504 and an error body, as a
 * unary call) and its server ending the stream first (500 and an error line with code 4). Both count as the one answer.
 */
const EXPIRED = '504 {"error":"context deadline exceeded","message":"context deadline exceeded","code":4}';

/** Status and body as text, what differs between two servers masked; "(left)" when the client had to leave. */
async function send(base: string, c: Call): Promise<string> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), c.leaveAfterMs ?? 10_000);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (c.timeout !== undefined) headers["grpc-timeout"] = c.timeout;
  let text = "";
  try {
    const res = await fetch(`${base}${c.path}`, {
      method: "POST",
      headers,
      body: c.body,
      signal: abort.signal,
    });
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
        text += Buffer.from(chunk).toString();
    } catch {
      text += "(left)";
    }
    return `${res.status} ${text}`
      .replace(UNKNOWN_DEADLINE_LINE, EXPIRED_LINE)
      .replace(`500 ${EXPIRED_LINE}`, EXPIRED)
      .replace(/"blob":"[^"]*"/g, '"blob":"..."')
      .replace(/"(cluster_id|member_id|raft_term)":"\d+"/g, '"$1":"N"');
  } catch {
    return "(left)";
  } finally {
    clearTimeout(timer);
  }
}

/** Sends each call to both servers in turn; returns etcd's answers after asserting rxetcd's are the same. */
async function sideBySide(calls: Call[]): Promise<string[]> {
  assert.ok(debianEtcd, "Debian's etcd 3.4 is not installed (apt-get install etcd-server)");
  return withMembers(async (endpoints) => {
    const out: string[] = [];
    for (const c of calls) {
      const [etcd, rxetcd] = await Promise.all([
        send(`http://${endpoints.etcd}`, c),
        send(`http://${endpoints.rxetcd}`, c),
      ]);
      assert.equal(rxetcd, etcd, `${c.path} ${c.body} grpc-timeout ${c.timeout}`);
      out.push(etcd);
    }
    return out;
  });
}

const invalid = (t: string) =>
  `400 {"error":"invalid grpc-timeout: ${t}","message":"invalid grpc-timeout: ${t}","code":3}`;
const b64 = (s: string) => Buffer.from(s).toString("base64");

test("a unary call whose Grpc-Timeout has passed is refused before it runs; 0 is no deadline", async () => {
  const answers = await sideBySide([
    { path: "/v3/lease/grant", body: '{"TTL":"3600","ID":"77"}' },
    { path: "/v3/lease/grant", body: '{"TTL":"3600","ID":"78"}' },
    // refused without running: the lock stays free, and the put writes nothing
    { path: "/v3/lock/lock", body: `{"name":"${b64("lk")}","lease":"77"}`, timeout: "-1m" },
    { path: "/v3/kv/put", body: `{"key":"${b64("a")}"}`, timeout: "1n" },
    {
      path: "/v3/lock/lock",
      body: `{"name":"${b64("lk")}","lease":"78"}`,
      timeout: "0S",
      leaveAfterMs: 4000,
    },
    { path: "/v3/kv/range", body: `{"key":"${b64("a")}"}`, timeout: "xx" },
  ]);
  assert.equal(answers[2], EXPIRED);
  assert.equal(answers[3], EXPIRED);
  assert.match(answers[4], new RegExp(`^200 .*"revision":"2".*"key":"${b64("lk/4e")}"`));
  assert.equal(answers[5], invalid("xx"));
});

test("a stream's Grpc-Timeout: 504 before its first message, an error line after, 400 when unreadable", async () => {
  const observe = `{"name":"${b64("el")}"}`;
  const answers = await sideBySide([
    { path: "/v3/maintenance/snapshot", body: "{}", timeout: "1n" },
    { path: "/v3/maintenance/snapshot", body: "{}", timeout: "xx" },
    { path: "/v3/election/observe", body: observe, timeout: "bad" },
    // no leader yet: no message before the deadline
    { path: "/v3/election/observe", body: observe, timeout: "300m", leaveAfterMs: 4000 },
    { path: "/v3/lease/grant", body: '{"TTL":"3600","ID":"77"}' },
    { path: "/v3/election/campaign", body: `{"name":"${b64("el")}","lease":"77","value":"${b64("v")}"}` },
    // a leader now: its first message comes well before the deadline, however busy the machine
    { path: "/v3/election/observe", body: observe, timeout: "2000m", leaveAfterMs: 4000 },
    {
      path: "/v3/watch",
      body: `{"create_request":{"key":"${b64("a")}"}}`,
      timeout: "1n",
      leaveAfterMs: 4000,
    },
    {
      path: "/v3/watch",
      body: `{"create_request":{"key":"${b64("a")}"}}`,
      timeout: "x1",
      leaveAfterMs: 4000,
    },
    {
      path: "/v3/watch",
      body: `{"create_request":{"key":"${b64("a")}"}}`,
      timeout: "2000m",
      leaveAfterMs: 4000,
    },
  ]);
  assert.equal(answers[0], EXPIRED);
  assert.equal(answers[1], invalid("xx"));
  assert.equal(answers[2], invalid("bad"));
  assert.equal(answers[3], EXPIRED);
  assert.match(answers[6], /^200 \{"result":\{"header":.*"value":"dg==","lease":"77"\}\}\}\n(.*)$/);
  assert.equal(answers[6].split("\n")[1], EXPIRED_LINE);
  assert.equal(answers[7], EXPIRED);
  assert.equal(answers[8], invalid("x1"));
  assert.equal(answers[9].split("\n")[1], EXPIRED_LINE);
});
