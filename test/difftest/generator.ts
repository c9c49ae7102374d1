// The differential tester's operations and their seeded generator. An operation is plain data: revisions, leases
// and watches are named symbolically (relative to the current revision, by order of grant, by order of creation)
// and turned into a concrete request per server by the runner, so any subset of a sequence still means something
// (that is what minimisation removes operations from) and a seed always yields the same sequence.
import { Prng } from "../raft/sim/prng.js";

/** Bytes as a latin1 string (one char per byte), or a large run of one byte. */
export type Bytes = string | { size: number; fill: string };

/** A revision: a literal number, or relative to the current revision (`{ rel: -2 }` = two revisions ago). */
export type Rev = number | { rel: number };

/**
 * A lease: the k-th lease granted so far (modulo the number granted; 0 when none was), a literal id, or the session
 * lease the server granted for the last Lock or Campaign sent without one (0 when there is none).
 */
export type LeaseRef = { granted: number } | { id: string } | { session: true };

/** A lock key: the k-th key a Lock answered (modulo their number; empty when none did), or literal bytes. */
export type LockRef = { acquired: number } | { literal: Bytes };

/** The key a Lock or Campaign of this name with this lease (an id the client chose) puts: name, "/", the id in hex. */
export function keyOfLease(name: string, lease: string): string {
  return `${name}/${BigInt(lease).toString(16)}`;
}

/**
 * A leader key for Proclaim and Resign: the k-th one a Campaign answered (modulo their number), now and then with
 * one field changed (a key, revision or lease that is not the leader's); or none at all (etcd refuses that).
 */
export type LeaderRef =
  | { won: number; change?: "key" | "rev" | "lease" | "name" | "noLease" }
  /** The last leader key a Campaign with this lease id answered (a waiter's, once it won). */
  | { byLease: string }
  | { missing: true };

/** A member: the one serving, the k-th one added (modulo their number; id 0 when none was), or an id. */
export type MemberRef = { self: true } | { added: number } | { id: string };

/** A watch of a stream: the k-th watch created on it (modulo the number created), or a literal watch id. */
export type WatchRef = { created: number } | { id: number };

export type SortOrder = 0 | 1 | 2 | 3;
export type SortTarget = 0 | 1 | 2 | 3 | 4;

export interface RangeSpec {
  key: Bytes;
  rangeEnd: Bytes;
  limit: number;
  revision: Rev;
  sortOrder: SortOrder;
  sortTarget: SortTarget;
  serializable: boolean;
  keysOnly: boolean;
  countOnly: boolean;
  minModRevision: Rev;
  maxModRevision: Rev;
  minCreateRevision: Rev;
  maxCreateRevision: Rev;
}

export interface PutSpec {
  key: Bytes;
  value: Bytes;
  lease: LeaseRef | null;
  prevKv: boolean;
  ignoreValue: boolean;
  ignoreLease: boolean;
}

export interface DeleteSpec {
  key: Bytes;
  rangeEnd: Bytes;
  prevKv: boolean;
}

/** Compare targets: 0 version, 1 create, 2 mod, 3 value, 4 lease; results: 0 =, 1 >, 2 <, 3 !=. */
export interface CompareSpec {
  target: 0 | 1 | 2 | 3 | 4;
  result: 0 | 1 | 2 | 3;
  key: Bytes;
  rangeEnd: Bytes;
  /** Which member of the target union is set; usually the one the target names. */
  union:
    | { version: number }
    | { createRevision: Rev }
    | { modRevision: Rev }
    | { value: Bytes }
    | { lease: LeaseRef };
}

export type RequestOpSpec =
  | { range: RangeSpec }
  | { put: PutSpec }
  | { deleteRange: DeleteSpec }
  | { txn: TxnSpec }
  | { empty: true };

export interface TxnSpec {
  compare: CompareSpec[];
  success: RequestOpSpec[];
  failure: RequestOpSpec[];
}

export interface WatchCreateSpec {
  key: Bytes;
  rangeEnd: Bytes;
  startRevision: Rev;
  filters: number[];
  prevKv: boolean;
  progressNotify: boolean;
  fragment: boolean;
  watchId: number;
}

/**
 * The Auth service's calls (auth itself stays disabled: enabling it would refuse every later call of the run on both
 * servers alike, and hide everything else).
 */
export type AuthMethod =
  | "userAdd"
  | "userGet"
  | "userList"
  | "userDelete"
  | "userChangePassword"
  | "userGrantRole"
  | "userRevokeRole"
  | "roleAdd"
  | "roleGet"
  | "roleList"
  | "roleDelete"
  | "roleGrantPermission"
  | "roleRevokePermission"
  | "authenticate"
  | "authEnable"
  | "authDisable";

/** The arguments of an Auth call; each method reads the ones it needs. */
export interface AuthArgs {
  user: string;
  role: string;
  password: string;
  noPassword: boolean;
  /** READ 0, WRITE 1, READWRITE 2; now and then a type etcd does not know. */
  permType: number;
  key: Bytes;
  rangeEnd: Bytes;
}

/** One operation, sent as the user `as` names (with auth enabled; none: without a token). */
export type Op = OpBody & { as?: string };

