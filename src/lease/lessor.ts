import { Subject } from "rxjs";
import { Lease as LeasePb } from "../gen/leasepb/lease.js";
import { Errors, EtcdError } from "../rpctypes/errors.js";

/** etcd's upper bound on a lease TTL, in seconds. */
export const MAX_LEASE_TTL = 9_000_000_000;
/** Expiry for leases on a member that is not the leader: they only expire through the leader. */
const FOREVER = Number.POSITIVE_INFINITY;

export interface LeaseRecord {
  readonly id: bigint;
  /** Granted TTL in seconds (after the minimum TTL was applied). */
  readonly ttl: number;
  /** The TTL left at the last checkpoint, 0 when none (then a new leader grants the full TTL). */
  readonly remainingTtl?: number;
}

/** A change to the lease table, for observers (the feed); `ttl` is the granted TTL in seconds. */
export interface LeaseChange {
  readonly action: "grant" | "revoke" | "keepalive" | "checkpoint" | "expire";
  readonly id: bigint;
  readonly ttl: number;
  /** Seconds left: the full TTL after a grant or keep-alive, the checkpointed TTL, 0 once expired. */
  readonly remainingTtl: number;
}

class Lease {
  expiryMs = FOREVER;
  /** Whether observers heard of this lease's expiry (the leader revokes it through Raft later). */
  expiryReported = false;
  /** Seconds left at the last applied checkpoint; 0 = none. */
  remainingTtl = 0;
  readonly keys = new Set<string>();
  constructor(
    readonly id: bigint,
    readonly ttl: number,
  ) {}
}

export interface LessorOptions {
  /** The smallest TTL granted (etcd: ceil(1.5 x election timeout) seconds, 2 s with defaults). */
  minTtlSeconds: number;
  /** Milliseconds since some fixed origin; injected so tests control time. */
  now: () => number;
}

/**
 * The lease table of a member: grants, revocations, key attachments and expiry.
 * It holds no storage: the apply loop persists lease records in the same transaction as the
 * entry that changed them, and reloads them with `restore`. Only the leader lets leases expire;
 * everyone else keeps them forever until the leader's revoke arrives through Raft.
 */
export class Lessor {
  private readonly leases = new Map<bigint, Lease>();
  private primary = false;
  /** Every grant, revoke, keep-alive, checkpoint and expiry, as it happens on this member. */
  readonly changes$ = new Subject<LeaseChange>();

  constructor(private readonly opts: LessorOptions) {}

  get minTtl(): number {
    return this.opts.minTtlSeconds;
  }

  /** Validates a grant before it is proposed, with etcd's errors. */
  checkGrant(id: bigint, ttl: number): void {
    if (ttl > MAX_LEASE_TTL) throw Errors.LeaseTTLTooLarge;
    if (id !== 0n && this.leases.has(id)) throw Errors.LeaseExist;
  }

  /** Applies a grant; returns the TTL actually granted. */
  grant(id: bigint, ttl: number): LeaseRecord {
    if (id === 0n) throw new EtcdError(3, "etcdserver: lease id 0 is reserved");
    if (ttl > MAX_LEASE_TTL) throw Errors.LeaseTTLTooLarge;
    if (this.leases.has(id)) throw Errors.LeaseExist;
    const granted = Math.max(ttl, this.opts.minTtlSeconds);
    const lease = new Lease(id, granted);
    if (this.primary) lease.expiryMs = this.opts.now() + granted * 1000;
    this.leases.set(id, lease);
    this.report("grant", lease, granted);
    return { id, ttl: granted };
  }

  /** Removes a lease and returns the keys it held (the caller deletes them in one revision). */
  revoke(id: bigint): Buffer[] {
    const lease = this.leases.get(id);
    if (!lease) throw Errors.LeaseNotFound;
    this.leases.delete(id);
    this.report("revoke", lease, 0);
    return [...lease.keys].sort().map((k) => Buffer.from(k, "latin1"));
  }

  /** Resets a lease to its granted TTL (leader only); returns that TTL, or throws when unknown or expired. */
  renew(id: bigint): number {
    const lease = this.leases.get(id);
    if (!lease) throw Errors.LeaseNotFound;
    if (!this.primary) throw Errors.NotLeader;
    if (lease.expiryMs <= this.opts.now()) throw Errors.LeaseNotFound;
    lease.expiryMs = this.opts.now() + lease.ttl * 1000;
    lease.remainingTtl = 0;
    lease.expiryReported = false;
    this.report("keepalive", lease, lease.ttl);
    return lease.ttl;
  }

  has(id: bigint): boolean {
    return this.leases.has(id);
  }

  attach(id: bigint, key: Buffer): void {
    this.leases.get(id)?.keys.add(key.toString("latin1"));
  }

  detach(id: bigint, key: Buffer): void {
    this.leases.get(id)?.keys.delete(key.toString("latin1"));
  }

