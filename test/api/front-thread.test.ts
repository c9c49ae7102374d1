// The unary calls served from the client port's HTTP/2 thread (src/api/front/): a gRPC client on its
// port gets the answers, statuses and texts it gets on the normal port, with its token passed on.
import assert from "node:assert/strict";
import { connect, constants, type IncomingHttpHeaders } from "node:http2";
import { after, before, describe, it } from "node:test";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import {
  DeleteRangeRequest,
  type DeleteRangeResponse,
  LeaseClient,
  LeaseGrantRequest,
  type LeaseGrantResponse,
  LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
  PutRequest,
  type PutResponse,
  RangeRequest,
  type RangeResponse,
  TxnRequest,
  type TxnResponse,
  WatchRequest,
  WatchResponse,
} from "../../src/gen/etcdserverpb/rpc.js";
import type { RequestContext } from "../../src/server/client-api.js";
import { type Harness, kvClient, startHarness, unary } from "./harness.js";

type Kv = ReturnType<typeof kvClient>;
const bytes = (s: string) => Buffer.from(s);

function failure(p: Promise<unknown>): Promise<ServiceError> {
  return p.then(
    () => assert.fail("the call succeeded"),
    (err: ServiceError) => err,
  );
}

function put(
  kv: Kv,
  key: string | Buffer,
  value: string | Buffer,
  md = new Metadata(),
): Promise<PutResponse> {
  const req = PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value) });
  return new Promise((resolve, reject) => kv.put(req, md, (err, res) => (err ? reject(err) : resolve(res))));
}

const range = (kv: Kv, key: string, rangeEnd?: string) =>
  unary<RangeRequest, RangeResponse>(
    kv.range.bind(kv),
    RangeRequest.fromPartial({ key: bytes(key), ...(rangeEnd ? { rangeEnd: bytes(rangeEnd) } : {}) }),
  );

