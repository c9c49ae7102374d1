// The differential tester's runner: one operation at a time, the same request to two servers at once (Debian's
// etcd 3.4 as the reference, rxetcd as the subject), every answer and every watch event compared once normalized.
// Stops at the first difference and says which operation caused it.
import { createHash } from "node:crypto";
import {
  type ClientDuplexStream,
  type ClientUnaryCall,
  credentials,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import { prefixEnd } from "../../src/api/lock-election.js";
import {
  AlarmRequest,
  AuthClient,
  CompactionRequest,
  type Compare,
  DeleteRangeRequest,
  HashKVRequest,
  KVClient,
  LeaseClient,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  MaintenanceClient,
  PutRequest,
  RangeRequest,
  type RangeRequest_SortOrder,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  TxnRequest,
  WatchClient,
  type WatchCreateRequest,
  type WatchRequest,
  type WatchResponse,
} from "../../src/gen/etcdserverpb/rpc.js";
import type { LeaderKey } from "../../src/gen/v3electionpb/v3election.js";
import { Member } from "../e2e/harness.js";
import { AnswerLog } from "./answer-log.js";
import {
  gatewayPath,
  jsonRevision,
  normalizeJson,
  postGateway,
  relaxJsonTies,
  requestJson,
} from "./gateway.js";
import type {
  AuthArgs,
  AuthMethod,
  Bytes,
  CompareSpec,
  DeleteSpec,
  LeaseRef,
  Op,
  PutSpec,
  RangeSpec,
  RequestOpSpec,
  Rev,
  TxnSpec,
  WatchCreateSpec,
} from "./generator.js";
import { PASSWORD_OF, WATCH_STREAMS } from "./generator.js";
import { gatewayLines, HeldCalls, type ObserveOwes, windowOver } from "./held.js";
import { Approx, firstDifference, LeaseNames, normalize, type RpcFailure, show } from "./normalize.js";
import {
  AFTER_DEADLINE_MS,
  grantsSession,
  isServiceOp,
  learnSelf,
  maintenanceMethod,
  observeWindow,
  remember,
  type ServiceOp,
  ServiceState,
  serviceAnswer,
  serviceRequest,
  serviceUnary,
  snapshotStream,
  type UnaryMethod,
  unnamedLeases,
} from "./services.js";

/** The user each watch stream of an auth run is opened as (the generator relies on root's being the first). */
const STREAM_USERS = ["root", "alice", "bob"];
/** What a server answers to a token it no longer honours: a client authenticates again and retries. */
const STALE_TOKEN = ["etcdserver: invalid auth token", "etcdserver: revision of auth store is old"];

/** The reference and the subject, in the order answers are shown. */
export const SIDES = ["etcd", "rxetcd"] as const;

/** How long a unary call may take before it counts as unanswered. */
const CALL_TIMEOUT_MS = 20_000;
/** How much later than the server's a client's own deadline passes, when a call sends the server one. */
const CLIENT_DEADLINE_SLACK_MS = 2_000;
/** Remaining TTLs of the two servers may differ by this many seconds (they are read a few ms apart). */
const TTL_TOLERANCE_S = 2;
/** Quiet period that ends a settle when only already-synced watchers can still deliver. */
const QUIET_MS = 15;
/** Quiet period after a watch from history was created: etcd catches unsynced watchers up every 100 ms. */
const HISTORY_QUIET_MS = 250;
/**
 * Pause after a compaction. etcd deletes compacted revisions in its backend's write transaction, which its readers see
 * only once it commits (every 100 ms): until then a watch from the compaction revision still reads a tombstone at
 * that revision, which rxetcd's compaction has already removed. Waiting lets etcd's answer settle.
 */
const AFTER_COMPACTION_MS = 150;
/** A settle gives up waiting for the two sides to agree on watch counts after this long. */
const SETTLE_LIMIT_MS = 5_000;

export interface Divergence {
  /** Index of the first operation whose effect differed (0-based). */
  index: number;
  op: Op;
  /** The request as sent to etcd (lease ids by name). */
  request: string;
  /** Where it differed: "answer", or the watch stream and watch id. */
  where: string;
  /** The path and values of the first difference. */
  detail: string;
  answers: Record<(typeof SIDES)[number], string>;
}

export interface RunResult {
  /** Operations sent to both servers. */
  ops: number;
  /** Answers compared (unary and keep-alive answers, watch responses item by item). */
  compared: number;
  /** Settles that gave up waiting (each costs the settle limit): what was still missing after which operation. */
  slowSettles: string[];
  divergence?: Divergence;
  /** How unary calls travelled (a replay must use the same). */
  via?: Via;
  /** Whether it was an auth run (a replay must be one too). */
  auth?: boolean;
}

type Outcome = { ok: unknown; revision?: number } | { error: RpcFailure };

/** One watch stream of one server, and everything it answered. */
class WatchLog extends AnswerLog {
  /** Ids of the watches this stream created (refusals excluded), in order. */
  readonly created: number[] = [];
  createsSent = 0;
  createAnswers = 0;
  progressSent = 0;
  progressAnswers = 0;
  /** Cancels sent for a watch this stream holds (each is answered canceled); unknown ids get no answer. */
  cancelsAnswerable = 0;
  cancelAnswers = 0;
  /** Ids created here and not cancelled by the client yet (a watch ended by compaction keeps its id). */
  private readonly liveIds = new Set<number>();
  ended = false;
  private call: ClientDuplexStream<WatchRequest, WatchResponse> | undefined;

  constructor(
    private readonly client: WatchClient,
    private readonly side: Side,
  ) {
    super(() => side.opIndex);
  }

  /** Opens the stream (with the metadata given: an auth run's token) unless it is open already. */
  open(md: Metadata): void {
    if (this.call !== undefined) return;
    const call = this.client.watch(md);
    this.call = call;
    call.on("data", (resp: WatchResponse) => this.receive(resp));
    call.on("error", (err: ServiceError) => {
      this.ended = true;
      this.push("end", { end: { code: err.code, message: err.details } });
    });
    call.on("end", () => {
      if (!this.ended) this.push("end", { end: "closed" });
      this.ended = true;
    });
  }

  send(req: WatchRequest): void {
    if (req.createRequest) this.createsSent++;
    if (req.progressRequest) this.progressSent++;
    if (req.cancelRequest && this.liveIds.delete(req.cancelRequest.watchId)) this.cancelsAnswerable++;
    if (!this.ended) this.call?.write(req);
  }

  close(): void {
    this.ended = true;
    this.call?.cancel();
  }

  private receive(resp: WatchResponse): void {
    const leases = this.side.leases;
    const revision = resp.header?.revision ?? null;
    const id = resp.watchId;
    if (resp.created) {
      this.createAnswers++;
      if (!resp.canceled) {
        this.created.push(id);
        this.liveIds.add(id);
      }
      this.push(resp.canceled ? "refused" : `w${id}`, {
        created: true,
        watchId: id,
        canceled: resp.canceled,
        cancelReason: resp.cancelReason,
        compactRevision: resp.compactRevision,
        revision,
        events: resp.events.length,
      });
      return;
    }
    for (const ev of resp.events) {
      this.push(`w${id}`, normalize({ type: ev.type, kv: ev.kv, prevKv: ev.prevKv }, leases));
    }
    if (resp.canceled) {
      // a compaction's cancel carries its revision; the answer to the client's cancel does not
      if (resp.compactRevision === 0) this.cancelAnswers++;
      this.push(`w${id}`, {
        canceled: true,
        compactRevision: resp.compactRevision,
        cancelReason: resp.cancelReason,
        revision,
      });
    } else if (resp.events.length === 0) {
      if (id === -1) this.progressAnswers++;
      this.push(id === -1 ? "progress" : `w${id}`, {
        progress: true,
        revision,
        compactRevision: resp.compactRevision,
      });
    }
  }
}

/** One server: its clients, its lease names, its watch streams and its keep-alive stream. */
class Side {
  readonly leases = new LeaseNames();
  readonly kv: KVClient;
  readonly lease: LeaseClient;
  readonly maintenance: MaintenanceClient;
  readonly auth: AuthClient;
  readonly watchClient: WatchClient;
  /** The lock, election and cluster clients, and what the side remembers of their answers. */
  readonly svc: ServiceState;
  readonly streams: WatchLog[];
  /** Waiters and Observes held open across operations. */
  readonly held: HeldCalls;
  readonly kvRange: UnaryMethod<RangeRequest, RangeResponse>;
  opIndex = 0;
  /** The first revision written with a lease id this server chose (HashKV at or after it cannot be compared). */
  chosenLeaseRev: number | undefined;
  /**
   * The raft index before the first operation. A new etcd 3.4 member has 5 entries in its log by then, a new rxetcd
   * member 3; status answers are compared by the entries added since.
   */
  raftBase = 0;
  private keepAlive: ClientDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse> | undefined;
  private keepAliveWaiters: Array<(o: Outcome) => void> = [];
  /** The token each user of an auth run got last (forgotten when a server calls it stale). */
  private readonly tokens = new Map<string, string>();
  /** The token the running operation is sent with (none: no token). */
  callToken: string | undefined;

  /** The gateway's base URL (the same port: gRPC and HTTP/JSON share it). */
  readonly base: string;

  constructor(
    readonly name: string,
    address: string,
    /** Whether the operation of this index goes to the HTTP gateway instead of gRPC (where the gateway has it). */
    readonly viaGateway: (index: number) => boolean = () => false,
    /** An auth run: streams are opened as STREAM_USERS, keep-alives as root. */
    readonly authRun = false,
  ) {
    this.base = `http://${address}`;
    const options = {
      "grpc.max_receive_message_length": -1,
      "grpc.max_send_message_length": -1,
    };
    const creds = credentials.createInsecure();
    this.kv = new KVClient(address, creds, options);
    this.lease = new LeaseClient(address, creds, options);
    this.maintenance = new MaintenanceClient(address, creds, options);
    this.auth = new AuthClient(address, creds, options);
    this.watchClient = new WatchClient(address, creds, options);
    this.svc = new ServiceState(address, creds, options);
    this.streams = Array.from({ length: WATCH_STREAMS }, () => new WatchLog(this.watchClient, this));
    this.kvRange = this.kv.range.bind(this.kv);
    this.held = new HeldCalls(this);
  }

  /** A unary call as an outcome (never throws). */
  unary<Req, Res>(
    method: UnaryMethod<Req, Res>,
    req: Req,
    serverDeadlineMs?: number,
  ): Promise<{ ok: Res } | { error: RpcFailure }> {
    const md = this.metadata(this.callToken);
    if (serverDeadlineMs === undefined) {
      return new Promise((resolve) => {
        method(req, md, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, res) => {
          if (err) resolve({ error: { code: err.code, message: err.details } });
          else resolve({ ok: res });
        });
      });
    }
    // The server is given the deadline and the client waits longer, so that what the client sees is the server's
    // answer to it (with one deadline, the client's own timer and the server's answer race). A deadline of the
    // call's own would replace this grpc-timeout.
    md.set("grpc-timeout", `${serverDeadlineMs}m`);
    return new Promise((resolve) => {
      const call = method(req, md, {}, (err, res) => {
        clearTimeout(timer);
        if (err) resolve({ error: { code: err.code, message: err.details } });
        else resolve({ ok: res });
      });
      const timer = setTimeout(() => call.cancel(), serverDeadlineMs + CLIENT_DEADLINE_SLACK_MS);
    });
  }

  /** Metadata carrying a token, as clientv3 sends it. */
  metadata(token: string | undefined): Metadata {
    const md = new Metadata();
    if (token !== undefined) md.set("token", token);
    return md;
  }

  /**
   * The token of `user` (undefined for none, or when the user cannot authenticate: the call then goes without one,
   * on both servers alike).
   */
  async tokenFor(user: string | undefined): Promise<string | undefined> {
    if (user === undefined) return undefined;
    const known = this.tokens.get(user);
    if (known !== undefined) return known;
    const saved = this.callToken;
    this.callToken = undefined;
    const res = await this.unary(this.auth.authenticate.bind(this.auth), {
      name: user,
      password: Buffer.from(PASSWORD_OF[user] ?? ""),
    });
    this.callToken = saved;
    if (!("ok" in res)) return undefined;
    this.tokens.set(user, res.ok.token);
    return res.ok.token;
  }

  forget(user: string): void {
    this.tokens.delete(user);
  }

  /** Watch stream `i`, opened first if it is not (in an auth run, as STREAM_USERS[i]). */
  async stream(i: number): Promise<WatchLog> {
    const log = this.streams[i];
    log.open(this.metadata(this.authRun ? await this.tokenFor(STREAM_USERS[i]) : undefined));
    return log;
  }

  /** One keep-alive on the side's keep-alive stream (opened again after it failed). */
  async keepAliveOnce(id: bigint): Promise<Outcome> {
    if (!this.keepAlive) {
      const call = this.lease.leaseKeepAlive(
        this.metadata(this.authRun ? await this.tokenFor("root") : undefined),
      );
      call.on("data", (resp: LeaseKeepAliveResponse) => {
        const w = this.keepAliveWaiters.shift();
        w?.({ ok: normalize(resp, this.leases), revision: resp.header?.revision });
      });
      call.on("error", (err: ServiceError) => {
        if (this.keepAlive === call) this.keepAlive = undefined;
        for (const w of this.keepAliveWaiters.splice(0))
          w({ error: { code: err.code, message: err.details } });
      });
      this.keepAlive = call;
    }
    const call = this.keepAlive;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.keepAliveWaiters.indexOf(done);
        if (i >= 0) this.keepAliveWaiters.splice(i, 1);
        resolve({ error: { code: -1, message: "no keep-alive answer" } });
      }, CALL_TIMEOUT_MS);
      const done = (o: Outcome) => {
        clearTimeout(timer);
        resolve(o);
      };
      this.keepAliveWaiters.push(done);
      call.write({ ID: id });
    });
  }

  close(): void {
    this.held.close();
    for (const s of this.streams) s.close();
    this.keepAlive?.cancel();
    this.kv.close();
    this.lease.close();
    this.maintenance.close();
    this.watchClient.close();
    this.svc.close();
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Builds concrete requests from operation specs for one side, given the current revision. */
class Resolver {
  constructor(
    private readonly side: Side,
    private readonly currentRev: number,
  ) {}

  get currentRevision(): number {
    return this.currentRev;
  }

  bytes(b: Bytes): Buffer {
    return typeof b === "string" ? Buffer.from(b, "latin1") : Buffer.alloc(b.size, b.fill.charCodeAt(0));
  }

  rev(r: Rev): number {
    return typeof r === "number" ? r : this.currentRev + r.rel;
  }

  /** The request of an Auth call: the fields its method takes. */
  auth(method: AuthMethod, a: AuthArgs): Record<string, unknown> {
    switch (method) {
      case "userAdd":
        return { name: a.user, password: a.password, options: { noPassword: a.noPassword } };
      case "userGet":
      case "userDelete":
        return { name: a.user };
      case "userChangePassword":
      case "authenticate":
        return { name: a.user, password: a.password };
      case "userGrantRole":
        return { user: a.user, role: a.role };
      case "userRevokeRole":
        return { name: a.user, role: a.role };
      case "roleAdd":
        return { name: a.role };
      case "roleGet":
      case "roleDelete":
        return { role: a.role };
      case "roleGrantPermission":
        return {
          name: a.role,
          perm: { permType: a.permType, key: this.bytes(a.key), rangeEnd: this.bytes(a.rangeEnd) },
        };
      case "roleRevokePermission":
        return { role: a.role, key: this.bytes(a.key), rangeEnd: this.bytes(a.rangeEnd) };
      case "userList":
      case "roleList":
      case "authEnable":
      case "authDisable":
        return {};
    }
  }

  /** Set when a request was given a lease id that the server chose (it differs between the servers). */
  usedChosenLease = false;

  lease(ref: LeaseRef | null): bigint {
    if (ref === null) return 0n;
    if ("id" in ref) return BigInt(ref.id);
    if ("session" in ref) {
      const sessions = this.side.leases.sessions;
      if (sessions.length === 0) return 0n;
      this.usedChosenLease = true;
      return sessions[sessions.length - 1];
    }
    const granted = this.side.leases.granted;
    const id = granted.length === 0 ? 0n : granted[ref.granted % granted.length];
    if (this.side.leases.chosen.has(id)) this.usedChosenLease = true;
    return id;
  }

  range(s: RangeSpec): RangeRequest {
    return RangeRequest.fromPartial({
      key: this.bytes(s.key),
      rangeEnd: this.bytes(s.rangeEnd),
      limit: s.limit,
      revision: this.rev(s.revision),
      sortOrder: s.sortOrder as RangeRequest_SortOrder,
      sortTarget: s.sortTarget,
      serializable: s.serializable,
      keysOnly: s.keysOnly,
      countOnly: s.countOnly,
      minModRevision: this.rev(s.minModRevision),
      maxModRevision: this.rev(s.maxModRevision),
      minCreateRevision: this.rev(s.minCreateRevision),
      maxCreateRevision: this.rev(s.maxCreateRevision),
    });
  }

  put(s: PutSpec): PutRequest {
    return PutRequest.fromPartial({
      key: this.bytes(s.key),
      value: this.bytes(s.value),
      lease: this.lease(s.lease),
      prevKv: s.prevKv,
      ignoreValue: s.ignoreValue,
      ignoreLease: s.ignoreLease,
    });
  }

  deleteRange(s: DeleteSpec): DeleteRangeRequest {
    return DeleteRangeRequest.fromPartial({
      key: this.bytes(s.key),
      rangeEnd: this.bytes(s.rangeEnd),
      prevKv: s.prevKv,
    });
  }

  compare(c: CompareSpec): Compare {
    const u = c.union;
    return {
      target: c.target,
      result: c.result,
      key: this.bytes(c.key),
      rangeEnd: this.bytes(c.rangeEnd),
      ...("version" in u ? { version: BigInt(u.version) } : {}),
      ...("createRevision" in u ? { createRevision: BigInt(this.rev(u.createRevision)) } : {}),
      ...("modRevision" in u ? { modRevision: BigInt(this.rev(u.modRevision)) } : {}),
      ...("value" in u ? { value: this.bytes(u.value) } : {}),
      ...("lease" in u ? { lease: this.lease(u.lease) } : {}),
    };
  }

  requestOp(o: RequestOpSpec): RequestOp {
    if ("range" in o) return { requestRange: this.range(o.range) };
    if ("put" in o) return { requestPut: this.put(o.put) };
    if ("deleteRange" in o) return { requestDeleteRange: this.deleteRange(o.deleteRange) };
    if ("txn" in o) return { requestTxn: this.txn(o.txn) };
    return {};
  }

  txn(s: TxnSpec): TxnRequest {
    return TxnRequest.fromPartial({
      compare: s.compare.map((c) => this.compare(c)),
      success: s.success.map((o) => this.requestOp(o)),
      failure: s.failure.map((o) => this.requestOp(o)),
    });
  }

  watchCreate(s: WatchCreateSpec): WatchCreateRequest {
    return {
      key: this.bytes(s.key),
      rangeEnd: this.bytes(s.rangeEnd),
      startRevision: this.rev(s.startRevision),
      progressNotify: s.progressNotify,
      filters: s.filters,
      prevKv: s.prevKv,
      watchId: s.watchId,
      fragment: s.fragment,
    };
  }
}

/** The concrete request of an operation for one side (what is shown in a report). */
function requestOf(op: Op, r: Resolver, side: Side): unknown {
  switch (op.kind) {
    case "range":
      return r.range(op.req);
    case "put":
      return r.put(op.req);
    case "deleteRange":
      return r.deleteRange(op.req);
    case "txn":
      return r.txn(op.req);
    case "compact":
      return { revision: r.rev(op.revision), physical: op.physical };
    case "leaseGrant":
      return { TTL: op.ttl, ID: BigInt(op.id) };
    case "leaseRevoke":
    case "leaseKeepAlive":
      return { ID: r.lease(op.lease) };
    case "leaseTimeToLive":
      return { ID: r.lease(op.lease), keys: op.keys };
    case "watchCreate":
      return { stream: op.stream, createRequest: r.watchCreate(op.req) };
    case "watchCancel":
      return { stream: op.stream, cancelRequest: { watchId: watchIdOf(side, op.stream, op.watch) } };
    case "hashKv":
      return { revision: r.rev(op.revision) };
    case "auth":
      return { method: op.method, ...r.auth(op.method, op.args) };
    default:
      if (isServiceOp(op)) return serviceRequest(op, side.svc, r);
      return { ...op };
  }
}

function watchIdOf(side: Side, stream: number, ref: { created: number } | { id: number }): number {
  if ("id" in ref) return ref.id;
  const created = side.streams[stream].created;
  return created.length === 0 ? 0 : created[ref.created % created.length];
}

function headerRev(resp: unknown): number | undefined {
  const h = (resp as { header?: ResponseHeader }).header;
  return h?.revision;
}

function outcomeOf(
  res: { ok: unknown } | { error: RpcFailure },
  leases: LeaseNames,
  ttlTolerance = 0,
): Outcome {
  if ("error" in res) return res;
  return { ok: normalize(res.ok, leases, ttlTolerance), revision: headerRev(res.ok) };
}

/** Go's sort.Sort sorts up to this many elements by insertion, which keeps equal ones in key order. */
const GO_STABLE_SORT_MAX = 12;

interface NormalizedKv {
  key: string;
  [field: string]: unknown;
}

/**
 * Equal sort values in a sorted range of more than 12 keys: etcd sorts with Go's sort.Sort, whose order for equal
 * elements is its own (and changed between Go versions); rxetcd keeps them in key order. Such runs are compared as
 * sets (sorted by key here), and the last run of an answer cut by the limit by its size and value alone (its ties
 * may go on past the limit).
 */
function relaxTies(req: RangeRequest, resp: unknown): void {
  if (req.sortTarget === 0) return; // keys are unique: no ties
  const r = resp as { kvs: NormalizedKv[]; more: boolean; count: number };
  if (r.count <= GO_STABLE_SORT_MAX || r.kvs.length === 0) return;
  const field = ["key", "version", "createRevision", "modRevision", "value"][req.sortTarget];
  if (field === undefined) return;
  const out: unknown[] = [];
  for (let i = 0; i < r.kvs.length; ) {
    let j = i + 1;
    while (j < r.kvs.length && r.kvs[j][field] === r.kvs[i][field]) j++;
    const run = r.kvs.slice(i, j);
    // the run the limit cut: which of the tied keys made it in is the sort's choice, even for a run of one
    if (j === r.kvs.length && r.more) {
      out.push({ tiedAtLimit: run.length, [field]: run[0][field] });
    } else {
      out.push(...run.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
    }
    i = j;
  }
  r.kvs = out as NormalizedKv[];
}

/** A key shown with the name of a lease the server chose (see LeaseNames.renameKey). */
const RENAMED_KEY = /\/<[^/>]*>$/;

/**
 * Every list of keys in an answer (a range's, a txn's ranges) that holds a key named after a lease the server chose,
 * sorted by the keys as shown: a lock's or an election's key ends in that lease's id, which is random, and a range
 * orders keys (and breaks ties) by the raw key, so where such a key falls among the others differs between the two
 * servers (seed 1006 with auth: `lk2/109a...` before `lk2/186a2` on one, `lk2/7568...` after it on the other). Such a
 * list is compared as a set. A list the limit cut is left as it is: which keys made the cut depends on the ids too.
 */
export function orderRenamedKeys(v: unknown): void {
  if (Array.isArray(v)) {
    for (const x of v) orderRenamedKeys(x);
    return;
  }
  if (typeof v !== "object" || v === null) return;
  const r = v as { kvs?: unknown; more?: unknown };
  if (Array.isArray(r.kvs) && r.more !== true) {
    const kvs = r.kvs as { key?: unknown }[];
    const shown = (kv: { key?: unknown }) => (typeof kv.key === "string" ? kv.key : "");
    if (kvs.some((kv) => RENAMED_KEY.test(shown(kv))))
      kvs.sort((a, b) => (shown(a) < shown(b) ? -1 : shown(a) > shown(b) ? 1 : 0));
  }
  for (const x of Object.values(v)) orderRenamedKeys(x);
}

function relaxRangeTies(req: RangeRequest, out: Outcome): Outcome {
  if ("ok" in out) {
    relaxTies(req, out.ok);
    orderRenamedKeys(out.ok);
  }
  return out;
}

function relaxTxnTies(req: TxnRequest, out: Outcome): Outcome {
  if (!("ok" in out)) return out;
  const walk = (t: TxnRequest, resp: unknown) => {
    const r = resp as { succeeded: boolean; responses: Array<Record<string, unknown>> };
    const ops = r.succeeded ? t.success : t.failure;
    ops.forEach((op, i) => {
      const answer = r.responses[i];
      if (answer === undefined) return;
      if (op.requestRange && answer.responseRange) relaxTies(op.requestRange, answer.responseRange);
      if (op.requestTxn && answer.responseTxn) walk(op.requestTxn, answer.responseTxn);
    });
  };
  walk(req, out.ok);
  orderRenamedKeys(out.ok);
  return out;
}

/** Notes the revision of a write that attached a lease id the server chose. */
function wrote(side: Side, r: Resolver, out: Outcome): Outcome {
  if (r.usedChosenLease && "ok" in out && out.revision !== undefined) {
    side.chosenLeaseRev = Math.min(side.chosenLeaseRev ?? out.revision, out.revision);
  }
  return out;
}

/** Runs one operation against one side and returns its normalized outcome. */
/** The message of an answer that calls its token stale (gRPC or gateway), if it is one. */
function staleTokenMessage(out: Outcome): string | undefined {
  const message =
    "error" in out
      ? out.error.message
      : ((out.ok as { body?: { message?: unknown } } | undefined)?.body?.message as string | undefined);
  return message !== undefined && STALE_TOKEN.includes(message) ? message : undefined;
}

/**
 * An operation as its sender (`op.as`) sends it: with that user's token, and, when the server calls the token stale,
 * once more with a new one, as clientv3 does (the answer then says so, so a retry on one server only is a difference).
 */
async function executeAs(side: Side, op: Op, currentRev: number): Promise<Outcome> {
  side.callToken = await side.tokenFor(op.as);
  const first = await execute(side, op, currentRev);
  const stale = op.as === undefined ? undefined : staleTokenMessage(first);
  if (op.as === undefined || stale === undefined) return first;
  side.forget(op.as);
  side.callToken = await side.tokenFor(op.as);
  const again = await execute(side, op, currentRev);
  return "error" in again
    ? { error: { code: again.error.code, message: `(retried after "${stale}") ${again.error.message}` } }
    : { ok: { retriedAfter: stale, answer: again.ok }, revision: again.revision };
}

async function execute(side: Side, op: Op, currentRev: number): Promise<Outcome> {
  const r = new Resolver(side, currentRev);
  const path = gatewayPath(op);
  if (path !== undefined && side.viaGateway(side.opIndex)) return executeGateway(side, op, r, path);
  const kv = side.kv;
  const ls = side.lease;
  const mt = side.maintenance;
  switch (op.kind) {
    case "range": {
      const req = r.range(op.req);
      return relaxRangeTies(req, outcomeOf(await side.unary(kv.range.bind(kv), req), side.leases));
    }
    case "put":
      return wrote(side, r, outcomeOf(await side.unary(kv.put.bind(kv), r.put(op.req)), side.leases));
    case "deleteRange":
      return outcomeOf(await side.unary(kv.deleteRange.bind(kv), r.deleteRange(op.req)), side.leases);
    case "txn": {
      const req = r.txn(op.req);
      return wrote(
        side,
        r,
        relaxTxnTies(req, outcomeOf(await side.unary(kv.txn.bind(kv), req), side.leases)),
      );
    }
    case "compact":
      return outcomeOf(
        await side.unary(
          kv.compact.bind(kv),
          CompactionRequest.fromPartial({ revision: r.rev(op.revision), physical: op.physical }),
        ),
        side.leases,
      );
    case "leaseGrant": {
      const res = await side.unary(ls.leaseGrant.bind(ls), { TTL: op.ttl, ID: BigInt(op.id) });
      if ("ok" in res && res.ok.error === "") side.leases.grant(res.ok.ID, op.id === "0");
      return outcomeOf(res, side.leases);
    }
    case "leaseRevoke":
      return outcomeOf(await side.unary(ls.leaseRevoke.bind(ls), { ID: r.lease(op.lease) }), side.leases);
    case "leaseKeepAlive":
      return side.keepAliveOnce(r.lease(op.lease));
    case "leaseTimeToLive": {
      const out = outcomeOf(
        await side.unary(ls.leaseTimeToLive.bind(ls), { ID: r.lease(op.lease), keys: op.keys }),
        side.leases,
        TTL_TOLERANCE_S,
      );
      // etcd lists a lease's keys in Go map order (random): compare them sorted, once named (see renameKey)
      if ("ok" in out) (out.ok as { keys: string[] }).keys.sort();
      return out;
    }
    case "leaseLeases": {
      const res = await side.unary(ls.leaseLeases.bind(ls), {});
      const out = outcomeOf(res, side.leases);
      if ("ok" in out) {
        // etcd lists leases in map order: compare them as a set.
        const v = out.ok as { leases: Array<{ ID: string }> };
        v.leases.sort((a, b) => (a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0));
      }
      return out;
    }
    case "leaseExpire":
      return expireLease(side, BigInt(op.id), op.ttl, op.keys);
    case "watchCreate":
      (await side.stream(op.stream)).send({ createRequest: r.watchCreate(op.req) });
      return { ok: "sent" };
    case "watchCancel":
      (await side.stream(op.stream)).send({
        cancelRequest: { watchId: watchIdOf(side, op.stream, op.watch) },
      });
      return { ok: "sent" };
    case "watchProgress":
      (await side.stream(op.stream)).send({ progressRequest: {} });
      return { ok: "sent" };
    case "status": {
      const res = await side.unary(mt.status.bind(mt), {});
      if ("ok" in res) {
        // counted from the first status: the two start with different numbers of entries (see raftBase)
        res.ok.raftIndex -= side.raftBase;
        res.ok.raftAppliedIndex -= side.raftBase;
      }
      return outcomeOf(res, side.leases);
    }
    case "hashKv": {
      const revision = r.rev(op.revision);
      const out = outcomeOf(
        await side.unary(mt.hashKv.bind(mt), HashKVRequest.fromPartial({ revision })),
        side.leases,
      );
      const hashed = revision === 0 && "ok" in out ? out.revision : revision;
      if (
        "ok" in out &&
        side.chosenLeaseRev !== undefined &&
        hashed !== undefined &&
        side.chosenLeaseRev <= hashed
      ) {
        // the history hashed holds lease ids that differ between the servers
        (out.ok as { hash: unknown }).hash = "(keys with lease ids the servers chose)";
      }
      return out;
    }
    case "alarmList":
      return outcomeOf(
        await side.unary(mt.alarm.bind(mt), AlarmRequest.fromPartial({ action: 0 })),
        side.leases,
      );
    case "auth":
      return outcomeOf(await authCall(side, op.method, r.auth(op.method, op.args)), side.leases);
    case "lockWait":
    case "campaignWait":
      // the answer comes later, as a held item; compared here: whether it queued up (or answered) in time
      return { ok: await side.held.wait(op, side.viaGateway(side.opIndex)) };
    case "observeOpen":
      side.held.observe(r.bytes(op.name), side.viaGateway(side.opIndex));
      return { ok: "opened" };
    case "waiterLeave": {
      const left = side.held.leave(op.which);
      // the server gives up the waiter's place (a write) once it sees the client gone
      if (left) await sleep(AFTER_DEADLINE_MS);
      return { ok: { left } };
    }
    case "observeClose":
      return { ok: { closed: side.held.closeObserver(op.which) } };
    case "leaseAwaitExpiry":
      return awaitExpiry(side, BigInt(op.lease));
    default:
      return executeService(side, op, r);
  }
}

/** A lock, election, cluster or maintenance call over gRPC. */
async function executeService(side: Side, op: ServiceOp, r: Resolver): Promise<Outcome> {
  const req = serviceRequest(op, side.svc, r);
  const call = side.unary.bind(side) as Parameters<typeof serviceUnary>[3];
  let res: { ok: unknown } | { error: RpcFailure };
  const mt = side.maintenance as unknown as Record<string, unknown>;
  const maintenance = maintenanceMethod(op);
  const gateway = side.viaGateway(side.opIndex);
  if (op.kind === "observe" && gateway) return observeWindowGateway(side, req, op.windowMs);
  if (op.kind === "snapshot" && gateway) return snapshotGateway(side);
  if (op.kind === "observe")
    res = await observeWindow(side.svc, req, side.metadata(side.callToken), op.windowMs, () =>
      observeOwes(side, req.name as Buffer),
    );
  else if (op.kind === "snapshot")
    res = await snapshotStream(side.maintenance, side.metadata(side.callToken), CALL_TIMEOUT_MS);
  else if (maintenance !== undefined)
    res = await call((mt[maintenance] as (...a: never[]) => ClientUnaryCall).bind(mt) as never, req);
  else res = await serviceUnary(op, side.svc, req, call);
  if ("ok" in res) remember(op, side.svc, res.ok, false);
  await afterSession(side, op, r);
  if ("error" in res) return { error: expiredOnArrival(op, res.error) };
  return outcomeOf({ ok: serviceAnswer(op, side.svc, res.ok) }, side.leases);
}

/**
 * A Lock or Campaign whose deadline had passed when it arrived (grpc-timeout: 0): etcd's gRPC server answers
 * DeadlineExceeded (4) when it finds the deadline passed as it reads the request, and Unknown (2) with the same text
 * when the handler ran first and its internal client gave up; which of the two is a race inside etcd (the same request
 * gets either), so both count as the one answer "deadline passed".
 */
function expiredOnArrival(op: ServiceOp, error: RpcFailure): RpcFailure {
  const zero = (op.kind === "lock" || op.kind === "campaign") && op.deadlineMs === 0;
  if (zero && error.message === "context deadline exceeded" && (error.code === 2 || error.code === 4))
    return { code: 4, message: "(deadline passed on arrival) context deadline exceeded" };
  return error;
}

/**
 * After a Lock or Campaign sent without a lease: names the session lease the server granted for it (whether or not
 * the call succeeded), and notes that keys from here on may carry it (HashKV cannot compare those revisions).
 */
async function afterSession(side: Side, op: ServiceOp, r: Resolver): Promise<void> {
  const req = serviceRequest(op, side.svc, r);
  const from = r.currentRevision + 1;
  // a Lock, Campaign or Proclaim may put a key with a lease the server chose earlier (granted with id 0)
  const lease = (req.leader as LeaderKey | undefined)?.lease ?? req.lease;
  if (typeof lease === "bigint" && side.leases.chosen.has(lease))
    side.chosenLeaseRev = Math.min(side.chosenLeaseRev ?? from, from);
  if (!grantsSession(op, req)) return;
  const saved = side.callToken;
  side.callToken = side.authRun ? await side.tokenFor("root") : undefined;
  const found = await unnamedLeases(side.unary.bind(side) as never, side.lease, side.leases);
  side.callToken = saved;
  for (const id of found) {
    side.leases.grant(id, true);
    side.leases.sessions.push(id);
  }
  side.chosenLeaseRev = Math.min(side.chosenLeaseRev ?? from, from);
}

/**
 * An Auth call over gRPC (the generated client's method of that name). A password is a string in etcd's proto and
 * the gateway's JSON, bytes in the generated types (rxetcd keeps its raw bytes): over gRPC it goes as those bytes,
 * with the 3.5 hashed password empty.
 */
function authCall(side: Side, method: AuthMethod, fields: Record<string, unknown>) {
  const req =
    typeof fields.password === "string"
      ? { ...fields, password: Buffer.from(fields.password, "latin1"), hashedPassword: "" }
      : fields;
  const client = side.auth as unknown as Record<AuthMethod, UnaryMethod<unknown, unknown>>;
  return side.unary(client[method].bind(client), req);
}

/**
 * One operation through the HTTP gateway: the request as JSON, the answer compared as JSON with its HTTP status
 * (an error is a body with error, code and message, and a status that goes with the code).
 */
async function executeGateway(side: Side, op: Op, r: Resolver, path: string): Promise<Outcome> {
  const body =
    op.kind === "leaseLeases" || op.kind === "status"
      ? {}
      : op.kind === "alarmList"
        ? { action: 0 }
        : op.kind === "auth"
          ? r.auth(op.method, op.args)
          : requestOf(op, r, side);
  // grpc-gateway turns a Grpc-Timeout header into the call's deadline
  const serverDeadline = op.kind === "lock" || op.kind === "campaign" ? op.deadlineMs : undefined;
  let answer: Awaited<ReturnType<typeof postGateway>>;
  try {
    answer = await postGateway(
      side.base,
      path,
      requestJson(body),
      serverDeadline === undefined ? CALL_TIMEOUT_MS : serverDeadline + CLIENT_DEADLINE_SLACK_MS,
      side.callToken,
      serverDeadline,
    );
  } catch (err) {
    if (isServiceOp(op)) await afterSession(side, op, r);
    return { error: { code: -1, message: `gateway: ${err instanceof Error ? err.message : String(err)}` } };
  }
  if (serverDeadline !== undefined && answer.status !== 200) await sleep(AFTER_DEADLINE_MS);
  const ok = answer.status === 200 ? (answer.body as Record<string, unknown>) : undefined;
  if (ok && op.kind === "leaseGrant" && typeof ok.ID === "string" && !ok.error) {
    side.leases.grant(BigInt(ok.ID), op.id === "0");
  }
  if (ok && op.kind === "range") relaxJsonTies((body as RangeRequest).sortTarget, ok);
  if (ok && op.kind === "txn") relaxJsonTxnTies(body as TxnRequest, ok);
  if (ok && op.kind === "leaseTimeToLive" && Array.isArray(ok.keys)) (ok.keys as string[]).sort();
  let json = answer.body;
  if (isServiceOp(op)) {
    if (ok && !ok.error) remember(op, side.svc, ok, true);
    await afterSession(side, op, r);
    json = serviceAnswer(op, side.svc, json);
  }
  const normalized = normalizeJson(
    json,
    side.leases,
    op.kind === "leaseTimeToLive" ? TTL_TOLERANCE_S : 0,
    side.raftBase,
  );
  if (ok && op.kind === "leaseTimeToLive") {
    // sorted again: keys named by a lease the server chose sort by that name
    const v = normalized as { keys?: string[] };
    v.keys?.sort();
  }
  if (ok && (op.kind === "range" || op.kind === "txn")) orderRenamedKeys(normalized);
  if (ok && op.kind === "leaseLeases") {
    // etcd lists leases in map order: compare them as a set
    const v = normalized as { leases?: Array<{ ID: string }> };
    v.leases?.sort((a, b) => (a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0));
  }
  const out: Outcome = {
    ok: expiredWhileWaiting(serverDeadline, { http: answer.status, body: normalized }),
    revision: ok ? jsonRevision(ok) : undefined,
  };
  return op.kind === "put" || op.kind === "txn" ? wrote(side, r, out) : out;
}

/** The gateway's answer to a Lock or Campaign whose deadline passed while it waited (etcd's two, as one). */
const EXPIRED_WHILE_WAITING = {
  http: 504,
  body: { error: "context deadline exceeded", message: "context deadline exceeded", code: 4 },
};

/**
 * A Lock or Campaign through the gateway whose deadline passes while it waits: etcd's gateway answers 504 (code 4)
 * when its internal client's deadline fires first, and 500 (code 2, the same text) when the handler's does and
 * returns its context's error; which of the two is a race inside etcd (seed 1008 of the gateway runs gets either), so
 * both count as the one answer 504.
 */
export function expiredWhileWaiting(
  serverDeadline: number | undefined,
  answer: { http: number; body: unknown },
): { http: number; body: unknown } {
  if (serverDeadline === undefined || answer.http !== 500) return answer;
  const body = answer.body as { error?: unknown; message?: unknown; code?: unknown } | undefined;
  const racing =
    body?.code === 2 &&
    body.error === "context deadline exceeded" &&
    body.message === "context deadline exceeded";
  return racing ? EXPIRED_WHILE_WAITING : answer;
}

/** relaxJsonTies for every range inside a txn answer, nested txns included. */
function relaxJsonTxnTies(req: TxnRequest, resp: Record<string, unknown>): void {
  const ops = resp.succeeded ? req.success : req.failure;
  const answers = (resp.responses ?? []) as Array<Record<string, Record<string, unknown>>>;
  ops.forEach((op, i) => {
    const a = answers[i];
    if (a === undefined) return;
    if (op.requestRange && a.response_range) relaxJsonTies(op.requestRange.sortTarget, a.response_range);
    if (op.requestTxn && a.response_txn) relaxJsonTxnTies(op.requestTxn, a.response_txn);
  });
}

/** etcd lists a lease's keys in Go map order (random): compare them sorted. */
function sortedKeys<T extends { ok: { keys: Buffer[] } } | { error: RpcFailure }>(res: T): T {
  if ("ok" in res) res.ok.keys.sort(Buffer.compare);
  return res;
}

/** Polls a lease every `pollMs` until its TTL reads -1 (true), or its TTL and a margin pass (false). */
async function leaseExpiredWithin(side: Side, id: bigint, ttl: number, pollMs: number): Promise<boolean> {
  const ls = side.lease;
  const deadline = Date.now() + Math.max(ttl, 2) * 1000 + 15_000;
  while (Date.now() < deadline) {
    const now = await side.unary(ls.leaseTimeToLive.bind(ls), { ID: id, keys: false });
    if ("ok" in now && now.ok.TTL === -1) return true;
    await sleep(pollMs);
  }
  return false;
}

/**
 * Waits until the server has let a lease expire (its TTL reads -1), bounded by its TTL and a margin. Compared: whether
 * it expired in time; the revision after it (the expiry deleted its keys).
 */
async function awaitExpiry(side: Side, id: bigint): Promise<Outcome> {
  const ls = side.lease;
  const kv = side.kv;
  const saved = side.callToken;
  side.callToken = side.authRun ? await side.tokenFor("root") : undefined;
  try {
    const first = await side.unary(ls.leaseTimeToLive.bind(ls), { ID: id, keys: false });
    const ttl = "ok" in first ? first.ok.grantedTTL : 0;
    const expired = await leaseExpiredWithin(side, id, ttl, 50);
    const after = await side.unary(
      kv.range.bind(kv),
      RangeRequest.fromPartial({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), countOnly: true }),
    );
    return {
      ok: { expired, after: "ok" in after ? normalize(after.ok, side.leases) : after },
      revision: "ok" in after ? headerRev(after.ok) : undefined,
    };
  } finally {
    side.callToken = saved;
  }
}

/**
 * Observe through the gateway for a while: every JSON value of the stream in the window (grpc-gateway writes a
 * stream's messages as `{"result": ...}` lines, and its error as an `{"error": ...}` one), normalized as a gateway
 * answer, with the HTTP status.
 */
async function observeWindowGateway(
  side: Side,
  req: Record<string, unknown>,
  windowMs: number,
): Promise<Outcome> {
  const abort = new AbortController();
  const answers: unknown[] = [];
  let ended = false;
  void windowOver(
    windowMs,
    () => answers.length,
    () => ended,
    () => observeOwes(side, req.name as Buffer),
  ).then(() => abort.abort());
  try {
    const status = await gatewayLines(side, "/v3/election/observe", req, abort.signal, (line) =>
      answers.push(normalizeJson(line, side.leases, 0, side.raftBase)),
    );
    ended = true;
    return {
      ok: abort.signal.aborted
        ? { answers, open: true, headersCame: status !== 0 }
        : { answers, end: "closed", http: status },
    };
  } catch (err) {
    ended = true;
    return { error: { code: -1, message: `gateway: ${err instanceof Error ? err.message : String(err)}` } };
  }
}

/**
 * What an Observe owes once its window passed with no answer: etcd's Observe first reads the election's first key
 * with the caller's credentials, and ends its stream when that read fails; with a key it answers it.
 */
async function observeOwes(side: Side, name: Buffer): Promise<ObserveOwes> {
  const prefix = Buffer.concat([name, Buffer.from("/")]);
  const res = await side.unary(
    side.kvRange,
    RangeRequest.fromPartial({ key: prefix, rangeEnd: prefixEnd(prefix), limit: 1, keysOnly: true }),
  );
  if ("error" in res) return "end";
  return res.ok.kvs.length > 0 ? "answer" : "nothing";
}

/**
 * A snapshot through the gateway: a stream of `{"result": {header, remaining_bytes, blob}}` lines. As over gRPC, the
 * bytes are each server's own backend file; compared are the shape of the stream (every line a result, the fields
 * of its first and last, which JSON leaves out when they hold their default) and what snapshotStream checks.
 */
async function snapshotGateway(side: Side): Promise<Outcome> {
  const lines: unknown[] = [];
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), CALL_TIMEOUT_MS);
  let status: number;
  try {
    status = await gatewayLines(side, "/v3/maintenance/snapshot", {}, abort.signal, (l) => lines.push(l));
  } catch (err) {
    return { error: { code: -1, message: `gateway: ${err instanceof Error ? err.message : String(err)}` } };
  } finally {
    clearTimeout(timer);
  }
  type Chunk = { header?: unknown; remaining_bytes?: string; blob?: string };
  const results = lines.map((l) => (l as { result?: Chunk }).result);
  const chunks = results.filter((r): r is Chunk => r !== undefined);
  const all = Buffer.concat(chunks.map((c) => Buffer.from(c.blob ?? "", "base64")));
  const body = all.subarray(0, Math.max(0, all.length - 32));
  const trailer = all.subarray(body.length);
  const last = chunks[chunks.length - 1];
  // How many chunks there are depends on the size of each server's backend file; what every chunk must be does not:
  // remaining_bytes counts down to 0 over the data chunks, and JSON leaves it out exactly where it is 0.
  let left = all.length - 32;
  const counted = chunks.slice(0, -1).every((c) => {
    left -= Buffer.from(c.blob ?? "", "base64").length;
    return Number(c.remaining_bytes ?? 0) === left && (c.remaining_bytes === undefined) === (left === 0);
  });
  return {
    ok: {
      http: status,
      everyLineAResult: chunks.length === lines.length,
      notResults: lines.filter((l) => (l as { result?: unknown }).result === undefined),
      remainingBytesCountDown: counted && left === 0,
      lastFields: last === undefined ? null : Object.keys(last).sort(),
      nonEmpty: all.length > 32,
      lastRemainingBytes: last?.remaining_bytes ?? null,
      checksumMatches: trailer.length === 32 && createHash("sha256").update(body).digest().equals(trailer),
      boltMagic: all.subarray(16, 20).toString("hex"),
      everyChunkHasHeader: chunks.every((c) => c.header !== undefined),
      firstHeader: normalizeJson(chunks[0]?.header ?? null, side.leases, 0, side.raftBase),
    },
  };
}

