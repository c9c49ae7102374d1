// What the differential tester compares: answers turned into plain values with what must differ between two
// servers taken out (cluster and member ids, raft term, database sizes), lease ids replaced by their order of grant,
// and remaining-TTL values marked as approximate. Then a deep comparison that names the first difference.
import { createHash } from "node:crypto";

/** A number compared with a tolerance (remaining lease TTLs tick on their own). */
export class Approx {
  constructor(
    readonly value: number,
    readonly tolerance: number,
  ) {}
  toJSON(): string {
    return `~${this.value}`;
  }
}

/** One server's lease ids, named by the order in which that server granted them ("L1", "L2", ...). */
export class LeaseNames {
  private readonly names = new Map<bigint, string>();
  /** Ids in order of grant (a re-grant of a revoked id is a new lease). */
  readonly granted: bigint[] = [];

  /** Ids the server chose (the client sent 0): they differ between the two servers. */
  readonly chosen = new Set<bigint>();

  /** Session leases: granted by the server for a Lock or Campaign that came without a lease, in order. */
  readonly sessions: bigint[] = [];

  /** Records a successful grant and returns the lease's name. */
  grant(id: bigint, chosenByServer: boolean): string {
    if (chosenByServer) this.chosen.add(id);
    this.granted.push(id);
    const name = `L${this.granted.length}`;
    this.names.set(id, name);
    return name;
  }

  name(id: bigint): string {
    if (id === 0n) return "none";
    return this.names.get(id) ?? `id:${id}`;
  }

  /**
   * A key shown with the lease id it ends in by name, when the server chose the id: a lock's or an election's key
   * is its name, "/", and its lease id in hex.
   */
  renameKey(shown: string): string {
    if (this.chosen.size === 0) return shown;
    const slash = shown.lastIndexOf("/");
    if (slash < 0) return shown;
    const tail = shown.slice(slash + 1);
    if (!/^[0-9a-f]+$/.test(tail)) return shown;
    const id = BigInt(`0x${tail}`);
    return this.chosen.has(id) ? `${shown.slice(0, slash + 1)}<${this.name(id)}>` : shown;
  }
}

/** A gRPC failure: code and message, as a client sees them. */
export interface RpcFailure {
  code: number;
  message: string;
}

/** Bytes as a readable string; long ones by length and digest. */
export function showBytes(b: Buffer): string {
  if (b.length > 64) {
    const digest = createHash("sha1").update(b).digest("hex").slice(0, 12);
    return `<${b.length} bytes ${JSON.stringify(b.subarray(0, 8).toString("latin1"))}... sha1:${digest}>`;
  }
  return b.toString("latin1");
}

// Fields dropped everywhere: they name the member or the term, or measure the storage engine.
const DROPPED = new Set(["clusterId", "memberId", "raftTerm", "leader", "dbSize", "dbSizeInUse"]);

/** An auth token is each server's own: compared only by whether there is one. */
export function tokenShown(token: unknown): unknown {
  return typeof token === "string" && token !== "" ? "(a token)" : token;
}
// bigint fields that hold lease ids.
const LEASE_FIELDS = new Set(["ID", "lease"]);

/**
 * A response as a plain value: buffers as latin1 strings, lease ids by name, headers reduced to their revision.
 * `ttlTolerance` marks `TTL` fields as approximate (time to live answers).
 */
export function normalize(value: unknown, leases: LeaseNames, ttlTolerance = 0): unknown {
  const walk = (v: unknown, field: string): unknown => {
    if (v === undefined || v === null) return null;
    if (Buffer.isBuffer(v)) return leases.renameKey(showBytes(v));
    if (typeof v === "bigint") return LEASE_FIELDS.has(field) ? leases.name(v) : v.toString();
    if (Array.isArray(v)) return v.map((x) => walk(x, field));
    if (typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        // Status's leader is a member id; a Campaign's leader is a leader key, compared
        if (DROPPED.has(k) && !(k === "leader" && typeof x === "object")) continue;
        if (k === "token") {
          out[k] = tokenShown(x);
          continue;
        }
        if (k === "TTL" && ttlTolerance > 0 && typeof x === "number" && x > 0) {
          out[k] = new Approx(x, ttlTolerance);
          continue;
        }
        out[k] = walk(x, k);
      }
      return out;
    }
    return v;
  };
  return walk(value, "");
}

/** The path and both sides of the first difference between two normalized values, or undefined when equal. */
export function firstDifference(a: unknown, b: unknown, path = "$"): string | undefined {
  if (a instanceof Approx || b instanceof Approx) {
    const x = a instanceof Approx ? a.value : a;
    const y = b instanceof Approx ? b.value : b;
    const tol = Math.max(a instanceof Approx ? a.tolerance : 0, b instanceof Approx ? b.tolerance : 0);
    if (typeof x === "number" && typeof y === "number" && Math.abs(x - y) <= tol) return undefined;
    return `${path}: ${show(a)} vs ${show(b)}`;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    if (a.length !== b.length) return `${path}.length: ${a.length} vs ${b.length}`;
    return undefined;
  }
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const k of keys) {
      const d = firstDifference(a[k], b[k], `${path}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return Object.is(a, b) ? undefined : `${path}: ${show(a)} vs ${show(b)}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Approx);
}

/** A normalized value on one line (bigints and approximations included). */
export function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x)) ?? "undefined";
}