  /** Remaining whole seconds (etcd truncates), the granted TTL and the keys; undefined when unknown. */
  timeToLive(id: bigint): { ttl: number; grantedTtl: number; keys: Buffer[] } | undefined {
    const lease = this.leases.get(id);
    if (!lease) return undefined;
    const remaining =
      lease.expiryMs === FOREVER
        ? lease.ttl
        : Math.max(0, Math.floor((lease.expiryMs - this.opts.now()) / 1000));
    return {
      ttl: remaining,
      grantedTtl: lease.ttl,
      keys: [...lease.keys].sort().map((k) => Buffer.from(k, "latin1")),
    };
  }

  /** Number of leases held. */
  get size(): number {
    return this.leases.size;
  }

  ids(): bigint[] {
    return [...this.leases.keys()];
  }

  /**
   * Becoming leader: every lease gets its checkpointed remaining TTL, or else its full TTL, from now
   * (plus `extendMs`), as etcd's Promote does.
   */
  promote(extendMs = 0): void {
    this.primary = true;
    const now = this.opts.now();
    for (const lease of this.leases.values()) {
      const seconds = lease.remainingTtl > 0 ? lease.remainingTtl : lease.ttl;
      lease.expiryMs = now + extendMs + seconds * 1000;
    }
  }

  /** Applies a checkpoint: the TTL a lease had left when the leader took it. */
  checkpoint(id: bigint, remainingTtl: number): LeaseRecord | undefined {
    const lease = this.leases.get(id);
    if (!lease) return undefined;
    lease.remainingTtl = Math.max(0, remainingTtl);
    this.report("checkpoint", lease, lease.remainingTtl);
    return { id, ttl: lease.ttl, remainingTtl: lease.remainingTtl };
  }

  /** What the leader checkpoints: every lease's remaining whole seconds, at most `limit` of them. */
  checkpoints(limit: number): Array<{ id: bigint; remainingTtl: number }> {
    if (!this.primary) return [];
    const now = this.opts.now();
    const out: Array<{ id: bigint; remainingTtl: number }> = [];
    for (const lease of this.leases.values()) {
      if (out.length >= limit) break;
      if (lease.expiryMs === FOREVER || lease.expiryMs <= now) continue;
      out.push({ id: lease.id, remainingTtl: Math.ceil((lease.expiryMs - now) / 1000) });
    }
    return out;
  }

  /** Losing leadership: nothing expires here any more. */
  demote(): void {
    this.primary = false;
    for (const lease of this.leases.values()) lease.expiryMs = FOREVER;
  }

  get isPrimary(): boolean {
    return this.primary;
  }

  /** Leases whose time is up, oldest first, at most `limit` (the leader proposes their revocation). */
  expired(limit: number): bigint[] {
    if (!this.primary) return [];
    const now = this.opts.now();
    const out: Lease[] = [];
    for (const lease of this.leases.values()) if (lease.expiryMs <= now) out.push(lease);
    out.sort((a, b) => a.expiryMs - b.expiryMs);
    const due = out.slice(0, limit);
    for (const lease of due) {
      if (lease.expiryReported) continue;
      lease.expiryReported = true;
      this.report("expire", lease, 0);
    }
    return due.map((l) => l.id);
  }

  private report(action: LeaseChange["action"], lease: Lease, remainingTtl: number): void {
    if (this.changes$.observed) this.changes$.next({ action, id: lease.id, ttl: lease.ttl, remainingTtl });
  }

  /** Reloads the table at start-up from the persisted records. */
  restore(records: Iterable<LeaseRecord>): void {
    this.leases.clear();
    for (const r of records) {
      const lease = new Lease(r.id, r.ttl);
      lease.remainingTtl = r.remainingTtl ?? 0;
      this.leases.set(r.id, lease);
    }
  }
}

/**
 * A lease record as etcd persists it in its `lease` bucket: the id as an 8-byte big-endian key, and a
 * leasepb.Lease protobuf value (ID, TTL, RemainingTTL; zero fields omitted).
 */
export function encodeLeaseRecord(r: LeaseRecord): { key: Buffer; value: Buffer } {
  const bytes = LeasePb.encode({ ID: r.id, TTL: r.ttl, RemainingTTL: r.remainingTtl ?? 0 }).finish();
  return { key: leaseKey(r.id), value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

export function decodeLeaseRecord(value: Buffer): LeaseRecord {
  let pb: LeasePb;
  try {
    pb = LeasePb.decode(value);
  } catch (err) {
    throw new Error(`lease record is not a leasepb.Lease (${value.length} bytes): ${(err as Error).message}`);
  }
  if (pb.ID === 0n) throw new Error(`lease record without a lease id (${value.length} bytes)`);
  return { id: pb.ID, ttl: pb.TTL, remainingTtl: pb.RemainingTTL };
}

export function leaseKey(id: bigint): Buffer {
  const key = Buffer.alloc(8);
  key.writeBigInt64BE(id);
  return key;
}
