// Alarms survive a restart as they were raised, whatever their type: etcd 3.4 stores an alarm type it
// does not know (a negative one, one above CORRUPT) and lists it back, and the operator's disarm
// (a DEACTIVATE of each listed alarm) clears them without harming the store.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  type AlarmMember,
  AlarmRequest_AlarmAction,
  AlarmType,
  PutRequest,
  RangeRequest,
} from "../../src/gen/etcdserverpb/rpc.js";
import { EtcdServer } from "../../src/server/etcd-server.js";
import { singleMemberConfig } from "./single-member-config.js";

const dir = mkdtempSync(join(tmpdir(), "rxetcd-alarm-records-"));
let server: EtcdServer | undefined;
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function start(): Promise<EtcdServer> {
  server = await EtcdServer.start(singleMemberConfig(dir));
  await server.waitReady();
  return server;
}

const listed = async (s: EtcdServer): Promise<AlarmMember[]> =>
  (await s.api.alarm({ action: AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: AlarmType.NONE })).alarms;

const order = (a: AlarmMember[]) =>
  [...a].sort((x, y) => (x.memberID === y.memberID ? x.alarm - y.alarm : x.memberID < y.memberID ? -1 : 1));

test("alarms of unknown types are listed as raised after a restart, and disarming them keeps the store committing", async () => {
  let s = await start();
  const raised: AlarmMember[] = [
    { memberID: 5n, alarm: 256 as AlarmType },
    { memberID: 5n, alarm: -1 as AlarmType },
    { memberID: 0n, alarm: 0x01000000 as AlarmType },
    { memberID: s.memberId, alarm: 7 as AlarmType },
  ];
  for (const a of raised) await s.api.alarm({ action: AlarmRequest_AlarmAction.ACTIVATE, ...a });
  assert.deepEqual(order(await listed(s)), order(raised));
  await s.store.backend.whenCommitted();
  await s.stop();
  server = undefined;

  s = await start();
  assert.deepEqual(order(await listed(s)), order(raised), "the same alarms after the restart");
  // what `etcdctl alarm disarm` sends: a DEACTIVATE of each listed alarm
  for (const a of await listed(s)) {
    const r = await s.api.alarm({ action: AlarmRequest_AlarmAction.DEACTIVATE, ...a });
    assert.deepEqual(r.alarms, [a]);
  }
  assert.deepEqual(await listed(s), []);
  await s.api.put(PutRequest.fromPartial({ key: Buffer.from("after-disarm"), value: Buffer.from("v") }));
  await s.store.backend.whenCommitted();
  const got = await s.api.range(RangeRequest.fromPartial({ key: Buffer.from("after-disarm") }));
  assert.equal(got.kvs[0]?.value.toString(), "v");
});
