// The differential tester's second transport: an operation sent as JSON to the HTTP gateway (`POST /v3/...`) of
// both servers instead of over gRPC. The answers are compared as JSON, as a curl user sees them: field names,
// int64 values as strings, fields left out when they hold their default, and error bodies with their HTTP status.
import type { AuthMethod, Op } from "./generator.js";
import { Approx, type LeaseNames, tokenShown } from "./normalize.js";
import { SERVICE_PATHS } from "./services.js";

/** Operation kinds the gateway serves as a unary call (watches, keep-alives and HashKV stay on gRPC). */
const PATHS: Partial<Record<Op["kind"], string>> = {
  range: "/v3/kv/range",
  put: "/v3/kv/put",
  deleteRange: "/v3/kv/deleterange",
  txn: "/v3/kv/txn",
  compact: "/v3/kv/compaction",
  leaseGrant: "/v3/lease/grant",
  leaseRevoke: "/v3/lease/revoke",
  leaseTimeToLive: "/v3/lease/timetolive",
  leaseLeases: "/v3/lease/leases",
  status: "/v3/maintenance/status",
  alarmList: "/v3/maintenance/alarm",
};

/** The gateway's paths of the Auth service's calls. */
const AUTH_PATHS: Record<AuthMethod, string> = {
  userAdd: "/v3/auth/user/add",
  userGet: "/v3/auth/user/get",
  userList: "/v3/auth/user/list",
  userDelete: "/v3/auth/user/delete",
  userChangePassword: "/v3/auth/user/changepw",
  userGrantRole: "/v3/auth/user/grant",
  userRevokeRole: "/v3/auth/user/revoke",
  roleAdd: "/v3/auth/role/add",
  roleGet: "/v3/auth/role/get",
  roleList: "/v3/auth/role/list",
  roleDelete: "/v3/auth/role/delete",
  roleGrantPermission: "/v3/auth/role/grant",
  roleRevokePermission: "/v3/auth/role/revoke",
  authenticate: "/v3/auth/authenticate",
  authEnable: "/v3/auth/enable",
  authDisable: "/v3/auth/disable",
};

export function gatewayPath(op: Op): string | undefined {
  return op.kind === "auth" ? AUTH_PATHS[op.method] : (PATHS[op.kind] ?? SERVICE_PATHS[op.kind]);
}

/** A gateway answer: the status and the parsed body (or the text, when it is not JSON). */
export interface GatewayAnswer {
  status: number;
  body: unknown;
}

/**
 * A request object of the generated protobuf types as the JSON a client would send: bytes in base64, 64-bit
 * integers as strings, enums by number (so out-of-range values reach the server as they do over gRPC).
 */
export function requestJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return value.map(requestJson);
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = requestJson(v);
    return out;
  }
  return value;
}

const JSON_HEADERS = { "content-type": "application/json" };

export async function postGateway(
  base: string,
  path: string,
  body: unknown,
  timeoutMs: number,
  /** An auth token, sent in the Authorization header as the gateway expects it. */
  token?: string,
  /** The call's deadline, sent in the Grpc-Timeout header (grpc-gateway makes it the call's). */
  serverDeadlineMs?: number,
): Promise<GatewayAnswer> {
  const headers: Record<string, string> = { ...JSON_HEADERS };
  if (token !== undefined) headers.authorization = token;
  if (serverDeadlineMs !== undefined) headers["grpc-timeout"] = `${serverDeadlineMs}m`;
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed };
}

// Fields that name the member or the term, or measure the storage engine (both spellings the gateway may use).
const DROPPED = new Set([
  "cluster_id",
  "member_id",
  "raft_term",
  "leader",
  "dbSize",
  "dbSizeInUse",
  "db_size",
  "db_size_in_use",
]);
// Fields holding lease ids.
const LEASE_FIELDS = new Set(["ID", "lease"]);

/** A gateway answer with what must differ taken out; lease ids by their order of grant; TTLs approximate. */
export function normalizeJson(
  value: unknown,
  leases: LeaseNames,
  ttlTolerance: number,
  raftBase: number,
): unknown {
  const walk = (v: unknown, field: string): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x, field));
    if (typeof v === "object" && v !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        // Status's leader is a member id; a Campaign's leader is a leader key, compared
        if (DROPPED.has(k) && !(k === "leader" && typeof x === "object")) continue;
        out[k] = k === "token" ? tokenShown(x) : walk(x, k);
      }
      return out;
    }
    if (
      LEASE_FIELDS.has(field) &&
      (typeof v === "string" || typeof v === "number") &&
      /^-?\d+$/.test(String(v))
    )
      return leases.name(BigInt(v));
    if ((field === "key" || field === "keys") && typeof v === "string" && leases.chosen.size > 0) {
      // a lock's key names the lease the server chose (see LeaseNames.renameKey)
      const shown = Buffer.from(v, "base64").toString("latin1");
      const renamed = leases.renameKey(shown);
      if (renamed !== shown) return renamed;
    }
    if (field === "TTL" && ttlTolerance > 0 && Number(v) > 0) return new Approx(Number(v), ttlTolerance);
    // the two servers start with different numbers of raft entries: count from the first operation
    if ((field === "raftIndex" || field === "raftAppliedIndex") && typeof v === "string")
      return String(Number(v) - raftBase);
    return v;
  };
  return walk(value, "");
}

/** The header revision of a gateway answer (a string: it is an int64). */
export function jsonRevision(body: unknown): number | undefined {
  const rev = (body as { header?: { revision?: unknown } } | null)?.header?.revision;
  return rev === undefined ? undefined : Number(rev);
}

/** Go's sort.Sort keeps up to 12 equal elements in key order; past that its order for ties is its own. */
const GO_STABLE_SORT_MAX = 12;

interface JsonKv {
  key: string;
  [field: string]: unknown;
}

/** The JSON twin of the gRPC path's tie relaxing: runs of equal sort values compared as sets. */
export function relaxJsonTies(sortTarget: number, resp: unknown): void {
  if (sortTarget === 0 || typeof resp !== "object" || resp === null) return;
  const r = resp as { kvs?: JsonKv[]; more?: boolean; count?: string };
  if (Number(r.count ?? 0) <= GO_STABLE_SORT_MAX || !r.kvs || r.kvs.length === 0) return;
  const field = ["key", "version", "create_revision", "mod_revision", "value"][sortTarget];
  if (field === undefined) return;
  const kvs = r.kvs;
  const out: unknown[] = [];
  for (let i = 0; i < kvs.length; ) {
    let j = i + 1;
    while (j < kvs.length && kvs[j][field] === kvs[i][field]) j++;
    const run = kvs.slice(i, j);
    if (j === kvs.length && r.more) out.push({ tiedAtLimit: run.length, [field]: run[0][field] });
    else out.push(...run.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
    i = j;
  }
  r.kvs = out as JsonKv[];
}