/** Grants a short lease, attaches keys, and waits for the server to revoke it on expiry. */
async function expireLease(side: Side, leaseId: bigint, ttl: number, keys: string[]): Promise<Outcome> {
  const ls = side.lease;
  const kv = side.kv;
  const grant = await side.unary(ls.leaseGrant.bind(ls), { TTL: ttl, ID: leaseId });
  if ("error" in grant) return grant;
  const id = grant.ok.ID;
  side.leases.grant(id, false);
  const attach =
    keys.length === 0
      ? undefined
      : await side.unary(
          kv.txn.bind(kv),
          TxnRequest.fromPartial({
            success: keys.map((k) => ({
              requestPut: PutRequest.fromPartial({
                key: Buffer.from(k, "latin1"),
                value: Buffer.from("e"),
                lease: id,
              }),
            })),
          }),
        );
  const before = sortedKeys(await side.unary(ls.leaseTimeToLive.bind(ls), { ID: id, keys: true }));
  const expired = await leaseExpiredWithin(side, id, ttl, 100);
  const after = await side.unary(
    kv.range.bind(kv),
    RangeRequest.fromPartial({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), countOnly: true }),
  );
  const norm = (x: { ok: unknown } | { error: RpcFailure } | undefined, tol = 0) =>
    x === undefined ? null : "error" in x ? x : normalize(x.ok, side.leases, tol);
  return {
    ok: {
      grant: norm(grant),
      attach: norm(attach),
      before: norm(before, TTL_TOLERANCE_S),
      expired,
      after: norm(after),
    },
    revision: "ok" in after ? headerRev(after.ok) : undefined,
  };
}

