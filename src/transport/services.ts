// What the peer port needs from the server beyond raft messages: membership, versions, lease
// forwarding targets, learner promotion, KV hashes and snapshot installation.
import type { Message } from "../gen/raftpb/raft.js";
import type { MemberJson } from "../membership/member-json.js";

/** A refusal with the HTTP status and the text the peer handler answers with. */
export class PeerServiceError extends Error {
  override name = "PeerServiceError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface PeerServices {
  clusterId(): bigint;
  localId(): bigint;
  /** GET /members (answered sorted by id, as etcd's JSON). */
  members(): MemberJson[];
  /** Stream dials from removed ids get 410; their raft messages are refused (403 on the pipeline). */
  isRemoved(id: bigint): boolean;
  /** GET /version. */
  version(): { etcdserver: string; etcdcluster: string };
  /** POST /members/promote/<decimal id>: the members after promotion; throws PeerServiceError. */
  promoteMember(id: bigint): Promise<MemberJson[]>;
  /** GET /members/hashkv; throws PeerServiceError (400 with the mvcc error text). */
  hashKV(revision: number): Promise<{ revision: number; hash: number; compactRevision: number }>;
  /** POST /leases: the renewed TTL; throws PeerServiceError (404 lease not found, 400 not a primary lessor). */
  leaseRenew(id: bigint): Promise<number>;
  /** POST /leases/internal; throws PeerServiceError like leaseRenew. */
  leaseTimeToLive(id: bigint, keys: boolean): Promise<{ ttl: number; grantedTtl: number; keys: Buffer[] }>;
  /** Resolves true once the applied index reached the committed index, false after timeoutMs (then 408). */
  waitAppliedCaughtUp(timeoutMs: number): Promise<boolean>;
  /** POST /raft/snapshot: called once the db is saved; resolves after raft stepped the MsgSnap (then 204). */
  receiveSnapshot(msg: Message, dbFile: string): Promise<void>;
  /** Where received dbs are saved as <%016x index>.snap.db. */
  snapshotDir(): string;
}
