// etcd keys a raised alarm by its AlarmMember protobuf (gogo's bytes) in the `alarm` bucket, with an
// empty value. The key is built here, whatever the alarm type: etcd 3.4 stores types it does not know
// (a negative one or one above CORRUPT) and lists them back.
import { AlarmMember, type AlarmType } from "../gen/etcdserverpb/rpc.js";

/** The `alarm` record key of member `memberID`'s alarm `alarm` (empty for member 0 with NONE). */
export function alarmRecordKey(memberID: bigint, alarm: AlarmType): Buffer {
  return Buffer.from(AlarmMember.encode({ memberID, alarm }).finish());
}

/** The alarm an `alarm` record key stands for. */
export function alarmOfRecordKey(key: Buffer): AlarmMember {
  return AlarmMember.decode(key);
}