type OpBody =
  | { kind: "range"; req: RangeSpec }
  | { kind: "put"; req: PutSpec }
  | { kind: "deleteRange"; req: DeleteSpec }
  | { kind: "txn"; req: TxnSpec }
  | { kind: "compact"; revision: Rev; physical: boolean }
  | { kind: "leaseGrant"; ttl: number; id: string }
  | { kind: "leaseRevoke"; lease: LeaseRef }
  | { kind: "leaseKeepAlive"; lease: LeaseRef }
  | { kind: "leaseTimeToLive"; lease: LeaseRef; keys: boolean }
  | { kind: "leaseLeases" }
  /** Grants a short lease, attaches keys to it and waits until both servers have let it expire. */
  | { kind: "leaseExpire"; id: string; ttl: number; keys: string[] }
  | { kind: "watchCreate"; stream: number; req: WatchCreateSpec }
  | { kind: "watchCancel"; stream: number; watch: WatchRef }
  | { kind: "watchProgress"; stream: number }
  | { kind: "status" }
  | { kind: "hashKv"; revision: Rev }
  | { kind: "alarmList" }
  | { kind: "auth"; method: AuthMethod; args: AuthArgs }
  /**
   * v3lock and v3election. A call that may wait (Lock on a held lock, Campaign on a held election) carries a
   * deadline: both servers answer it, or both let the client's deadline pass and give up their place in the queue.
   * `lease` null sends none (the server grants a session lease of 60 s).
   */
  | { kind: "lock"; name: Bytes; lease: LeaseRef | null; deadlineMs: number }
  | { kind: "unlock"; key: LockRef }
  | { kind: "campaign"; name: Bytes; lease: LeaseRef | null; value: Bytes; deadlineMs: number }
  | { kind: "proclaim"; leader: LeaderRef; value: Bytes }
  | { kind: "leader"; name: Bytes }
  | { kind: "resign"; leader: LeaderRef }
  /** Observe for a while (a stream that ends only when the client leaves): every answer within the window. */
  | { kind: "observe"; name: Bytes; windowMs: number }
  /**
   * A Lock or Campaign with no deadline, held as pending: its answer is compared whenever it comes (after the
   * operation that released it: an Unlock, a Resign, the revoke or expiry of the holder's lease). Its lease is one
   * the client named, so that its key is the same on both servers. `zeroTimeout` sends it through the gateway with
   * Grpc-Timeout: 0m whatever the run's transport: etcd's grpc-gateway sets no deadline for a zero timeout. (Over
   * gRPC a zero grpc-timeout is a race inside etcd, see services.test.ts: it is not generated.)
   */
  | { kind: "lockWait"; name: string; lease: string; zeroTimeout: boolean }
  | { kind: "campaignWait"; name: string; lease: string; value: Bytes; zeroTimeout: boolean }
  /** An Observe held open across the operations that follow: its answers are compared as they come. */
  | { kind: "observeOpen"; name: Bytes }
  /**
   * The client of the n-th waiter sent leaves while it waits: the server gives up its place in the queue (a delete,
   * or a Resign), as it does when a deadline passes.
   */
  | { kind: "waiterLeave"; which: number }
  /** Closes the k-th Observe opened (modulo their number). */
  | { kind: "observeClose"; which: number }
  /** Waits until both servers have let a lease expire (one granted with a short TTL earlier). */
  | { kind: "leaseAwaitExpiry"; lease: string }
  /** The cluster service on the one member. Peer URLs name no member that ever starts (or are not URLs). */
  | { kind: "memberList" }
  | { kind: "memberAdd"; peerUrls: string[]; learner: boolean }
  | { kind: "memberUpdate"; member: MemberRef; peerUrls: string[] }
  | { kind: "memberRemove"; member: MemberRef }
  | { kind: "memberPromote"; member: MemberRef }
  | { kind: "hash" }
  | { kind: "defragment" }
  | { kind: "moveLeader"; member: MemberRef }
  | { kind: "snapshot" };

/** Watch streams each server gets (the same number on both). */
export const WATCH_STREAMS = 3;

/** etcd's default --max-request-bytes. */
export const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** What a gRPC server of etcd accepts at most (max-request-bytes plus 512 KiB). */
export const MAX_RECV_BYTES = MAX_REQUEST_BYTES + 512 * 1024;

// A small key space, so that ranges, deletes, compares and duplicate checks keep meeting each other; it includes
// the smallest and largest bytes.
const KEYS = [
  "a",
  "a/1",
  "a/2",
  "a/3",
  "b",
  "b/1",
  "c",
  "d",
  "foo",
  "foo/bar",
  "z",
  "\x00",
  "\x01",
  "\xff",
  "\xff\xff",
];
// Users and roles: a few that keep meeting each other, root (which etcd treats specially), the empty name, one
// longer than an LMDB key (a bbolt key holds it), and a name of bytes that are not UTF-8 beside the one of U+FFFD
// in their place (two names to etcd: "\udcff" is how the generated codecs carry the byte 0xff, see raw-string.ts;
// through the gateway, JSON turns it into U+FFFD on both servers).
const USERS = ["root", "alice", "bob", "carol", "", `b${"o".repeat(2000)}`, "d\udcffe", "d\ufffde"];
const ROLES = ["root", "reader", "writer", "", `r${"e".repeat(2000)}`, "w\udcff", "w\ufffd"];
const PASSWORDS = ["", "pw", "secret"];
const AUTH_METHODS: ReadonlyArray<readonly [AuthMethod, number]> = [
  ["userAdd", 4],
  ["userGet", 2],
  ["userList", 1],
  ["userDelete", 1],
  ["userChangePassword", 1],
  ["userGrantRole", 3],
  ["userRevokeRole", 1.5],
  ["roleAdd", 3],
  ["roleGet", 2],
  ["roleList", 1],
  ["roleDelete", 1],
  ["roleGrantPermission", 4],
  ["roleRevokePermission", 2],
  ["authenticate", 1],
  ["authDisable", 0.3],
];
// Names of locks and elections: some of their own, some in the users' key ranges of an auth run, the empty name and
// the smallest and largest bytes.
const LOCK_NAMES = ["lk", "lk2", "el", "a", "b", "z", "", "\x00", "\xff"];
/**
 * Peer URLs of members added, none of which ever starts: a port nobody listens on, an address nobody answers, and
 * strings etcd refuses as peer URLs; "self" stands for the serving member's own peer URL (each side's).
 */