/**
 * A watch item with the lease names known now: an event may arrive before the answer that names the lease it
 * carries (a Lock's session lease is named after the Lock's answer).
 */
function relabel(v: unknown, leases: LeaseNames, field = ""): unknown {
  if (typeof v === "string") {
    const id = /^id:(\d+)$/.exec(v);
    if (id) return leases.name(BigInt(id[1]));
    const renamed = leases.renameKey(v);
    if (renamed !== v || field !== "key") return renamed;
    // a gateway answer's key is base64
    const raw = Buffer.from(v, "base64");
    if (raw.toString("base64") !== v) return v;
    const shown = raw.toString("latin1");
    const named = leases.renameKey(shown);
    return named === shown ? v : named;
  }
  if (Array.isArray(v)) return v.map((x) => relabel(x, leases, field));
  if (typeof v === "object" && v !== null && !(v instanceof Approx)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = relabel(x, leases, k);
    return out;
  }
  return v;
}

function describe(v: unknown): string {
  return show(v);
}

/** Compares the two sides' answers and watch items; keeps the position reached in each watch bucket. */
class Comparator {
  compared = 0;
  private readonly cursors = new Map<string, number>();

  constructor(
    private readonly sides: readonly [Side, Side],
    /** Told of each item of the held calls found the same on both sides (etcd's, normalized). */
    private readonly onHeld?: (bucket: string, etcd: unknown) => void,
  ) {}

