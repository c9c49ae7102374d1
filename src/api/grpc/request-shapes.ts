// The request messages of etcd's gRPC methods as gogo protobuf's generated Unmarshal reads them (etcd
// 3.4's codec): each message's Go name, and per field number its Go field name and how it is read
// (v: a varint, b: length-delimited bytes or string, pv: a repeated varint, packed or not, m<Name>:
// an embedded message). Written from proto/ (test/api/request-shapes.test.ts compares them), less
// the hashedPassword fields of etcd 3.5, which etcd 3.4 reads as unknown fields.

/** How a field is read: a varint, bytes, a repeated varint (packed or not), or a message. */
export type FieldKind = "v" | "b" | "pv" | MessageShape;

export interface FieldShape {
  /** The Go field name gogo's errors name. */
  readonly goName: string;
  readonly kind: FieldKind;
}

export interface MessageShape {
  /** The Go type name gogo's errors name. */
  readonly name: string;
  readonly fields: ReadonlyMap<number, FieldShape>;
}

/** Each request message: `Name:number GoName kind,...`. */
export const shapeTexts: readonly string[] = [
  "RangeRequest:1 Key b,2 RangeEnd b,3 Limit v,4 Revision v,5 SortOrder v,6 SortTarget v,7 Serializable v,8 KeysOnly v,9 CountOnly v,10 MinModRevision v,11 MaxModRevision v,12 MinCreateRevision v,13 MaxCreateRevision v",
  "PutRequest:1 Key b,2 Value b,3 Lease v,4 PrevKv v,5 IgnoreValue v,6 IgnoreLease v",
  "DeleteRangeRequest:1 Key b,2 RangeEnd b,3 PrevKv v",
  "TxnRequest:1 Compare mCompare,2 Success mRequestOp,3 Failure mRequestOp",
  "Compare:1 Result v,2 Target v,3 Key b,4 Version v,5 CreateRevision v,6 ModRevision v,7 Value b,8 Lease v,64 RangeEnd b",
  "RequestOp:1 RequestRange mRangeRequest,2 RequestPut mPutRequest,3 RequestDeleteRange mDeleteRangeRequest,4 RequestTxn mTxnRequest",
  "CompactionRequest:1 Revision v,2 Physical v",
  "WatchRequest:1 CreateRequest mWatchCreateRequest,2 CancelRequest mWatchCancelRequest,3 ProgressRequest mWatchProgressRequest",
  "WatchCreateRequest:1 Key b,2 RangeEnd b,3 StartRevision v,4 ProgressNotify v,5 Filters pv,6 PrevKv v,7 WatchId v,8 Fragment v",
  "WatchCancelRequest:1 WatchId v",
  "WatchProgressRequest:",
  "LeaseGrantRequest:1 TTL v,2 ID v",
  "LeaseRevokeRequest:1 ID v",
  "LeaseKeepAliveRequest:1 ID v",
  "LeaseTimeToLiveRequest:1 ID v,2 Keys v",
  "LeaseLeasesRequest:",
  "MemberAddRequest:1 PeerURLs b,2 IsLearner v",
  "MemberRemoveRequest:1 ID v",
  "MemberUpdateRequest:1 ID v,2 PeerURLs b",
  "MemberListRequest:",
  "MemberPromoteRequest:1 ID v",
  "AlarmRequest:1 Action v,2 MemberID v,3 Alarm v",
  "StatusRequest:",
  "DefragmentRequest:",
  "HashRequest:",
  "HashKVRequest:1 Revision v",
  "SnapshotRequest:",
  "MoveLeaderRequest:1 TargetID v",
  "AuthEnableRequest:",
  "AuthDisableRequest:",
  "AuthenticateRequest:1 Name b,2 Password b",
  "AuthUserAddRequest:1 Name b,2 Password b,3 Options mUserAddOptions",
  "UserAddOptions:1 NoPassword v",
  "AuthUserGetRequest:1 Name b",
  "AuthUserListRequest:",
  "AuthUserDeleteRequest:1 Name b",
  "AuthUserChangePasswordRequest:1 Name b,2 Password b",
  "AuthUserGrantRoleRequest:1 User b,2 Role b",
  "AuthUserRevokeRoleRequest:1 Name b,2 Role b",
  "AuthRoleAddRequest:1 Name b",
  "AuthRoleGetRequest:1 Role b",
  "AuthRoleListRequest:",
  "AuthRoleDeleteRequest:1 Role b",
  "AuthRoleGrantPermissionRequest:1 Name b,2 Perm mPermission",
  "Permission:1 PermType v,2 Key b,3 RangeEnd b",
  "AuthRoleRevokePermissionRequest:1 Role b,2 Key b,3 RangeEnd b",
  "LockRequest:1 Name b,2 Lease v",
  "UnlockRequest:1 Key b",
  "CampaignRequest:1 Name b,2 Lease v,3 Value b",
  "ProclaimRequest:1 Leader mLeaderKey,2 Value b",
  "LeaderKey:1 Name b,2 Key b,3 Rev v,4 Lease v",
  "LeaderRequest:1 Name b",
  "ResignRequest:1 Leader mLeaderKey",
];