const PEER_URLS = [
  "http://127.0.0.1:1",
  "http://127.0.0.1:9",
  "https://127.0.0.1:1",
  "http://localhost:1",
  "http://192.0.2.1:2380",
  "self",
];
const BAD_PEER_URLS = [
  "",
  "127.0.0.1:1",
  "foo",
  "http://127.0.0.1",
  "unix://x",
  "http://127.0.0.1:1/p",
  "http://a b:1",
];
const VALUES = ["", "v", "1", "22", "hello", "\x00", "\xff\xfe", "value-that-is-a-bit-longer"];

/** The smallest key greater than every key with this prefix ("" when there is none), as clientv3's GetPrefixRangeEnd. */
export function prefixEnd(key: string): string {
  for (let i = key.length - 1; i >= 0; i--) {
    const c = key.charCodeAt(i);
    if (c < 0xff) return key.slice(0, i) + String.fromCharCode(c + 1);
  }
  return "\x00";
}

/**
 * etcd 3.4 checks a txn's ignore_value/ignore_lease puts against the store as it was before the txn, then panics
 * ("unexpected error during txn") when such a put finds its key deleted by an earlier operation of the same txn: the
 * member goes down and replays the entry into the same panic on restart. Nothing can be compared there, so a put
 * that follows a delete anywhere earlier in the txn (nested txns included) keeps neither flag.
 */
export function withoutIgnoreAfterDelete(txn: TxnSpec): TxnSpec {
  const walk = (ops: RequestOpSpec[], deletedBefore: boolean): [RequestOpSpec[], boolean] => {
    let deleted = deletedBefore;
    const out = ops.map((op): RequestOpSpec => {
      if ("deleteRange" in op) deleted = true;
      if ("put" in op && deleted && (op.put.ignoreValue || op.put.ignoreLease))
        return { put: { ...op.put, ignoreValue: false, ignoreLease: false } };
      if ("txn" in op) {
        const [success, deletedInSuccess] = walk(op.txn.success, deleted);
        const [failure, deletedInFailure] = walk(op.txn.failure, deleted);
        deleted = deletedInSuccess || deletedInFailure;
        return { txn: { ...op.txn, success, failure } };
      }
      return op;
    });
    return [out, deleted];
  };
  return { ...txn, success: walk(txn.success, false)[0], failure: walk(txn.failure, false)[0] };
}

/** How often each kind of operation is picked (relative weights). */
const WEIGHTS: ReadonlyArray<readonly [Op["kind"] | "bigPuts" | "manyOps" | "waiter", number]> = [
  ["range", 20],
  ["put", 22],
  ["deleteRange", 6],
  ["txn", 16],
  ["compact", 2],
  ["leaseGrant", 3],
  ["leaseRevoke", 1.5],
  ["leaseKeepAlive", 1.5],
  ["leaseTimeToLive", 2],
  ["leaseLeases", 0.5],
  ["leaseExpire", 0.25],
  ["watchCreate", 7],
  ["watchCancel", 2],
  ["watchProgress", 1.5],
  ["status", 0.7],
  ["hashKv", 1],
  ["alarmList", 0.3],
  ["auth", 5],
  ["bigPuts", 0.15],
  ["manyOps", 0.4],
  ["lock", 1],
  ["unlock", 0.6],
  ["campaign", 0.8],
  ["proclaim", 0.5],
  ["leader", 0.5],
  ["resign", 0.4],
  ["observe", 0.35],
  ["memberList", 0.3],
  ["memberAdd", 0.4],
  ["memberUpdate", 0.25],
  ["memberRemove", 0.25],
  ["memberPromote", 0.2],
  ["hash", 0.25],
  ["defragment", 0.15],
  ["moveLeader", 0.2],
  ["snapshot", 0.15],
  ["waiter", 0.5],
  ["observeOpen", 0.3],
  ["observeClose", 0.15],
];

export interface GeneratorOptions {
  /** Leave out operations that wait for a lease to expire (each takes seconds). */
  noExpiry?: boolean;
  /**
   * Auth enabled: the run starts by adding root and three users with roles of their own and enabling auth (the
   * first `AUTH_SETUP.length` operations), then sends each operation as one of them or without a token.
   */
  auth?: boolean;
}