describe("unary calls from the HTTP/2 thread", { timeout: 60_000 }, () => {
  let h: Harness;
  let kv: Kv;
  let normal: Kv;
  const contexts: (RequestContext | undefined)[] = [];

  before(async () => {
    h = await startHarness({ maxRequestBytes: 1024, front: { listenUrl: new URL("http://127.0.0.1:0") } });
    const apiPut = h.api.put.bind(h.api);
    h.api.put = (req: PutRequest, ctx?: RequestContext) => {
      contexts.push(ctx);
      return apiPut(req);
    };
    const front = h.listeners.frontUrl;
    assert.ok(front, "the listeners report the thread's URL");
    assert.notEqual(front.port, "0");
    kv = kvClient(`127.0.0.1:${front.port}`);
    normal = kvClient(h.hostPort);
  });
  after(async () => {
    kv?.close();
    normal?.close();
    await h?.close();
  });

  it("puts, reads, transacts and deletes, seen alike on the normal port", async () => {
    const written = await put(kv, "a", "1");
    assert.ok(written.header && written.header.revision > 0);
    const got = await range(kv, "a");
    assert.equal(got.kvs.length, 1);
    assert.equal(Buffer.from(got.kvs[0].value).toString(), "1");
    const seen = await range(normal, "a");
    assert.equal(seen.kvs[0].modRevision, got.kvs[0].modRevision);

    const txn = await unary<TxnRequest, TxnResponse>(
      kv.txn.bind(kv),
      TxnRequest.fromPartial({ success: [{ requestPut: { key: bytes("b"), value: bytes("2") } }] }),
    );
    assert.equal(txn.succeeded, true);
    const deleted = await unary<DeleteRangeRequest, DeleteRangeResponse>(
      kv.deleteRange.bind(kv),
      DeleteRangeRequest.fromPartial({ key: bytes("a"), rangeEnd: bytes("c") }),
    );
    assert.equal(deleted.deleted, 2);
    assert.equal((await range(normal, "a", "c")).kvs.length, 0);
  });

  it("answers many calls in flight at once, each with its own answer", async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `many-${i}`);
    const puts = await Promise.all(keys.map((k) => put(kv, k, k)));
    assert.equal(new Set(puts.map((p) => p.header?.revision)).size, keys.length);
    const reads = await Promise.all(keys.map((k) => range(kv, k)));
    assert.deepEqual(
      reads.map((r) => Buffer.from(r.kvs[0].value).toString()),
      keys,
    );
  });

  it("passes the token on, and nothing for a call without one", async () => {
    contexts.length = 0;
    const md = new Metadata();
    md.set("token", "the-token");
    await put(kv, "t", "v", md);
    await put(kv, "t", "w");
    assert.deepEqual(contexts, [{ token: "the-token" }, undefined]);
  });

  it("answers a refused request with etcd's code and text", async () => {
    const err = await failure(put(kv, Buffer.alloc(0), "v"));
    assert.equal(err.code, 3);
    assert.equal(err.details, "etcdserver: key is not provided");
  });

  it("refuses a message over the receive limit as grpc does", async () => {
    const limit = 1024 + 512 * 1024;
    const err = await failure(put(kv, "big", Buffer.alloc(limit + 10)));
    assert.equal(err.code, 8);
    assert.match(err.details, /^grpc: received message larger than max \(\d+ vs\. 525312\)$/);
  });

  it("ends a call at its grpc-timeout, and drops an answer after it or after its client left", async () => {
    const apiRange = h.api.range.bind(h.api);
    const held: (() => void)[] = [];
    h.api.range = (req) => new Promise((resolve) => held.push(() => resolve(apiRange(req))));
    const session = connect(`http://127.0.0.1:${h.listeners.frontUrl?.port}`);
    try {
      const message = RangeRequest.encode(RangeRequest.fromPartial({ key: bytes("held") })).finish();
      const frame = Buffer.alloc(5 + message.length);
      frame.writeUInt32BE(message.length, 1);
      frame.set(message, 5);
      const call = (timeout?: string) => {
        const stream = session.request({
          ":method": "POST",
          ":path": "/etcdserverpb.KV/Range",
          "content-type": "application/grpc",
          te: "trailers",
          ...(timeout ? { "grpc-timeout": timeout } : {}),
        });
        stream.end(frame);
        return stream;
      };
      const timed = call("100m");
      const headers = await new Promise<IncomingHttpHeaders>((resolve) => timed.once("response", resolve));
      // its handler held it past the deadline: etcd's handler returns the context's error (code 2)
      assert.equal(headers["grpc-status"], "2");
      assert.equal(headers["grpc-message"], "context deadline exceeded");
      const leaving = call();
      leaving.on("error", () => {});
      while (held.length < 2) await new Promise((r) => setTimeout(r, 10));
      leaving.close();
      await new Promise((r) => leaving.once("close", r));
      for (const release of held) release();
    } finally {
      session.destroy();
      h.api.range = apiRange;
    }
    assert.equal((await range(kv, "a")).kvs.length, 0, "the port still answers");
  });

  it("forwards a watch stream both ways, and ends it on the main thread when its client resets", async () => {
    const apiWatchStream = h.api.watchStream.bind(h.api);
    let closes = 0;
    h.api.watchStream = () => {
      const stream = apiWatchStream();
      return {
        ...stream,
        close: () => {
          closes++;
          stream.close();
        },
      };
    };
    const session = connect(`http://127.0.0.1:${h.listeners.frontUrl?.port}`);
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/etcdserverpb.Watch/Watch",
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.on("error", () => {});
      const answers: WatchResponse[] = [];
      let pending = Buffer.alloc(0);
      stream.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
          const n = pending.readUInt32BE(1);
          answers.push(WatchResponse.decode(pending.subarray(5, 5 + n)));
          pending = pending.subarray(5 + n);
        }
      });
      const message = WatchRequest.encode(
        WatchRequest.fromPartial({ createRequest: { key: bytes("watched") } }),
      ).finish();
      const frame = Buffer.alloc(5 + message.length);
      frame.writeUInt32BE(message.length, 1);
      frame.set(message, 5);
      stream.write(frame);
      const until = async (what: string, done: () => boolean) => {
        for (let i = 0; i < 1000 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
        assert.ok(done(), what);
      };
      await until("the watch is created", () => answers.some((a) => a.created));
      await put(kv, "watched", "1");
      await until("the event arrives", () => answers.some((a) => a.events.length > 0));
      const event = answers.find((a) => a.events.length > 0)?.events[0];
      assert.equal(Buffer.from(event?.kv?.value ?? []).toString(), "1");
      assert.equal(closes, 0);
      stream.close(constants.NGHTTP2_CANCEL);
      await until("the main thread's watch stream is closed", () => closes === 1);
    } finally {
      session.destroy();
      h.api.watchStream = apiWatchStream;
    }
  });

  it("answers any other unary call, in a batch or forwarded, and an unknown one as the normal port does", async () => {
    const port = h.listeners.frontUrl?.port;
    const lease = new LeaseClient(`127.0.0.1:${port}`, credentials.createInsecure());
    const normalLease = new LeaseClient(h.hostPort, credentials.createInsecure());
    try {
      const granted = await unary<LeaseGrantRequest, LeaseGrantResponse>(
        lease.leaseGrant.bind(lease),
        LeaseGrantRequest.fromPartial({ TTL: 10 }),
      );
      assert.equal(granted.TTL, 10);
      const seen = await unary<LeaseTimeToLiveRequest, LeaseTimeToLiveResponse>(
        normalLease.leaseTimeToLive.bind(normalLease),
        LeaseTimeToLiveRequest.fromPartial({ ID: granted.ID }),
      );
      assert.equal(seen.grantedTTL, 10);
      /** A call's status (from its headers or trailers), its request written at once. */
      const status = (address: string, path: string, body: Buffer) =>
        new Promise<[string, string]>((resolve, reject) => {
          const session = connect(address);
          session.on("error", reject);
          const stream = session.request({
            ":method": "POST",
            ":path": path,
            "content-type": "application/grpc",
            te: "trailers",
          });
          const read = (fields: IncomingHttpHeaders) => {
            if (fields["grpc-status"] === undefined) return;
            resolve([String(fields["grpc-status"]), String(fields["grpc-message"])]);
            session.close();
          };
          stream.on("response", read);
          stream.on("trailers", read);
          stream.resume();
          stream.end(body);
        });
      const unknown = (address: string) => status(address, "/etcdserverpb.Lease/NoSuchCall", Buffer.alloc(5));
      const [viaThread, direct] = await Promise.all([
        unknown(`http://127.0.0.1:${port}`),
        unknown(`http://${h.hostPort}`),
      ]);
      assert.equal(viaThread[0], "12");
      assert.deepEqual(viaThread, direct);
      // bodies without one message to read: grpc-go's answers, from the thread as from the port
      const range = (address: string, body: Buffer) => status(address, "/etcdserverpb.KV/Range", body);
      for (const [body, expected] of [
        [Buffer.alloc(0), ["2", "EOF"]],
        [Buffer.from([0, 0, 0, 0, 9, 0x0a]), ["2", "unexpected EOF"]],
        [Buffer.from([1, 0, 0, 0, 0]), ["13", "grpc: compressed flag set with identity or empty encoding"]],
        [
          Buffer.from([0, 0, 0, 0, 2, 0x0a, 0x05]),
          ["13", "grpc: error unmarshalling request: unexpected EOF"],
        ],
        // two messages: the first is answered
        [Buffer.from([0, 0, 0, 0, 3, 0x0a, 1, 0x61, 0, 0, 0, 0, 3, 0x0a, 1, 0x62]), ["0", ""]],
      ] as [Buffer, [string, string]][]) {
        const [viaThreadStatus, directStatus] = await Promise.all([
          range(`http://127.0.0.1:${port}`, body),
          range(`http://${h.hostPort}`, body),
        ]);
        assert.deepEqual(viaThreadStatus, expected, `through the thread: ${body.toString("hex")}`);
        assert.deepEqual(directStatus, expected, `on the port: ${body.toString("hex")}`);
      }
    } finally {
      lease.close();
      normalLease.close();
    }
  });
});