/** Each method's request message. */
export const requestOfMethod: readonly (readonly [string, string])[] = [
  ["/etcdserverpb.KV/Range", "RangeRequest"],
  ["/etcdserverpb.KV/Put", "PutRequest"],
  ["/etcdserverpb.KV/DeleteRange", "DeleteRangeRequest"],
  ["/etcdserverpb.KV/Txn", "TxnRequest"],
  ["/etcdserverpb.KV/Compact", "CompactionRequest"],
  ["/etcdserverpb.Watch/Watch", "WatchRequest"],
  ["/etcdserverpb.Lease/LeaseGrant", "LeaseGrantRequest"],
  ["/etcdserverpb.Lease/LeaseRevoke", "LeaseRevokeRequest"],
  ["/etcdserverpb.Lease/LeaseKeepAlive", "LeaseKeepAliveRequest"],
  ["/etcdserverpb.Lease/LeaseTimeToLive", "LeaseTimeToLiveRequest"],
  ["/etcdserverpb.Lease/LeaseLeases", "LeaseLeasesRequest"],
  ["/etcdserverpb.Cluster/MemberAdd", "MemberAddRequest"],
  ["/etcdserverpb.Cluster/MemberRemove", "MemberRemoveRequest"],
  ["/etcdserverpb.Cluster/MemberUpdate", "MemberUpdateRequest"],
  ["/etcdserverpb.Cluster/MemberList", "MemberListRequest"],
  ["/etcdserverpb.Cluster/MemberPromote", "MemberPromoteRequest"],
  ["/etcdserverpb.Maintenance/Alarm", "AlarmRequest"],
  ["/etcdserverpb.Maintenance/Status", "StatusRequest"],
  ["/etcdserverpb.Maintenance/Defragment", "DefragmentRequest"],
  ["/etcdserverpb.Maintenance/Hash", "HashRequest"],
  ["/etcdserverpb.Maintenance/HashKV", "HashKVRequest"],
  ["/etcdserverpb.Maintenance/Snapshot", "SnapshotRequest"],
  ["/etcdserverpb.Maintenance/MoveLeader", "MoveLeaderRequest"],
  ["/etcdserverpb.Auth/AuthEnable", "AuthEnableRequest"],
  ["/etcdserverpb.Auth/AuthDisable", "AuthDisableRequest"],
  ["/etcdserverpb.Auth/Authenticate", "AuthenticateRequest"],
  ["/etcdserverpb.Auth/UserAdd", "AuthUserAddRequest"],
  ["/etcdserverpb.Auth/UserGet", "AuthUserGetRequest"],
  ["/etcdserverpb.Auth/UserList", "AuthUserListRequest"],
  ["/etcdserverpb.Auth/UserDelete", "AuthUserDeleteRequest"],
  ["/etcdserverpb.Auth/UserChangePassword", "AuthUserChangePasswordRequest"],
  ["/etcdserverpb.Auth/UserGrantRole", "AuthUserGrantRoleRequest"],
  ["/etcdserverpb.Auth/UserRevokeRole", "AuthUserRevokeRoleRequest"],
  ["/etcdserverpb.Auth/RoleAdd", "AuthRoleAddRequest"],
  ["/etcdserverpb.Auth/RoleGet", "AuthRoleGetRequest"],
  ["/etcdserverpb.Auth/RoleList", "AuthRoleListRequest"],
  ["/etcdserverpb.Auth/RoleDelete", "AuthRoleDeleteRequest"],
  ["/etcdserverpb.Auth/RoleGrantPermission", "AuthRoleGrantPermissionRequest"],
  ["/etcdserverpb.Auth/RoleRevokePermission", "AuthRoleRevokePermissionRequest"],
  ["/v3lockpb.Lock/Lock", "LockRequest"],
  ["/v3lockpb.Lock/Unlock", "UnlockRequest"],
  ["/v3electionpb.Election/Campaign", "CampaignRequest"],
  ["/v3electionpb.Election/Proclaim", "ProclaimRequest"],
  ["/v3electionpb.Election/Leader", "LeaderRequest"],
  ["/v3electionpb.Election/Observe", "LeaderRequest"],
  ["/v3electionpb.Election/Resign", "ResignRequest"],
];

function build(): Map<string, MessageShape> {
  const shapes = new Map<string, { name: string; fields: Map<number, FieldShape> }>();
  const texts = shapeTexts.map((text) => text.split(":"));
  for (const [name] of texts) shapes.set(name, { name, fields: new Map() });
  for (const [name, fields] of texts) {
    const shape = shapes.get(name) as { fields: Map<number, FieldShape> };
    if (fields === "") continue;
    for (const field of fields.split(",")) {
      const [number, goName, kind] = field.split(" ");
      const sub = kind.startsWith("m") ? shapes.get(kind.slice(1)) : undefined;
      shape.fields.set(Number(number), { goName, kind: sub ?? (kind as "v" | "b" | "pv") });
    }
  }
  return shapes;
}

const shapes = build();

/** The request message of each method, by path. */
export const requestShapes: ReadonlyMap<string, MessageShape> = new Map(
  requestOfMethod.map(([path, name]) => [path, shapes.get(name) as MessageShape]),
);