/** The password each user of an auth run is given (a user `as` names authenticates with it). */
export const PASSWORD_OF: Readonly<Record<string, string>> = {
  root: "rootpw",
  alice: "alicepw",
  bob: "bobpw",
  carol: "carolpw",
};

const setupArgs: AuthArgs = {
  user: "",
  role: "",
  password: "",
  noPassword: false,
  permType: 0,
  key: "",
  rangeEnd: "",
};
const setup = (method: AuthMethod, args: Partial<AuthArgs>): Op => ({
  kind: "auth",
  method,
  args: { ...setupArgs, ...args },
});

/**
 * An auth run's first operations: root with the root role; alice reads the "a" prefix; bob reads and writes from
 * "b" up to "e" and writes "z"; carol has a role with no permission; then auth is enabled.
 */
export const AUTH_SETUP: readonly Op[] = [
  setup("roleAdd", { role: "root" }),
  setup("userAdd", { user: "root", password: PASSWORD_OF.root }),
  setup("userGrantRole", { user: "root", role: "root" }),
  setup("roleAdd", { role: "reader" }),
  setup("roleGrantPermission", { role: "reader", permType: 0, key: "a", rangeEnd: "b" }),
  setup("userAdd", { user: "alice", password: PASSWORD_OF.alice }),
  setup("userGrantRole", { user: "alice", role: "reader" }),
  setup("roleAdd", { role: "writer" }),
  setup("roleGrantPermission", { role: "writer", permType: 2, key: "b", rangeEnd: "e" }),
  setup("roleGrantPermission", { role: "writer", permType: 1, key: "z" }),
  setup("userAdd", { user: "bob", password: PASSWORD_OF.bob }),
  setup("userGrantRole", { user: "bob", role: "writer" }),
  setup("roleAdd", { role: "nothing" }),
  setup("userAdd", { user: "carol", password: PASSWORD_OF.carol }),
  setup("userGrantRole", { user: "carol", role: "nothing" }),
  setup("authEnable", {}),
].map((op) => ({ ...op, as: "root" }));

/** Who sends an operation of an auth run: mostly a user with a role, now and then nobody (no token). */
const SENDERS: ReadonlyArray<readonly [string | undefined, number]> = [
  ["root", 3],
  ["alice", 3],
  ["bob", 3],
  ["carol", 1],
  [undefined, 1],
];

/** A range that ends where or before it begins (an empty one): neither a single key nor "from the key on". */
function inverted(key: Bytes, rangeEnd: Bytes): boolean {
  if (typeof key !== "string" || typeof rangeEnd !== "string") return false;
  return rangeEnd !== "" && rangeEnd !== "\x00" && rangeEnd <= key;
}

function txnNestsOrInverts(t: TxnSpec): boolean {
  return (
    t.compare.some((c) => inverted(c.key, c.rangeEnd)) ||
    [...t.success, ...t.failure].some(
      (o) =>
        "txn" in o ||
        ("range" in o && inverted(o.range.key, o.range.rangeEnd)) ||
        ("deleteRange" in o && inverted(o.deleteRange.key, o.deleteRange.rangeEnd)),
    )
  );
}

/**
 * Whether an auth run sends the operation as root, where rxetcd's permission check differs from etcd 3.4's on
 * purpose: etcd 3.4 does not check the operations of a nested txn (a user could write anywhere through one), lists a
 * lease's keys to anyone (CVE-2023-32082; etcd 3.5 and rxetcd check both), and checks a watch "from a key on" as if it
 * watched that one key (rxetcd checks the whole range). For an empty range (one that ends where or before it begins), etcd 3.4's
 * answer depends on the shape of its interval tree (rxetcd permits it where the user holds its first key).
 *
 * Lock, Campaign and Observe (which may wait on a watch) go as root too: etcd 3.4's lock and election services watch
 * through the member's in-process client, whose watches all share one stream, opened with the credentials of the call
 * that made the first of them; while it is open, a later call's watch is checked against that first caller's
 * permissions, not its own (a root Observe ends at once, a root waiter fails with "permission denied", while a user
 * with less holds one open). rxetcd checks each call's own; with one user behind all of them the two agree.
 */
function rootOnly(op: Op): boolean {
  switch (op.kind) {
    case "lock":
    case "campaign":
    case "lockWait":
    case "campaignWait":
    case "observe":
      return true;
    case "txn":
      return txnNestsOrInverts(op.req);
    case "leaseTimeToLive":
      return op.keys;
    case "watchCreate":
      return op.req.rangeEnd === "\x00" || inverted(op.req.key, op.req.rangeEnd);
    case "range":
    case "deleteRange":
      return inverted(op.req.key, op.req.rangeEnd);
    default:
      return false;
  }
}

/** The operations of one seed: the same seed and count always give the same list (and a longer list extends it). */
export function generate(seed: number, count: number, options: GeneratorOptions = {}): Op[] {
  const g = new Generator(new Prng(seed));
  const ops: Op[] = options.auth ? [...AUTH_SETUP] : [];
  while (ops.length < count) {
    const next = g.next(options);
    if (options.auth) {
      const sender = g.sender();
      const as = next.some(rootOnly) ? "root" : sender;
      // a watch stream has its user from when it opened: root's is the first
      const onRootStream = (op: Op): Op =>
        op.kind === "watchCreate" && rootOnly(op) ? { ...op, stream: 0 } : op;
      ops.push(...next.map((op) => onRootStream(as === undefined ? op : { ...op, as })));
    } else ops.push(...next);
  }
  return ops.slice(0, count);
}

