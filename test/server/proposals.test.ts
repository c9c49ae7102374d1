// Requests etcd 3.4 turns into raft entries even when they then fail or change nothing: every alarm action, GET
// included, lease grants and revokes (refused when applied, not before), and a txn with a nested txn even when it
// only reads. Each moves the raft index by one.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  AlarmRequest_AlarmAction,
  AlarmType,
  PutRequest,
  RangeRequest,
} from "../../src/gen/etcdserverpb/rpc.js";
import { EtcdServer } from "../../src/server/etcd-server.js";
import { singleMemberConfig } from "./single-member-config.js";

const dir = mkdtempSync(join(tmpdir(), "rxetcd-proposals-"));
let server: EtcdServer | undefined;
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function member(): Promise<EtcdServer> {
  if (server) return server;
  server = await EtcdServer.start(singleMemberConfig(dir));
  await server.waitReady();
  return server;
}

test("an alarm GET is a raft entry, and filters by alarm type only", async () => {
  const s = await member();
  {
    const get = (memberID: bigint, alarm: AlarmType) =>
      s.api.alarm({ action: AlarmRequest_AlarmAction.GET, memberID, alarm });
    const before = (await s.api.status()).raftIndex;
    assert.deepEqual((await get(0n, AlarmType.NONE)).alarms, []);
    assert.equal((await s.api.status()).raftIndex, before + 1, "the GET went through raft");

    await s.api.alarm({
      action: AlarmRequest_AlarmAction.ACTIVATE,
      memberID: s.memberId,
      alarm: AlarmType.NOSPACE,
    });
    const raised = [{ memberID: s.memberId, alarm: AlarmType.NOSPACE }];
    assert.deepEqual((await get(0n, AlarmType.NONE)).alarms, raised);
    // the member id of a GET selects nothing in etcd 3.4
    assert.deepEqual((await get(0x999n, AlarmType.NOSPACE)).alarms, raised);
    assert.deepEqual((await get(0n, AlarmType.CORRUPT)).alarms, []);
    await s.api.alarm({
      action: AlarmRequest_AlarmAction.DEACTIVATE,
      memberID: s.memberId,
      alarm: AlarmType.NOSPACE,
    });
    assert.deepEqual((await get(0n, AlarmType.NONE)).alarms, []);
  }
});

test("clearing an alarm that is not raised changes nothing, member 0 and alarm NONE included", async () => {
  const s = await member();
  for (const [memberID, alarm] of [
    [0n, AlarmType.NONE],
    [0n, AlarmType.NOSPACE],
    [s.memberId, AlarmType.CORRUPT],
  ] as const) {
    const before = (await s.api.status()).raftIndex;
    const r = await s.api.alarm({ action: AlarmRequest_AlarmAction.DEACTIVATE, memberID, alarm });
    assert.deepEqual(r.alarms, [], `${memberID}/${alarm}: nothing was cleared`);
    assert.equal((await s.api.status()).raftIndex, before + 1, `${memberID}/${alarm}: one raft entry`);
  }
  // the backend still commits: a key written now is on disk once the store says so
  await s.api.put(PutRequest.fromPartial({ key: Buffer.from("after-clear"), value: Buffer.from("v") }));
  await s.store.backend.whenCommitted();
  const got = await s.api.range(RangeRequest.fromPartial({ key: Buffer.from("after-clear") }));
  assert.equal(got.kvs[0]?.value.toString(), "v");
});

test("lease grants and revokes are refused when applied, so even a refused one is a raft entry", async () => {
  const s = await member();
  const index = async () => (await s.api.status()).raftIndex;
  const grows = async (what: string, request: () => Promise<unknown>, error: string) => {
    const before = await index();
    await assert.rejects(request(), { message: error }, what);
    assert.equal(await index(), before + 1, `${what}: one raft entry`);
  };
  await grows(
    "revoke of an unknown lease",
    () => s.api.leaseRevoke({ ID: 4242n }),
    "etcdserver: requested lease not found",
  );
  await s.api.leaseGrant({ ID: 77n, TTL: 3600 });
  await grows(
    "grant of a lease that exists",
    () => s.api.leaseGrant({ ID: 77n, TTL: 60 }),
    "etcdserver: lease already exists",
  );
  await grows(
    "grant over the largest TTL",
    () => s.api.leaseGrant({ ID: 78n, TTL: 9_000_000_001 }),
    "etcdserver: too large lease TTL",
  );
  await s.api.leaseRevoke({ ID: 77n });
});

test("a txn holding a nested txn is proposed even when it only reads; one of ranges alone is not", async () => {
  const s = await member();
  const range = {
    requestRange: {
      key: Buffer.from("a"),
      rangeEnd: Buffer.alloc(0),
      limit: 0,
      revision: 0,
      sortOrder: 0,
      sortTarget: 0,
      serializable: false,
      keysOnly: false,
      countOnly: false,
      minModRevision: 0,
      maxModRevision: 0,
      minCreateRevision: 0,
      maxCreateRevision: 0,
    },
  };
  const index = async () => (await s.api.status()).raftIndex;
  let before = await index();
  await s.api.txn({ compare: [], success: [range], failure: [range] });
  assert.equal(await index(), before, "ranges alone are served as a read");
  before = await index();
  const r = await s.api.txn({
    compare: [],
    success: [range, { requestTxn: { compare: [], success: [range], failure: [] } }],
    failure: [],
  });
  assert.equal(await index(), before + 1, "a nested txn makes it a proposal");
  assert.equal(r.succeeded, true);
  assert.equal(r.responses[1].responseTxn?.responses.length, 1);
});

test("while applies lag commits by more than 5000 entries, proposals fail as etcd 3.4's do: Unknown, too many requests", async () => {
  const s = await member();
  const node = s.raft.node;
  const put = PutRequest.fromPartial({ key: Buffer.from("lag"), value: Buffer.from("v") });
  // committed 5001 entries past the applied index, without a slow disk
  Object.defineProperty(node, "committedIndex", {
    configurable: true,
    get: () => s.appliedIndex.index + 5001,
  });
  try {
    await assert.rejects(s.api.put(put), (err: unknown) => {
      const e = err as { code: number; grpcMessage: string };
      assert.equal(e.code, 2, "etcd 3.4 sends this error without a gRPC status: code Unknown");
      assert.equal(e.grpcMessage, "etcdserver: too many requests");
      return true;
    });
  } finally {
    delete (node as { committedIndex?: number }).committedIndex;
  }
  // at a gap of exactly 5000 the proposal goes through
  Object.defineProperty(node, "committedIndex", {
    configurable: true,
    get: () => s.appliedIndex.index + 5000,
  });
  try {
    await s.api.put(put);
  } finally {
    delete (node as { committedIndex?: number }).committedIndex;
  }
});