  /** The first watch difference (when `final`, also a bucket one side has more of). */
  watches(
    final: boolean,
  ): { index: number; where: string; detail: string; a: string; b: string } | undefined {
    const [a, b] = this.sides;
    let found: { index: number; where: string; detail: string; a: string; b: string } | undefined;
    const consider = (d: NonNullable<typeof found>) => {
      if (!found || d.index < found.index) found = d;
    };
    // the watch streams, then the held calls (waiters and Observes) as one more log
    const logs: Array<[string, Pick<WatchLog, "buckets">, Pick<WatchLog, "buckets">]> = a.streams.map(
      (la, s) => [`watch stream ${s}`, la, b.streams[s]],
    );
    logs.push(["held", a.held, b.held]);
    for (const [logName, la, lb] of logs) {
      const names = new Set([...la.buckets.keys(), ...lb.buckets.keys()]);
      for (const name of names) {
        const key = `${logName}/${name}`;
        const xa = la.buckets.get(name) ?? [];
        const xb = lb.buckets.get(name) ?? [];
        let i = this.cursors.get(key) ?? 0;
        const common = Math.min(xa.length, xb.length);
        for (; i < common; i++) {
          const d = firstDifference(relabel(xa[i].value, a.leases), relabel(xb[i].value, b.leases));
          if (d) {
            consider({
              index: Math.max(xa[i].op, xb[i].op),
              where: `${logName} ${name} item ${i}`,
              detail: d,
              a: describe(xa[i].value),
              b: describe(xb[i].value),
            });
            break;
          }
          this.compared++;
          if (logName === "held") this.onHeld?.(name, relabel(xa[i].value, a.leases));
        }
        this.cursors.set(key, i);
        if (final && i === common && xa.length !== xb.length) {
          const extra = xa.length > xb.length ? xa[i] : xb[i];
          consider({
            index: extra.op,
            where: `${logName} ${name} item ${i}`,
            detail: `only ${xa.length > xb.length ? SIDES[0] : SIDES[1]} sent it`,
            a: i < xa.length ? describe(xa[i].value) : "(nothing)",
            b: i < xb.length ? describe(xb[i].value) : "(nothing)",
          });
        }
      }
    }
    return found;
  }
}