class Generator {
  /** Lease ids the client names are new each time (the servers' own ids are far larger). */
  private nextLeaseId = 100_000;

  constructor(private readonly r: Prng) {}

  /**
   * Operations that release a waiter (see waiter()), each emitted as a step of its own some steps later, so that
   * other operations run while the waiter waits.
   */
  private readonly releases: Op[][] = [];
  /** Waiters emitted so far (a waiterLeave names one by its order). */
  private waitersSent = 0;

  /** One or more operations (a few composite steps are emitted as several operations). */
  next(options: GeneratorOptions): Op[] {
    const release = this.releases.length > 0 && this.r.chance(0.3) ? this.releases.shift() : undefined;
    if (release) return release;
    const kind = this.weighted(WEIGHTS);
    switch (kind) {
      case "range":
        return [{ kind, req: this.range() }];
      case "put":
        return [{ kind, req: this.put() }];
      case "deleteRange":
        return [{ kind, req: this.deleteRange() }];
      case "txn":
        return [{ kind, req: withoutIgnoreAfterDelete(this.txn(0)) }];
      case "compact":
        return [{ kind, revision: this.compactRev(), physical: this.r.chance(0.3) }];
      case "leaseGrant":
        return [{ kind, ttl: this.longTtl(), id: this.grantId() }];
      case "leaseRevoke":
        return [{ kind, lease: this.leaseRef(0.15) }];
      case "leaseKeepAlive":
        return [{ kind, lease: this.leaseRef(0.15) }];
      case "leaseTimeToLive":
        return [{ kind, lease: this.leaseRef(0.15), keys: this.r.chance(0.5) }];
      case "leaseLeases":
        return [{ kind }];
      case "leaseExpire":
        if (options.noExpiry) return [];
        return [
          {
            kind,
            id: String(this.nextLeaseId++),
            ttl: this.r.pick([-1, 0, 1, 2]),
            keys: Array.from({ length: this.r.int(4) }, () => this.key()).filter(
              (k, i, all) => all.indexOf(k) === i,
            ),
          },
        ];
      case "watchCreate":
        return [{ kind, stream: this.r.int(WATCH_STREAMS), req: this.watchCreate() }];
      case "watchCancel":
        return [
          {
            kind,
            stream: this.r.int(WATCH_STREAMS),
            watch: this.r.chance(0.85) ? { created: this.r.int(8) } : { id: this.r.pick([-1, 0, 7, 100]) },
          },
        ];
      case "watchProgress":
        return [{ kind, stream: this.r.int(WATCH_STREAMS) }];
      case "status":
        return [{ kind }];
      case "hashKv":
        return [{ kind, revision: this.r.chance(0.4) ? 0 : this.pastRev(12, 3) }];
      case "alarmList":
        return [{ kind }];
      case "auth":
        return [{ kind, method: this.weighted(AUTH_METHODS), args: this.authArgs() }];
      case "lock":
      case "campaign":
        return this.lockOrCampaign(kind);
      case "unlock":
        return [
          {
            kind,
            key: this.r.chance(0.85)
              ? { acquired: this.r.int(8) }
              : { literal: this.r.pick(["", "lk", "lk/1", "a", "nolock/694d"]) },
          },
        ];
      case "proclaim":
      case "resign": {
        // a leader key of no lease makes the server grant a session lease: revoked right after (see lockOrCampaign)
        const leader = this.leaderRef();
        const op: Op = kind === "proclaim" ? { kind, leader, value: this.r.pick(VALUES) } : { kind, leader };
        if ("won" in leader && leader.change === "noLease")
          return [op, { kind: "leaseRevoke", lease: { session: true } }];
        return [op];
      }
      case "leader":
        return [{ kind, name: this.lockName() }];
      case "observe":
        return [{ kind, name: this.lockName(), windowMs: 300 }];
      case "waiter":
        return this.waiter(options);
      case "observeOpen":
        return [{ kind, name: this.lockName() }];
      case "observeClose":
        return [{ kind, which: this.r.int(4) }];
      case "lockWait":
      case "campaignWait":
      case "leaseAwaitExpiry":
      case "waiterLeave":
        return [];
      case "memberList":
      case "hash":
      case "defragment":
      case "snapshot":
        return [{ kind }];
      case "memberAdd":
        // a voter that never starts costs a member of one its quorum (etcd lets a cluster of one add a voter):
        // voters are added only with URLs etcd refuses, or the serving member's own
        if (this.r.chance(0.7)) return [{ kind, peerUrls: this.peerUrls(), learner: true }];
        return [{ kind, peerUrls: [this.r.pick([...BAD_PEER_URLS, "self"])], learner: false }];
      case "memberUpdate": {
        // etcd takes a member update's URLs unchecked. The serving member keeps its own URL (so that adding a
        // voter of that URL stays refused); another member is given good URLs only (etcd's transport panics on
        // one it cannot parse, and so would the member at each restart); an unknown id any.
        const member = this.memberRef();
        const peerUrls = this.peerUrls();
        if ("self" in member) return [{ kind, member, peerUrls: ["self", ...peerUrls] }];
        if ("added" in member) return [{ kind, member, peerUrls: [this.r.pick(PEER_URLS)] }];
        return [{ kind, member, peerUrls }];
      }
      case "memberRemove":
      case "memberPromote":
      case "moveLeader":
        return [{ kind, member: this.memberRef() }];
      case "bigPuts":
        return this.bigPuts();
      case "manyOps":
        return [{ kind: "txn", req: this.manyOps() }];
    }
  }

