// gRPC on the client port: the etcd3 npm client end to end, errors with etcd's code and text,
// watch and keep-alive streams, the snapshot framing, health, and bad input that must not stop
// the server.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { connect } from "node:http2";
import { after, before, describe, it } from "node:test";
import { credentials, Metadata } from "@grpc/grpc-js";
import { Etcd3 } from "etcd3";
import {
  KVClient,
  LeaseClient,
  MaintenanceClient,
  RangeRequest,
  type RangeResponse,
  type SnapshotResponse,
} from "../../src/gen/etcdserverpb/rpc.js";
import { type Harness, kvClient, startHarness, unary } from "./harness.js";

describe("client port over gRPC", { timeout: 60_000 }, () => {
  let h: Harness;
  let etcd: Etcd3;
  before(async () => {
    h = await startHarness({ maxRequestBytes: 64 * 1024 });
    etcd = new Etcd3({ hosts: `http://${h.hostPort}` });
  });
  after(async () => {
    etcd.close();
    await h.close();
  });

  it("serves Put, Range, DeleteRange and Txn to the etcd3 client", async () => {
    await etcd.put("greeting").value("hello");
    assert.equal(await etcd.get("greeting").string(), "hello");
    await etcd.put("greeting/a").value("1");
    assert.deepEqual(await etcd.getAll().prefix("greeting/").strings(), { "greeting/a": "1" });

    const txn = await etcd
      .if("greeting", "Value", "==", "hello")
      .then(etcd.put("greeting").value("bye"))
      .else(etcd.get("greeting"))
      .commit();
    assert.equal(txn.succeeded, true);
    assert.equal(await etcd.get("greeting").string(), "bye");

    const del = await etcd.delete().key("greeting");
    assert.equal(del.deleted, "1");
    assert.equal(await etcd.get("greeting").string(), null);
  });

  it("answers errors with etcd's gRPC code and exact text", async () => {
    const kv = kvClient(h.hostPort);
    try {
      await assert.rejects(unary(kv.range.bind(kv), RangeRequest.fromPartial({})), {
        code: 3,
        details: "etcdserver: key is not provided",
      });
      await assert.rejects(
        unary(kv.range.bind(kv), RangeRequest.fromPartial({ key: Buffer.from("k"), revision: 99 })),
        {
          code: 11,
          details: "etcdserver: mvcc: required revision is a future revision",
        },
      );
      await assert.rejects(
        unary(kv.put.bind(kv), {
          key: Buffer.from("k"),
          value: Buffer.alloc(0),
          lease: 42n,
          prevKv: false,
          ignoreValue: false,
          ignoreLease: false,
        }),
        { code: 5, details: "etcdserver: requested lease not found" },
      );
      const dup = {
        compare: [],
        success: [
          {
            requestPut: {
              key: Buffer.from("d"),
              value: Buffer.from("1"),
              lease: 0n,
              prevKv: false,
              ignoreValue: false,
              ignoreLease: false,
            },
          },
          {
            requestPut: {
              key: Buffer.from("d"),
              value: Buffer.from("2"),
              lease: 0n,
              prevKv: false,
              ignoreValue: false,
              ignoreLease: false,
            },
          },
        ],
        failure: [],
      };
      await assert.rejects(unary(kv.txn.bind(kv), dup), {
        code: 3,
        details: "etcdserver: duplicate key given in txn request",
      });
    } finally {
      kv.close();
    }
  });

  it("answers a request over --max-request-bytes with 'request is too large' and keeps serving", async () => {
    const kv = kvClient(h.hostPort);
    try {
      const big = {
        key: Buffer.from("big"),
        value: Buffer.alloc(65 * 1024, 1),
        lease: 0n,
        prevKv: false,
        ignoreValue: false,
        ignoreLease: false,
      };
      await assert.rejects(unary(kv.put.bind(kv), big), {
        code: 3,
        details: "etcdserver: request is too large",
      });
      // Beyond the gRPC receive limit (max + 512 KiB) the transport itself refuses it.
      const huge = { ...big, value: Buffer.alloc(700 * 1024, 1) };
      await assert.rejects(unary(kv.put.bind(kv), huge), { code: 8 });
      assert.equal(
        await etcd
          .put("after-big")
          .value("ok")
          .then(() => etcd.get("after-big").string()),
        "ok",
      );
    } finally {
      kv.close();
    }
  });

  it("round-trips a watch stream: created, puts, deletes with prev_kv, cancel", async () => {
    const watcher = await etcd.watch().key("watched").withPreviousKV().create();
    const seen: string[] = [];
    const done = new Promise<void>((resolve) => {
      watcher.on("put", (kv, prev) => {
        seen.push(`put ${kv.value.toString()} prev=${prev?.value.toString() ?? "-"}`);
      });
      watcher.on("delete", (kv, prev) => {
        seen.push(`delete ${kv.key.toString()} prev=${prev?.value.toString() ?? "-"}`);
        resolve();
      });
    });
    await etcd.put("watched").value("1");
    await etcd.put("watched").value("2");
    await etcd.put("not-watched").value("x");
    await etcd.delete().key("watched");
    await done;
    assert.deepEqual(seen, ["put 1 prev=-", "put 2 prev=1", "delete watched prev=2"]);
    await watcher.cancel();
  });

  it("keeps a lease alive over the LeaseKeepAlive stream; unknown leases answer TTL 0", async () => {
    const lease = etcd.lease(30, { autoKeepAlive: false });
    const id = await lease.grant();
    const resp = await lease.keepaliveOnce();
    assert.equal(resp.ID, id);
    assert.equal(resp.TTL, "30");
    await lease.put("leased").value("v");
    assert.equal(await etcd.get("leased").string(), "v");
    await lease.revoke();
    assert.equal(await etcd.get("leased").string(), null);

    const client = new LeaseClient(h.hostPort, credentials.createInsecure());
    try {
      const stream = client.leaseKeepAlive();
      const answers: { ID: bigint; TTL: number }[] = [];
      const ended = new Promise<void>((resolve, reject) => {
        stream.on("data", (r) => answers.push({ ID: r.ID, TTL: r.TTL }));
        stream.on("end", resolve);
        stream.on("error", reject);
      });
      stream.write({ ID: 777n });
      stream.write({ ID: 778n });
      stream.end();
      await ended;
      assert.deepEqual(answers, [
        { ID: 777n, TTL: 0 },
        { ID: 778n, TTL: 0 },
      ]);
    } finally {
      client.close();
    }
  });

  it("streams a snapshot in 32 KiB blobs with remaining_bytes and a trailing SHA-256", async () => {
    const data = Buffer.alloc(80 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    h.api.snapshotBytes = data;
    const client = new MaintenanceClient(h.hostPort, credentials.createInsecure());
    try {
      const messages: SnapshotResponse[] = [];
      await new Promise<void>((resolve, reject) => {
        const call = client.snapshot({});
        call.on("data", (m: SnapshotResponse) => messages.push(m));
        call.on("end", resolve);
        call.on("error", reject);
      });
      assert.deepEqual(
        messages.map((m) => [m.blob.length, m.remainingBytes]),
        [
          [32768, 49152],
          [32768, 16384],
          [16384, 0],
          [32, 0],
        ],
      );
      const body = Buffer.concat(messages.slice(0, -1).map((m) => m.blob));
      assert.ok(body.equals(data));
      assert.ok(messages[3].blob.equals(createHash("sha256").update(data).digest()));
    } finally {
      client.close();
    }
  });

  it("reports SERVING on grpc.health.v1.Health/Check", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const session = connect(`http://${h.hostPort}`);
      session.on("error", reject);
      const req = session.request({
        ":method": "POST",
        ":path": "/grpc.health.v1.Health/Check",
        "content-type": "application/grpc",
        te: "trailers",
      });
      const parts: Buffer[] = [];
      req.on("data", (c: Buffer) => parts.push(c));
      req.on("end", () => {
        session.close();
        const frame = Buffer.concat(parts);
        // 5-byte gRPC frame header, then field 1 (varint) = status.
        resolve(frame[5] === 0x08 ? frame[6] : -1);
      });
      req.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    assert.equal(status, 1);
  });

  it("survives a malformed protobuf frame and an unknown method", async () => {
    const answer = (path: string, payload: Buffer) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const session = connect(`http://${h.hostPort}`);
        session.on("error", reject);
        const req = session.request({
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
        });
        let headers: Record<string, unknown> = {};
        req.on("response", (hd) => {
          headers = { ...hd };
        });
        req.on("trailers", (t) => {
          headers = { ...headers, ...t };
        });
        req.resume();
        req.on("end", () => {
          session.close();
          resolve(headers);
        });
        const frame = Buffer.alloc(5);
        frame.writeUInt32BE(payload.length, 1);
        req.end(Buffer.concat([frame, payload]));
      });
    // Field 1 (bytes) claiming 100 bytes that never come.
    const broken = await answer("/etcdserverpb.KV/Range", Buffer.from([0x0a, 0x64, 0x41]));
    assert.notEqual(broken["grpc-status"], "0");
    const unknown = await answer("/etcdserverpb.KV/Nope", Buffer.alloc(0));
    assert.equal(unknown["grpc-status"], "12");
    assert.equal(
      await etcd
        .put("still")
        .value("up")
        .then(() => etcd.get("still").string()),
      "up",
    );
  });

  it("passes metadata-free unary calls from a plain generated client", async () => {
    const kv = new KVClient(h.hostPort, credentials.createInsecure());
    try {
      await etcd.put("plain").value("v");
      const resp = await unary<RangeRequest, RangeResponse>(
        (req, cb) => kv.range(req, new Metadata(), cb),
        RangeRequest.fromPartial({ key: Buffer.from("plain") }),
      );
      assert.equal(resp.kvs[0].value.toString(), "v");
      assert.equal(resp.header?.clusterId, h.api.clusterId);
    } finally {
      kv.close();
    }
  });
});