/**
 * Waits until both sides' watch streams agree in size and have been quiet for `quietMs`. Returns what was still
 * missing when the limit passed (the comparison then shows which side is short), or undefined.
 */
async function settle(sides: readonly [Side, Side], quietMs: number): Promise<string | undefined> {
  const deadline = Date.now() + SETTLE_LIMIT_MS;
  // what waiters and Observes owe must come before the next operation (their answers' headers depend on it)
  const due = await Promise.all(sides.map((s) => s.held.due()));
  for (;;) {
    const [a, b] = sides;
    const waiting: string[] = [];
    let last = Math.max(a.held.lastArrival, b.held.lastArrival);
    sides.forEach((side, i) => {
      const owed = due[i].filter((given) => !given()).length;
      if (owed > 0) waiting.push(`${side.name}: ${owed} answers of waiters or Observes`);
    });
    if (a.held.items.length !== b.held.items.length)
      waiting.push(`held calls: ${a.held.items.length} vs ${b.held.items.length} answers`);
    for (let s = 0; s < WATCH_STREAMS; s++) {
      const la = a.streams[s];
      const lb = b.streams[s];
      // Every create and progress request is answered, and so is a cancel of a watch the stream holds; wait for
      // those answers on both sides.
      for (const [side, l] of [
        [a, la],
        [b, lb],
      ] as const) {
        if (l.createAnswers < l.createsSent) waiting.push(`${side.name} stream ${s}: create answers`);
        if (l.progressAnswers < l.progressSent) waiting.push(`${side.name} stream ${s}: progress answers`);
        if (l.cancelAnswers < l.cancelsAnswerable) waiting.push(`${side.name} stream ${s}: cancel answers`);
      }
      if (la.items.length !== lb.items.length)
        waiting.push(`stream ${s}: ${la.items.length} vs ${lb.items.length} responses`);
      last = Math.max(last, la.lastArrival, lb.lastArrival);
    }
    const now = Date.now();
    if (waiting.length === 0 && now - last >= quietMs) return undefined;
    if (now > deadline) return waiting.join(", ") || "still receiving";
    await sleep(waiting.length === 0 ? Math.max(1, quietMs - (now - last)) : 5);
  }
}