  sender(): string | undefined {
    return this.weighted(SENDERS);
  }

  private weighted<T>(table: ReadonlyArray<readonly [T, number]>): T {
    const total = table.reduce((s, [, w]) => s + w, 0);
    let x = this.r.float() * total;
    for (const [v, w] of table) {
      x -= w;
      if (x < 0) return v;
    }
    return table[table.length - 1][0];
  }

  private key(): string {
    return this.r.pick(KEYS);
  }

  /** A key, now and then the empty key (which every KV request refuses). */
  private keyOrEmpty(pEmpty = 0.02): string {
    return this.r.chance(pEmpty) ? "" : this.key();
  }

  private rangeEnd(key: string): string {
    return this.weighted<() => string>([
      [() => "", 40],
      [() => "\x00", 14],
      [() => prefixEnd(key), 22],
      [() => this.key(), 20],
      [() => key, 4],
    ])();
  }

  private value(): Bytes {
    if (this.r.chance(0.03))
      return { size: 1000 + this.r.int(60_000), fill: this.r.pick(["x", "\x00", "y"]) };
    if (this.r.chance(0.006)) {
      // Too large for a proposal (max-request-bytes), or for the gRPC server itself.
      const size = this.r.chance(0.5) ? MAX_REQUEST_BYTES + 1 + this.r.int(1000) : MAX_RECV_BYTES + 10;
      return { size, fill: "o" };
    }
    return this.r.chance(0.5) ? this.r.pick(VALUES) : `v${this.r.int(1000)}`;
  }

  /** A revision around the current one: mostly in the past, sometimes current or future, sometimes literal. */
  private pastRev(back: number, ahead: number): Rev {
    if (this.r.chance(0.08)) return this.r.pick([-1, 1, 2, -100]);
    return { rel: this.r.range(-back, ahead) };
  }

  private optionalRev(p: number, back: number, ahead: number): Rev {
    return this.r.chance(p) ? this.pastRev(back, ahead) : 0;
  }

  private compactRev(): Rev {
    if (this.r.chance(0.1)) return this.r.pick([0, -1, 1]);
    return { rel: this.r.range(-15, 2) };
  }

  private longTtl(): number {
    // Long enough never to expire during a run; now and then above etcd's maximum (refused).
    if (this.r.chance(0.05)) return 9_000_000_001;
    return this.r.pick([3600, 7200, 100_000, 9_000_000_000]);
  }

  private grantId(): string {
    // The server picks the id now and then; mostly the client names a new one, so that keys carry the same lease
    // id on both servers and HashKV stays comparable; sometimes one already in use, or a negative one.
    const x = this.r.float();
    if (x < 0.25) return "0";
    if (x < 0.9) return String(this.nextLeaseId++);
    return String(this.r.pick([1001, 1002, 1003, 77, -5]));
  }

  private leaseRef(pLiteral: number): LeaseRef {
    if (this.r.chance(pLiteral)) return { id: String(this.r.pick([0, 1001, 1002, 424242])) };
    return { granted: this.r.int(16) };
  }

  private range(): RangeSpec {
    const key = this.keyOrEmpty();
    const sortOrder = this.weighted<SortOrder>([
      [0, 6],
      [1, 2],
      [2, 2],
      [3, 0.2],
    ]);
    return {
      key,
      rangeEnd: this.rangeEnd(key),
      limit: this.r.chance(0.3) ? this.r.pick([1, 2, 3, 5, -1]) : 0,
      revision: this.optionalRev(0.3, 12, 2),
      sortOrder,
      sortTarget: this.r.chance(0.5) ? 0 : (this.r.int(5) as SortTarget),
      serializable: this.r.chance(0.3),
      keysOnly: this.r.chance(0.2),
      countOnly: this.r.chance(0.1),
      minModRevision: this.optionalRev(0.1, 12, 1),
      maxModRevision: this.optionalRev(0.1, 12, 1),
      minCreateRevision: this.optionalRev(0.1, 12, 1),
      maxCreateRevision: this.optionalRev(0.1, 12, 1),
    };
  }

  private put(): PutSpec {
    const ignoreValue = this.r.chance(0.07);
    const ignoreLease = this.r.chance(0.07);
    return {
      key: this.keyOrEmpty(),
      // ignore_value with a value is refused; so is ignore_lease with a lease
      value: ignoreValue && this.r.chance(0.7) ? "" : this.value(),
      lease: this.r.chance(0.15) && !(ignoreLease && this.r.chance(0.7)) ? this.leaseRef(0.1) : null,
      prevKv: this.r.chance(0.3),
      ignoreValue,
      ignoreLease,
    };
  }

  private deleteRange(): DeleteSpec {
    const key = this.keyOrEmpty();
    return { key, rangeEnd: this.rangeEnd(key), prevKv: this.r.chance(0.4) };
  }

