// Alarm requests as etcd 3.4 serves them: every action, GET included, is a raft entry applied in order, and GET
// lists the alarms of the type asked for (all for NONE) whichever member raised them.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { pino } from "pino";
import { AlarmRequest_AlarmAction, AlarmType } from "../../src/gen/etcdserverpb/rpc.js";
import { memberPaths } from "../../src/server/bootstrap.js";
import { EtcdServer } from "../../src/server/etcd-server.js";

const dir = mkdtempSync(join(tmpdir(), "rxetcd-alarm-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("an alarm GET is a raft entry, and filters by alarm type only", async () => {
  const s = await EtcdServer.start({
    paths: memberPaths(dir, ""),
    name: "default",
    initialCluster: new Map([["default", ["http://localhost:2380"]]]),
    initialClusterToken: "etcd-cluster",
    initialClusterState: "new",
    tickMs: 10,
    electionTicks: 10,
    snapshotCount: 100_000,
    snapshotCatchUpEntries: 5000,
    maxSnapshots: 5,
    maxTxnOps: 128,
    maxRequestBytes: 1.5 * 1024 * 1024,
    quotaBackendBytes: 0,
    preVote: false,
    clientUrls: ["http://localhost:2379"],
    logger: pino({ level: "silent" }),
  });
  try {
    await s.waitReady();
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
  } finally {
    await s.stop();
  }
});