/** Whether a stream may still answer: it created watches, or was asked for progress (answered even with none). */
function hasWatches(side: Side): boolean {
  return side.held.active || side.streams.some((s) => s.createsSent > 0 || s.progressSent > 0);
}

/**
 * How unary operations travel: all over gRPC, all through the HTTP gateway (where it has the call), or every
 * other one through the gateway. Watches, keep-alives and HashKV always use gRPC.
 */
export type Via = "grpc" | "gateway" | "mixed";
export const VIAS: readonly Via[] = ["grpc", "gateway", "mixed"];

export interface RunOptions {
  /** Called after each operation (progress display). */
  onOp?: (index: number, op: Op) => void;
  via?: Via;
  /** The operations are an auth run's (generated with `auth`): streams and keep-alives go with tokens. */
  auth?: boolean;
  /** Called with both normalized answers of each operation (before they are compared). */
  onAnswers?: (index: number, etcd: unknown, rxetcd: unknown) => void;
  /** Called with each answer of a waiter or a held Observe once found the same on both (etcd's). */
  onHeld?: (bucket: string, etcd: unknown) => void;
}

function gatewayChooser(via: Via): (index: number) => boolean {
  if (via === "gateway") return () => true;
  if (via === "mixed") return (i) => i % 2 === 1;
  return () => false;
}