  private compare(): CompareSpec {
    const target = this.r.int(5) as CompareSpec["target"];
    const key = this.keyOrEmpty(0.02);
    const rangeEnd = this.r.chance(0.15) ? this.rangeEnd(key) : "";
    const unionFor = (t: number): CompareSpec["union"] => {
      switch (t) {
        case 0:
          return { version: this.r.range(0, 4) };
        case 1:
          return { createRevision: this.pastRev(10, 1) };
        case 2:
          return { modRevision: this.pastRev(10, 1) };
        case 3:
          return { value: this.r.pick(VALUES) };
        default:
          return { lease: this.r.chance(0.4) ? { id: "0" } : this.leaseRef(0.2) };
      }
    };
    // Now and then the union member does not match the target.
    const union = unionFor(this.r.chance(0.05) ? this.r.int(5) : target);
    return { target, result: this.r.int(4) as CompareSpec["result"], key, rangeEnd, union };
  }

  private requestOp(depth: number): RequestOpSpec {
    return this.weighted<() => RequestOpSpec>([
      [() => ({ range: this.range() }), 4],
      [() => ({ put: this.put() }), 5],
      [() => ({ deleteRange: this.deleteRange() }), 3],
      [() => (depth < 2 ? { txn: this.txn(depth + 1) } : { put: this.put() }), 2],
      [() => ({ empty: true }), 0.05],
    ])();
  }

  private txn(depth: number): TxnSpec {
    const n = (max: number) => this.r.int(max + 1);
    return {
      compare: Array.from({ length: n(depth === 0 ? 3 : 2) }, () => this.compare()),
      success: Array.from({ length: n(depth === 0 ? 4 : 2) }, () => this.requestOp(depth)),
      failure: Array.from({ length: n(depth === 0 ? 3 : 2) }, () => this.requestOp(depth)),
    };
  }

  /** A txn at etcd's --max-txn-ops limit (128) or one over it. */
  private manyOps(): TxnSpec {
    const count = this.r.pick([128, 129]);
    const ops: RequestOpSpec[] = Array.from({ length: count }, (_, i) =>
      this.r.chance(0.5)
        ? { put: { ...this.put(), key: `m${String(i).padStart(3, "0")}`, value: "m", lease: null } }
        : { range: { ...this.range(), key: `m${i}` } },
    );
    const onCompare = this.r.chance(0.2);
    return {
      compare: onCompare
        ? Array.from({ length: count }, () => ({ ...this.compare(), key: "a" }))
        : [this.compare()],
      success: onCompare ? [] : ops,
      failure: [],
    };
  }

  /** Puts of large values, so that a watch from history with `fragment` has a response to split. */
  private bigPuts(): Op[] {
    const size = 700 * 1024;
    return [1, 2, 3, 4].map((i) => ({
      kind: "put" as const,
      req: {
        key: `big/${i}`,
        value: { size, fill: String.fromCharCode(0x60 + i) },
        lease: null,
        prevKv: false,
        ignoreValue: false,
        ignoreLease: false,
      },
    }));
  }

  private lockName(): string {
    return this.r.pick(LOCK_NAMES);
  }

  /**
   * A Lock or Campaign: with a lease granted by the client (a new id, so that the key it names is the same on both
   * servers), one granted earlier, one that does not exist, or none. With none, the server grants a session lease
   * of 60 s: it is revoked by the next operation but one, so that it never expires during a run (which it would do
   * on the two servers at moments up to etcd's 500 ms expiry tick apart).
   */
  private lockOrCampaign(kind: "lock" | "campaign"): Op[] {
    let name = this.lockName();
    // long enough that a busy machine still takes the lease, the put and the first read of either server well
    // within it (a deadline passing earlier on one server than the other would differ by timing alone)
    const deadlineMs = this.r.pick([1000, 1500]);
    const x = this.r.float();
    const ops: Op[] = [];
    let lease: LeaseRef | null;
    if (x < 0.55) {
      const id = String(this.nextLeaseId++);
      ops.push({ kind: "leaseGrant", ttl: 3600, id });
      lease = { id };
    } else if (x < 0.8) lease = { granted: this.r.int(16) };
    else if (x < 0.88) lease = { id: this.r.pick(["424242", "-3"]) };
    else lease = null;
    // A lease the server chose (a session lease, or one granted with id 0) has each server's own id, and so has the
    // key it names ("a/2f3c..." on one server, "a/694d..." on the other): under a prefix that keys of the key space
    // share ("a/1", "b/1"), ranges and watches between those keys would take the one and not the other. Such a Lock
    // or Campaign names a lock of its own.
    if ((lease === null || "granted" in lease) && (name === "a" || name === "b"))
      name = this.r.pick(["lk", "el"]);
    ops.push(
      kind === "lock"
        ? { kind, name, lease, deadlineMs }
        : { kind, name, lease, value: this.r.pick(VALUES), deadlineMs },
    );
    if (lease === null) {
      if (this.r.chance(0.5))
        ops.push(
          this.r.pick<Op>([
            { kind: "leader", name },
            { kind: "observe", name, windowMs: 300 },
            { kind: "unlock", key: { acquired: this.r.int(8) } },
            { kind: "proclaim", leader: { won: this.r.int(8) }, value: this.r.pick(VALUES) },
          ]),
        );
      ops.push({ kind: "leaseRevoke", lease: { session: true } });
    }
    return ops;
  }