/**
 * Opens `streams` LeaseKeepAlive streams on one new connection and gives, per stream, the grpc-status
 * it ended with within a moment (undefined: still open). `authority` is the :authority sent (a URL,
 * as Go clients send, takes the :authority repair's path).
 */
async function keepAliveStreams(
  url: URL,
  streams: number,
  authority?: string,
): Promise<(string | undefined)[]> {
  const session = connect(url.href);
  session.on("error", () => {});
  try {
    const statuses = await Promise.all(
      Array.from({ length: streams }, async (_, i) => {
        // one after the other: the first is open before the next asks
        await new Promise((r) => setTimeout(r, 100 * i));
        const stream = session.request({
          ":method": "POST",
          ":path": "/etcdserverpb.Lease/LeaseKeepAlive",
          "content-type": "application/grpc",
          te: "trailers",
          ...(authority ? { ":authority": authority } : {}),
        });
        stream.on("error", () => {});
        return new Promise<string | undefined>((resolve) => {
          stream.on("response", (headers) => {
            const status = headers["grpc-status"];
            if (typeof status === "string") resolve(status);
          });
          stream.on("trailers", (trailers) => resolve(String(trailers["grpc-status"])));
          setTimeout(() => resolve(undefined), 100 * (streams - i) + 500);
        });
      }),
    );
    return statuses;
  } finally {
    session.destroy();
  }
}

describe("client connections of the HTTP/2 thread", { timeout: 60_000 }, () => {
  for (const [name, clientThread, urlAuthority] of [
    ["through the thread", true, false],
    ["through the :authority repair", false, true],
    ["through the thread and the :authority repair", true, true],
  ] as const)
    it(`have their own bounds ${name}: keep-alive streams past one are refused per connection`, async () => {
      const h = await startHarness({ clientThread, connections: { maxKeepAliveStreamsPerConnection: 1 } });
      try {
        const authority = urlAuthority ? `http://${h.hostPort}` : undefined;
        const [first, second] = await Promise.all([
          keepAliveStreams(h.url, 2, authority),
          keepAliveStreams(h.url, 2, authority),
        ]);
        assert.deepEqual(first, [undefined, "8"]);
        assert.deepEqual(second, [undefined, "8"]);
      } finally {
        await h.close();
      }
    });

  it("are pinged every --grpc-keepalive-interval", async () => {
    const h = await startHarness({
      clientThread: true,
      grpc: { keepaliveIntervalMs: 50, keepaliveTimeoutMs: 5000 },
    });
    const session = connect(h.url.href);
    try {
      session.on("error", () => {});
      let pings = 0;
      session.on("ping", () => pings++);
      // the connection reaches HTTP/2 with its first request (the :authority gate reads up to it);
      // HTTP over h2c is reset, as etcd's grpc-go resets a stream that is not gRPC
      const health = session.request({ ":path": "/health" });
      health.on("error", () => {});
      health.resume();
      await new Promise((r) => health.once("close", r));
      assert.equal(health.rstCode, constants.NGHTTP2_PROTOCOL_ERROR);
      for (let i = 0; i < 1000 && pings < 2; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(pings >= 2, `${pings} pings`);
    } finally {
      session.destroy();
      await h.close();
    }
  });
});