/** Runs operations in lockstep against two servers; stops at the first difference. */
export async function runOps(
  ops: Op[],
  endpoints: Record<(typeof SIDES)[number], string>,
  options: RunOptions = {},
): Promise<RunResult> {
  const choose = gatewayChooser(options.via ?? "grpc");
  const sides = [
    new Side(SIDES[0], endpoints.etcd, choose, options.auth),
    new Side(SIDES[1], endpoints.rxetcd, choose, options.auth),
  ] as const;
  const cmp = new Comparator(sides, options.onHeld);
  // every request as sent to etcd, for the report
  const requests: string[] = [];
  let currentRev = 1;
  let index = 0;
  const slowSettles: string[] = [];
  const diverged = (i: number, where: string, detail: string, a: string, b: string): RunResult => ({
    via: options.via,
    auth: options.auth,
    ops: index,
    compared: cmp.compared,
    slowSettles,
    divergence: {
      index: i,
      op: ops[i],
      request: requests[i],
      where,
      detail,
      answers: { etcd: a, rxetcd: b },
    },
  });
  try {
    for (const side of sides) {
      const st = await side.unary(side.maintenance.status.bind(side.maintenance), {});
      if ("error" in st) throw new Error(`${side.name} does not answer Status: ${st.error.message}`);
      side.raftBase = st.ok.raftIndex;
      await learnSelf(side.svc, side.unary.bind(side) as never);
    }
    for (; index < ops.length; index++) {
      const op = ops[index];
      for (const s of sides) s.opIndex = index;
      requests.push(
        show(normalize(requestOf(op, new Resolver(sides[0], currentRev), sides[0]), sides[0].leases)),
      );
      const [oa, ob] = await Promise.all(sides.map((s) => executeAs(s, op, currentRev)));
      const va = "ok" in oa ? oa.ok : { error: oa.error };
      const vb = "ok" in ob ? ob.ok : { error: ob.error };
      options.onAnswers?.(index, va, vb);
      const d = firstDifference(va, vb);
      if (d) return diverged(index, "answer", d, describe(va), describe(vb));
      cmp.compared++;
      if ("ok" in oa && oa.revision !== undefined && oa.revision > 0) currentRev = oa.revision;
      if (op.kind === "compact") await sleep(AFTER_COMPACTION_MS);

      if (hasWatches(sides[0]) || hasWatches(sides[1])) {
        const fromHistory =
          op.kind === "watchCreate" &&
          (() => {
            const start = new Resolver(sides[0], currentRev).rev(op.req.startRevision);
            return start !== 0 && start <= currentRev;
          })();
        const stuck = await settle(sides, fromHistory ? HISTORY_QUIET_MS : QUIET_MS);
        if (stuck !== undefined) slowSettles.push(`op ${index}: ${stuck}`);
        const w = cmp.watches(false);
        if (w) return diverged(w.index, w.where, w.detail, w.a, w.b);
      }
      options.onOp?.(index, op);
    }
    const stuck = await settle(sides, HISTORY_QUIET_MS);
    if (stuck !== undefined) slowSettles.push(`end: ${stuck}`);
    const w = cmp.watches(true);
    if (w) return diverged(w.index, w.where, w.detail, w.a, w.b);
    return { ops: index, compared: cmp.compared, slowSettles, via: options.via, auth: options.auth };
  } finally {
    for (const s of sides) s.close();
  }
}

