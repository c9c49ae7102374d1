import assert from "node:assert/strict";
import { test } from "node:test";
import { InternalRaftRequest, type RequestHeader } from "../../src/gen/etcdserverpb/raft_internal.js";
import type {
  Compare,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from "../../src/gen/etcdserverpb/rpc.js";
import { decodePutEntry, encodeProposal, encodeRaftRequest } from "../../src/server/raft-request.js";
import { mulberry32, randomBytes, withSeed } from "../seeded-random.js";

/** The bytes the general path gives: fromPartial's full copy, then the generated encoder. */
function viaFromPartial(req: Partial<InternalRaftRequest>, header: RequestHeader): Buffer {
  return Buffer.from(
    InternalRaftRequest.encode(InternalRaftRequest.fromPartial({ ...req, header })).finish(),
  );
}

test("a put is encoded to the same bytes as fromPartial + encode (random puts and headers)", () =>
  withSeed("SEED", "test/server/raft-request.test.ts", (seed) => {
    const next = mulberry32(seed);
    for (let i = 0; i < 2000; i++) {
      const put: PutRequest = {
        key: randomBytes(next, 40),
        // values across the 128-byte and 16 KiB length-prefix boundaries
        value: randomBytes(next, next() < 0.1 ? 20_000 : 300),
        lease: next() < 0.5 ? 0n : BigInt(Math.floor(next() * 2 ** 53)) * 1024n,
        prevKv: next() < 0.5,
        ignoreValue: next() < 0.2,
        ignoreLease: next() < 0.2,
      };
      const names = [
        "",
        `user-${Math.floor(next() * 1000)}`,
        "ü-用户-\u{1f600}",
        "lone \ud800 half",
        "x".repeat(200),
      ];
      const header: RequestHeader = {
        ID: BigInt.asUintN(64, BigInt(Math.floor(next() * 2 ** 53)) << 11n),
        username: names[Math.floor(next() * names.length)],
        authRevision: next() < 0.5 ? 0 : Math.floor(next() * 1e6),
      };
      const req: Partial<InternalRaftRequest> =
        next() < 0.5 ? { put } : { put, header: { ID: 0n, username: header.username, authRevision: 7 } };
      const got = encodeRaftRequest(req, header);
      assert.deepEqual(got, viaFromPartial(req, header), `request ${i}`);
      assert.deepEqual(InternalRaftRequest.decode(got).put, put, `request ${i}`);
      // a proposal lives in the raft log: in the proposals' blocks (byte-slab.test.ts), not in Node's pool
      assert.notEqual(got.buffer.byteLength, Buffer.poolSize, `request ${i}`);
    }
  }));

test("any other request, or a put with more beside it, is encoded as fromPartial + encode gives it", () => {
  const header: RequestHeader = { ID: 77n, username: "alice", authRevision: 3 };
  const put: PutRequest = {
    key: Buffer.from("k"),
    value: Buffer.from("v"),
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  };
  const requests: Partial<InternalRaftRequest>[] = [
    { deleteRange: { key: Buffer.from("a"), rangeEnd: Buffer.from("b"), prevKv: true } },
    { compaction: { revision: 5, physical: false } },
    { leaseRevoke: { ID: 9n } },
    // an ID beside the put: the put alone path must not drop it
    { put, ID: 12n },
    { put, leaseRevoke: { ID: 9n } },
  ];
  for (const req of requests) {
    const got = encodeRaftRequest(req, header);
    assert.deepEqual(got, viaFromPartial(req, header), JSON.stringify(Object.keys(req)));
    assert.deepEqual(InternalRaftRequest.decode(got).header, header);
  }
  // the ID beside the put survives
  assert.equal(InternalRaftRequest.decode(encodeRaftRequest({ put, ID: 12n }, header)).ID, 12n);
});

test("one encoding does not leak into the next: after a refused request, and across large and small ones", () => {
  const header: RequestHeader = { ID: 5n, username: "", authRevision: 0 };
  const put = (value: Buffer, lease = 0n): PutRequest => ({
    key: Buffer.from("key"),
    value,
    lease,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  });
  const sequence: Partial<InternalRaftRequest>[] = [
    { put: put(Buffer.alloc(10, 1)) },
    { put: put(Buffer.alloc(100_000, 2)) },
    { put: put(Buffer.alloc(3, 3)) },
    { deleteRange: { key: Buffer.alloc(80_000, 4), rangeEnd: Buffer.alloc(0), prevKv: false } },
    { compaction: { revision: 5, physical: true } },
  ];
  for (const req of sequence) assert.deepEqual(encodeRaftRequest(req, header), viaFromPartial(req, header));
  // a lease past int64 is refused by the encoder, half-way through the request
  assert.throws(() => encodeRaftRequest({ put: put(Buffer.alloc(5), 2n ** 63n) }, header), /too large/);
  assert.throws(() => encodeRaftRequest({ leaseRevoke: { ID: 2n ** 64n } }, header), /too large/);
  // a header the generated encoder refuses, beside a put
  assert.throws(
    () => encodeRaftRequest({ put: put(Buffer.alloc(5)) }, { ...header, authRevision: -1 }),
    /too large/,
  );
  assert.throws(
    () => encodeRaftRequest({ put: put(Buffer.alloc(5)) }, { ...header, ID: 2n ** 64n }),
    /too large/,
  );
  for (const req of sequence) assert.deepEqual(encodeRaftRequest(req, header), viaFromPartial(req, header));
});

test("a txn or a delete is encoded to the same bytes as fromPartial + encode (random requests)", () =>
  withSeed("SEED", "test/server/raft-request.test.ts", (seed) => {
    const next = mulberry32(seed);
    const bool = () => next() < 0.5;
    const int = (max: number) => Math.floor(next() * max);
    const bytes = () => randomBytes(next, 12);
    const range = (): RangeRequest => ({
      key: bytes(),
      rangeEnd: bytes(),
      limit: int(100),
      revision: int(1e6),
      sortOrder: int(3),
      sortTarget: int(5),
      serializable: bool(),
      keysOnly: bool(),
      countOnly: bool(),
      minModRevision: int(1e6),
      maxModRevision: int(1e6),
      minCreateRevision: int(1e6),
      maxCreateRevision: int(1e6),
    });
    const put = (): PutRequest => ({
      key: bytes(),
      value: randomBytes(next, 300),
      lease: bool() ? 0n : BigInt(int(2 ** 40)),
      prevKv: bool(),
      ignoreValue: bool(),
      ignoreLease: bool(),
    });
    const del = (): DeleteRangeRequest => ({ key: bytes(), rangeEnd: bytes(), prevKv: bool() });
    const compare = (): Compare => {
      const c: Compare = { result: int(4), target: int(5), key: bytes(), rangeEnd: bytes() };
      // one of the target union, or none
      const pick = int(6);
      if (pick === 0) c.version = BigInt(int(1e6));
      else if (pick === 1) c.createRevision = BigInt(int(1e6));
      else if (pick === 2) c.modRevision = BigInt(int(2 ** 50));
      else if (pick === 3) c.value = bytes();
      else if (pick === 4) c.lease = BigInt(int(1e6));
      return c;
    };
    const txn = (depth: number): TxnRequest => {
      const op = (): RequestOp => {
        const pick = int(depth > 0 ? 4 : 3);
        if (pick === 0) return { requestRange: range() };
        if (pick === 1) return { requestPut: put() };
        if (pick === 2) return { requestDeleteRange: del() };
        return { requestTxn: txn(depth - 1) };
      };
      const ops = (n: number) => Array.from({ length: int(n) }, op);
      return { compare: Array.from({ length: int(3) }, compare), success: ops(4), failure: ops(3) };
    };
    for (let i = 0; i < 1000; i++) {
      const header: RequestHeader = {
        ID: BigInt(int(2 ** 53)),
        username: bool() ? "" : `user-${int(1000)}`,
        authRevision: int(100),
      };
      const req: Partial<InternalRaftRequest> = bool() ? { txn: txn(2) } : { deleteRange: del() };
      if (bool()) req.header = { ID: 0n, username: "someone", authRevision: 1 };
      const got = encodeRaftRequest(req, header);
      assert.deepEqual(got, viaFromPartial(req, header), `request ${i}`);
    }
  }));

test("a put's proposal carries the request its bytes decode to, or none when that is not certain (random puts)", () =>
  withSeed("SEED", "test/server/raft-request.test.ts", (seed) => {
    const next = mulberry32(seed);
    let carried = 0;
    for (let i = 0; i < 2000; i++) {
      const put: PutRequest = {
        key: randomBytes(next, 40),
        value: randomBytes(next, next() < 0.1 ? 20_000 : 300),
        lease: next() < 0.5 ? 0n : BigInt(Math.floor(next() * 2 ** 53)),
        prevKv: next() < 0.5,
        ignoreValue: next() < 0.2,
        ignoreLease: next() < 0.2,
      };
      const names = [
        "",
        `user-${Math.floor(next() * 1000)}`,
        "ü-用户-\u{1f600}",
        "lone \ud800 half",
        "\udc00",
      ];
      const username = names[Math.floor(next() * names.length)];
      const header: RequestHeader = {
        ID: BigInt.asUintN(64, BigInt(Math.floor(next() * 2 ** 53)) << 11n),
        username,
        authRevision: next() < 0.5 ? 0 : Math.floor(next() * 1e6),
      };
      const { data, decoded } = encodeProposal({ put }, header);
      const lone = username.includes("\ud800") || username.includes("\udc00");
      assert.equal(decoded === undefined, lone, `seed ${seed}, request ${i}`);
      if (decoded === undefined) continue;
      carried++;
      // every field reads as the decoder's does (the proposal's own object keeps only the put and header)
      const expected = InternalRaftRequest.decode(data);
      for (const field of Object.keys(expected) as (keyof InternalRaftRequest)[])
        assert.deepEqual(decoded[field], expected[field], `seed ${seed}, request ${i}, ${field}`);
      // the bytes are what was encoded from the same request
      assert.deepEqual(data, encodeRaftRequest({ put }, header), `seed ${seed}, request ${i}`);
    }
    assert.ok(carried > 1000, `seed ${seed}: only ${carried} proposals carried their request`);
  }));

test("a proposal carries no request where decoding might differ: other requests, and puts the generated code encodes", () => {
  const header: RequestHeader = { ID: 7n, username: "bob", authRevision: 1 };
  const put: PutRequest = {
    key: Buffer.from("k"),
    value: Buffer.from("v"),
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  };
  const requests: Partial<InternalRaftRequest>[] = [
    { deleteRange: { key: Buffer.from("a"), rangeEnd: Buffer.from("b"), prevKv: true } },
    { compaction: { revision: 5, physical: false } },
    { put, ID: 12n },
    // a negative lease is written by the generated encoder
    { put: { ...put, lease: -5n } },
    // bytes that are not Buffers decode to Buffers
    { put: { ...put, key: new Uint8Array([1, 2]) as Buffer } },
  ];
  for (const req of requests) {
    const { data, decoded } = encodeProposal(req, header);
    assert.equal(decoded, undefined, JSON.stringify(Object.keys(req)));
    assert.deepEqual(data, viaFromPartial(req, header));
  }
  assert.notEqual(encodeProposal({ put }, header).decoded, undefined);
});

test("a put entry decoded by hand reads as the generated decoder's, and other bytes are left to it (random puts, mutated)", () =>
  withSeed("SEED", "test/server/raft-request.test.ts", (seed) => {
    const next = mulberry32(seed);
    const fields = Object.keys(InternalRaftRequest.fromPartial({})) as (keyof InternalRaftRequest)[];
    let byHand = 0;
    let mutatedByHand = 0;
    for (let i = 0; i < 3000; i++) {
      const put: PutRequest = {
        key: randomBytes(next, 40),
        value: randomBytes(next, next() < 0.05 ? 5000 : 300),
        lease: next() < 0.5 ? 0n : BigInt(Math.floor(next() * 2 ** 53)),
        prevKv: next() < 0.5,
        ignoreValue: next() < 0.2,
        ignoreLease: next() < 0.2,
      };
      const ids = [0n, 1n, BigInt(Math.floor(next() * 2 ** 53)), 2n ** 63n + 5n, 2n ** 64n - 1n];
      const names = ["", `user-${Math.floor(next() * 1000)}`, "ü-用户", "lone \ud800 half"];
      const header: RequestHeader = {
        ID: ids[Math.floor(next() * ids.length)],
        username: names[Math.floor(next() * names.length)],
        authRevision: next() < 0.5 ? 0 : Math.floor(next() * 2 ** 40),
      };
      const { data } = encodeProposal({ put }, header);
      const check = (bytes: Uint8Array, what: string): boolean => {
        let expected: InternalRaftRequest | undefined;
        try {
          expected = InternalRaftRequest.decode(bytes);
        } catch {
          expected = undefined;
        }
        const got = decodePutEntry(bytes);
        if (got === undefined) return false;
        assert.ok(
          expected !== undefined,
          `seed ${seed}, ${what}: decoded by hand, refused by the generated decoder`,
        );
        for (const field of fields)
          assert.deepEqual(got[field], expected[field], `seed ${seed}, ${what}, field ${field}`);
        return true;
      };
      if (check(data, `request ${i}`)) byHand++;
      // the same bytes mutated: a changed byte, cut short, or a byte more
      const mutated = Buffer.from(data);
      const pick = next();
      const at = Math.floor(next() * mutated.length);
      if (pick < 0.6) mutated[at] = Math.floor(next() * 256);
      const bytes =
        pick < 0.6
          ? mutated
          : pick < 0.8
            ? mutated.subarray(0, at)
            : Buffer.concat([mutated, Buffer.from([Math.floor(next() * 256)])]);
      if (check(bytes, `request ${i}, mutated at ${at}`)) mutatedByHand++;
    }
    assert.ok(byHand > 2500, `seed ${seed}: only ${byHand} put entries decoded by hand`);
    assert.ok(mutatedByHand > 100, `seed ${seed}: only ${mutatedByHand} mutated entries decoded by hand`);
  }));