  /**
   * A Lock or Campaign that holds a name (with a lease of its own), one or two waiters queued behind it with no
   * deadline, now and then an Observe held open on the election, and what releases the holder: its Unlock or Resign
   * or the revoke of its lease (queued, to come some steps later), or its lease's expiry (waited for at once: an
   * expiry comes up to etcd's 500 ms expiry tick apart on the two servers, so nothing else may run meanwhile). Once
   * released, the first waiter holds the name: it is released in turn later, or proclaims first.
   */
  private waiter(options: GeneratorOptions): Op[] {
    const lock = this.r.chance(0.5);
    const name = this.lockName();
    const expiry = !options.noExpiry && this.r.chance(0.2);
    const holder = String(this.nextLeaseId++);
    // etcd's shortest lease is 2 s (one and a half election timeouts, rounded up); 3 s leaves room for the waiters
    const ops: Op[] = [{ kind: "leaseGrant", ttl: expiry ? 3 : 3600, id: holder }];
    ops.push(
      lock
        ? { kind: "lock", name, lease: { id: holder }, deadlineMs: 1500 }
        : { kind: "campaign", name, lease: { id: holder }, value: this.r.pick(VALUES), deadlineMs: 1500 },
    );
    const waiters = Array.from({ length: this.r.chance(0.3) ? 2 : 1 }, () => String(this.nextLeaseId++));
    const first = this.waitersSent;
    this.waitersSent += waiters.length;
    for (const id of waiters) {
      ops.push({ kind: "leaseGrant", ttl: 3600, id });
      const zeroTimeout = this.r.chance(0.2);
      ops.push(
        lock
          ? { kind: "lockWait", name, lease: id, zeroTimeout }
          : { kind: "campaignWait", name, lease: id, value: this.r.pick(VALUES), zeroTimeout },
      );
    }
    if (!lock && this.r.chance(0.6)) ops.push({ kind: "observeOpen", name });
    const release = (id: string): Op =>
      lock
        ? { kind: "unlock", key: { literal: keyOfLease(name, id) } }
        : { kind: "resign", leader: { byLease: id } };
    // now and then the first waiter's own lease goes while it waits (etcd 3.4 still answers it once its turn comes),
    // or the last waiter's client leaves
    if (this.r.chance(0.15)) this.releases.push([{ kind: "leaseRevoke", lease: { id: waiters[0] } }]);
    if (this.r.chance(0.15)) this.releases.push([{ kind: "waiterLeave", which: first + waiters.length - 1 }]);
    if (expiry) ops.push({ kind: "leaseAwaitExpiry", lease: holder });
    else
      this.releases.push([
        this.r.chance(0.6) ? release(holder) : { kind: "leaseRevoke", lease: { id: holder } },
      ]);
    const next: Op[] = [];
    if (!lock && this.r.chance(0.5))
      next.push({ kind: "proclaim", leader: { byLease: waiters[0] }, value: this.r.pick(VALUES) });
    if (this.r.chance(0.6)) next.push(release(waiters[0]));
    if (next.length > 0) this.releases.push(next);
    return ops;
  }

  private leaderRef(): LeaderRef {
    if (this.r.chance(0.05)) return { missing: true };
    const won = this.r.int(8);
    if (this.r.chance(0.18))
      return { won, change: this.r.pick(["key", "rev", "lease", "name", "noLease"] as const) };
    return { won };
  }

  private peerUrls(): string[] {
    if (this.r.chance(0.15)) return this.r.chance(0.3) ? [] : [this.r.pick(BAD_PEER_URLS)];
    const urls = Array.from({ length: 1 + (this.r.chance(0.2) ? 1 : 0) }, () => this.r.pick(PEER_URLS));
    return urls;
  }

  private memberRef(): MemberRef {
    const x = this.r.float();
    if (x < 0.5) return { added: this.r.int(4) };
    if (x < 0.8) return { self: true };
    return { id: this.r.pick(["0", "1", "12345", "18446744073709551615"]) };
  }

  private authArgs(): AuthArgs {
    const key = this.keyOrEmpty(0.05);
    return {
      user: this.r.pick(USERS),
      role: this.r.pick(ROLES),
      password: this.r.pick(PASSWORDS),
      noPassword: this.r.chance(0.15),
      permType: this.r.chance(0.05) ? this.r.pick([3, 7, -1]) : this.r.int(3),
      key,
      rangeEnd: this.r.chance(0.5) ? "" : this.rangeEnd(key),
    };
  }

  private watchCreate(): WatchCreateSpec {
    const key = this.r.chance(0.04) ? "" : this.key();
    const filters: number[] = [];
    if (this.r.chance(0.15)) filters.push(0);
    if (this.r.chance(0.15)) filters.push(1);
    const startRevision = this.weighted<() => Rev>([
      [() => 0, 10],
      [() => ({ rel: -this.r.int(15) }), 8],
      [() => ({ rel: this.r.range(1, 3) }), 2],
      [() => this.r.pick([1, -1, -7]), 1],
    ])();
    return {
      key,
      rangeEnd: this.rangeEnd(key),
      startRevision,
      filters,
      prevKv: this.r.chance(0.3),
      progressNotify: this.r.chance(0.1),
      fragment: this.r.chance(0.3),
      watchId: this.r.chance(0.8) ? 0 : this.r.pick([1, 2, 3, 5, 50]),
    };
  }
}