/** Starts a fresh etcd and a fresh rxetcd member (own data dirs, free ports), runs `fn`, then removes both. */
export async function withMembers<T>(
  fn: (endpoints: Record<(typeof SIDES)[number], string>) => Promise<T>,
): Promise<T> {
  const started = await Promise.allSettled([
    Member.start({ binary: "etcd" }),
    Member.start({ binary: "rxetcd" }),
  ]);
  const members = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  try {
    const failed = started.find((s) => s.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const [etcd, rxetcd] = members;
    return await fn({ etcd: etcd.endpoint, rxetcd: rxetcd.endpoint });
  } finally {
    await Promise.all(members.map((m) => m.destroy()));
  }
}

/** The command that replays a run up to and including its first differing operation. */
export function replayCommand(
  seed: number,
  divergence: Divergence,
  only?: number[],
  via?: Via,
  auth?: boolean,
): string {
  const how = (via === undefined || via === "grpc" ? "" : ` --via ${via}`) + (auth ? " --auth" : "");
  return only
    ? `npm run difftest -- --seed ${seed} --only ${only.join(",")}${how}`
    : `npm run difftest -- --seed ${seed} --ops ${divergence.index + 1}${how}`;
}

/** A report of a divergence: the replay line first, then the request and both answers. */
export function report(seed: number, r: RunResult, only?: number[]): string {
  const d = r.divergence;
  const slow =
    r.slowSettles.length === 0
      ? []
      : [
          `  ${r.slowSettles.length} watch settles gave up waiting, first: ${r.slowSettles.slice(0, 3).join("; ")}`,
        ];
  if (!d) return [`seed ${seed}: ${r.ops} operations, no difference`, ...slow].join("\n");
  return [
    `seed ${seed}: op ${d.index} (${d.op.kind}) differs (${d.where}); replay: ${replayCommand(seed, d, only, r.via, r.auth)}`,
    `  request: ${clip(d.request)}`,
    `  first difference: ${clip(d.detail)}`,
    `  etcd:   ${clip(d.answers.etcd)}`,
    `  rxetcd: ${clip(d.answers.rxetcd)}`,
    ...slow,
  ].join("\n");
}

function clip(s: string, max = 4000): string {
  return s.length > max ? `${s.slice(0, max)}... (${s.length} chars)` : s;
}
