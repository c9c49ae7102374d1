// The differential tester's calls that stay open across operations: a Lock or Campaign that waits with no deadline
// (a waiter), and an Observe held open. Each answer they give is logged when it comes, with the operation it came
// after, and compared like a watch stream's items; a settle waits for a waiter whose turn has come (no key older
// than its own is left under its name), so that its answer is read before the next operation runs.
import type { ClientReadableStream, ClientUnaryCall, Metadata, ServiceError } from "@grpc/grpc-js";
import { prefixEnd } from "../../src/api/lock-election.js";
import {
  RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RangeResponse,
} from "../../src/gen/etcdserverpb/rpc.js";
import {
  CampaignResponse,
  type LeaderKey,
  type LeaderResponse,
} from "../../src/gen/v3electionpb/v3election.js";
import { LockResponse } from "../../src/gen/v3lockpb/v3lock.js";
import { AnswerLog } from "./answer-log.js";
import { normalizeJson, requestJson } from "./gateway.js";
import { keyOfLease, type Op } from "./generator.js";
import { type LeaseNames, normalize, type RpcFailure } from "./normalize.js";
import type { ServiceState, UnaryCaller, UnaryMethod } from "./services.js";

export type WaitOp = Extract<Op, { kind: "lockWait" | "campaignWait" }>;

/** How long a waiter may take to queue up (its key put), and a due waiter to answer. */
const HELD_LIMIT_MS = 5_000;

/** What the held calls need of a side (the runner's Side). */
export interface HeldSide {
  readonly leases: LeaseNames;
  readonly svc: ServiceState;
  readonly base: string;
  readonly raftBase: number;
  opIndex: number;
  callToken: string | undefined;
  metadata(token: string | undefined): Metadata;
  tokenFor(user: string | undefined): Promise<string | undefined>;
  readonly unary: UnaryCaller;
  readonly kvRange: UnaryMethod<RangeRequest, RangeResponse>;
  readonly authRun: boolean;
}

interface Waiter {
  readonly n: number;
  readonly prefix: Buffer;
  /** The create revision of the waiter's key once queued (undefined: not queued, or answered first). */
  createRev: number | undefined;
  answered: boolean;
  cancel(): void;
}

interface Observer {
  readonly prefix: Buffer;
  closed: boolean;
  /** The stream ended (or was closed): it answers no more. */
  ended: boolean;
  /** The leader key and its mod revision in the last answer (latin1). */
  last: string | undefined;
  cancel(): void;
}

/** What a settle waits for: true once the call has given the answer it owes. */
export type Owed = () => boolean;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Adds waiters' answers to a list the runner names answers by (Unlock's and Resign's "the k-th answered"): answers
 * that came after the same operation go in the order their waiters were sent, not the order they arrived in, which
 * the two servers may differ in (one delete can let two Campaigns win at once: seed 1001 of the gateway runs).
 */
export class WaiterOrder {
  /** The operation the list's last additions came after, their waiters in list order, and the list's length then. */
  private after = -1;
  private waiters: number[] = [];
  private end = -1;

  add<T>(list: T[], after: number, waiter: number, item: T): void {
    // anything else added to the list since starts a new run
    if (after !== this.after || list.length !== this.end) {
      this.after = after;
      this.waiters = [];
    }
    let at = this.waiters.length;
    while (at > 0 && this.waiters[at - 1] > waiter) at--;
    this.waiters.splice(at, 0, waiter);
    list.splice(list.length - (this.waiters.length - 1 - at), 0, item);
    this.end = list.length;
  }
}

/** One side's held calls and everything they answered. */
export class HeldCalls extends AnswerLog {
  private readonly waiters: Waiter[] = [];
  private readonly observers: Observer[] = [];

  constructor(private readonly side: HeldSide) {
    super(() => side.opIndex);
  }

  /**
   * Sends a waiter and returns once it has queued up (its key holds its value) or answered. Its answer is logged with
   * the index of the operation it came after: the order of events is part of what is compared.
   */
  async wait(op: WaitOp, viaGateway: boolean): Promise<unknown> {
    const side = this.side;
    const n = this.waiters.length;
    const lease = BigInt(op.lease);
    const req = {
      name: Buffer.from(op.name, "latin1"),
      lease,
      ...(op.kind === "campaignWait"
        ? {
            value:
              typeof op.value === "string"
                ? Buffer.from(op.value, "latin1")
                : Buffer.alloc(op.value.size, op.value.fill.charCodeAt(0)),
          }
        : {}),
    };
    const waiter: Waiter = {
      n,
      prefix: Buffer.from(`${op.name}/`, "latin1"),
      createRev: undefined,
      answered: false,
      cancel: () => undefined,
    };
    this.waiters.push(waiter);
    const answered = (value: unknown, ok: unknown, json: boolean) => {
      if (waiter.answered) return;
      waiter.answered = true;
      if (ok !== undefined) this.remember(op, ok, json, n);
      this.push(`waiter ${n}`, { after: side.opIndex, answer: value });
    };
    if (viaGateway || op.zeroTimeout) {
      const abort = new AbortController();
      waiter.cancel = () => abort.abort();
      const path = op.kind === "lockWait" ? "/v3/lock/lock" : "/v3/election/campaign";
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (side.callToken !== undefined) headers.authorization = side.callToken;
      // etcd's grpc-gateway gives a call a deadline only for a timeout other than 0
      if (op.zeroTimeout) headers["grpc-timeout"] = "0m";
      fetch(`${side.base}${path}`, {
        method: "POST",
        headers,
        body: JSON.stringify(requestJson(req)),
        signal: abort.signal,
      })
        .then(async (res) => {
          const text = await res.text();
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = { text };
          }
          const json = { http: res.status, body: normalizeJson(body, side.leases, 0, side.raftBase) };
          answered(json, res.status === 200 ? body : undefined, true);
        })
        .catch((err: unknown) => {
          if (!abort.signal.aborted)
            answered({ error: { code: -1, message: `gateway: ${String(err)}` } }, undefined, true);
        });
    } else {
      const client = (op.kind === "lockWait" ? side.svc.lock : side.svc.election) as unknown as Record<
        string,
        UnaryMethod<unknown, unknown>
      >;
      const method = op.kind === "lockWait" ? "lock" : "campaign";
      let cancelled = false;
      // no deadline: the call waits until the server answers or the run ends
      const call: ClientUnaryCall = client[method].call(
        client,
        req,
        side.metadata(side.callToken),
        {},
        (err: ServiceError | null, res: unknown) => {
          if (err) {
            if (err.code !== 1 || !cancelled)
              answered(
                { error: { code: err.code, message: err.details } satisfies RpcFailure },
                undefined,
                false,
              );
          } else answered(normalize(res, side.leases), res, false);
        },
      );
      waiter.cancel = () => {
        cancelled = true;
        call.cancel();
      };
    }
    // queued once its key is there with its value (a Campaign's proclaim of a value of its own comes after the put)
    const key = Buffer.from(keyOfLease(op.name, op.lease), "latin1");
    const value = ("value" in req ? req.value : undefined) ?? Buffer.alloc(0);
    const deadline = Date.now() + HELD_LIMIT_MS;
    while (!waiter.answered && Date.now() < deadline) {
      const res = await this.asRoot(() => side.unary(side.kvRange, RangeRequest.fromPartial({ key })));
      const kv = "ok" in res ? res.ok.kvs[0] : undefined;
      if (kv?.value.equals(value)) {
        waiter.createRev = kv.createRevision;
        break;
      }
      await sleep(5);
    }
    return { queued: waiter.createRev !== undefined || waiter.answered };
  }

  private readonly lockOrder = new WaiterOrder();
  private readonly leaderOrder = new WaiterOrder();

  /** A Lock's key or a Campaign's leader key, as the runner remembers answers (Unlock and Resign name them). */
  private remember(op: WaitOp, ok: unknown, json: boolean, n: number): void {
    const svc = this.side.svc;
    const after = this.side.opIndex;
    if (op.kind === "lockWait")
      this.lockOrder.add(svc.locks, after, n, (json ? LockResponse.fromJSON(ok) : (ok as LockResponse)).key);
    else {
      const leader: LeaderKey | undefined = (json ? CampaignResponse.fromJSON(ok) : (ok as CampaignResponse))
        .leader;
      if (leader) this.leaderOrder.add(svc.leaders, after, n, leader);
    }
  }

  /** Runs `fn` with root's token in an auth run (no token otherwise): the tester's own reads. */
  private async asRoot<T>(fn: () => Promise<T>): Promise<T> {
    const side = this.side;
    const saved = side.callToken;
    side.callToken = side.authRun ? await side.tokenFor("root") : undefined;
    try {
      return await fn();
    } finally {
      side.callToken = saved;
    }
  }

  /**
   * The answers owed now: by each waiter whose turn has come (no key older than its own is left under its name), and
   * by each open Observe whose election has a leader other than the one it reported last (a new leader or a new
   * value). Etcd's Observe reads a new leader with a Get whose header is the revision of that moment, so the next
   * operation must not run before it.
   */
  async due(): Promise<Owed[]> {
    const due: Owed[] = [];
    for (const o of this.observers) {
      if (o.ended) continue;
      const res = await this.asRoot(() =>
        this.side.unary(
          this.side.kvRange,
          RangeRequest.fromPartial({
            key: o.prefix,
            rangeEnd: prefixEnd(o.prefix),
            sortOrder: RangeRequest_SortOrder.ASCEND,
            sortTarget: RangeRequest_SortTarget.CREATE,
            limit: 1,
          }),
        ),
      );
      const kv = "ok" in res ? res.ok.kvs[0] : undefined;
      if (kv === undefined) continue;
      const leader = leaderMark(kv.key.toString("latin1"), kv.modRevision);
      if (o.last !== leader) due.push(() => o.ended || o.last === leader);
    }
    for (const w of this.waiters) {
      if (w.answered || w.createRev === undefined) continue;
      const res = await this.asRoot(() =>
        this.side.unary(
          this.side.kvRange,
          RangeRequest.fromPartial({
            key: w.prefix,
            rangeEnd: prefixEnd(w.prefix),
            maxCreateRevision: w.createRev! - 1,
            // not countOnly: a range's count is of every key in it, before the create-revision filter (etcd 3.4
            // prunes the keys it read, and a count-only read reads none)
            keysOnly: true,
          }),
        ),
      );
      if ("ok" in res && res.ok.kvs.length === 0) due.push(() => w.answered);
    }
    return due;
  }

  /** Whether a waiter or an Observe was ever opened (settles then wait for their answers too). */
  get active(): boolean {
    return this.waiters.length > 0 || this.observers.length > 0;
  }

  /** Opens an Observe held until closed: each answer is logged as it comes. */
  observe(name: Buffer, viaGateway: boolean): void {
    const n = this.observers.length;
    const bucket = `observe ${n}`;
    const side = this.side;
    const observer: Observer = {
      prefix: Buffer.concat([name, Buffer.from("/")]),
      closed: false,
      ended: false,
      last: undefined,
      cancel: () => undefined,
    };
    this.observers.push(observer);
    const end = (value: unknown) => {
      if (!observer.closed) this.push(bucket, value);
      observer.ended = true;
    };
    if (viaGateway) {
      const abort = new AbortController();
      observer.cancel = () => abort.abort();
      gatewayLines(side, "/v3/election/observe", { name }, abort.signal, (line) => {
        const kv = (line as { result?: { kv?: { key?: string; mod_revision?: string } } }).result?.kv;
        if (kv?.key !== undefined)
          observer.last = leaderMark(
            Buffer.from(kv.key, "base64").toString("latin1"),
            Number(kv.mod_revision),
          );
        this.push(bucket, normalizeJson(line, side.leases, 0, side.raftBase));
      }).then(
        (status) => end({ end: "closed", http: status }),
        (err: unknown) => end({ end: `gateway: ${String(err)}` }),
      );
      return;
    }
    const stream = (
      side.svc.election as unknown as {
        observe(req: unknown, md: Metadata): ClientReadableStream<LeaderResponse>;
      }
    ).observe({ name }, side.metadata(side.callToken));
    observer.cancel = () => stream.cancel();
    stream.on("data", (resp: LeaderResponse) => {
      if (resp.kv) observer.last = leaderMark(resp.kv.key.toString("latin1"), resp.kv.modRevision);
      this.push(bucket, normalize(resp, side.leases));
    });
    stream.on("error", (err: ServiceError) => end({ end: { code: err.code, message: err.details } }));
    stream.on("end", () => end({ end: "closed" }));
  }

  /** Closes the k-th Observe opened (modulo their number); whether there was one open. */
  closeObserver(k: number): boolean {
    if (this.observers.length === 0) return false;
    const o = this.observers[k % this.observers.length];
    const wasOpen = !o.closed;
    o.closed = true;
    o.cancel();
    return wasOpen;
  }

  /** The client of the n-th waiter leaves (cancels the call); whether it was still waiting. */
  leave(n: number): boolean {
    const w = this.waiters[n];
    if (w === undefined || w.answered) return false;
    w.answered = true;
    w.cancel();
    return true;
  }

  close(): void {
    for (const w of this.waiters) w.cancel();
    for (let k = 0; k < this.observers.length; k++) this.closeObserver(k);
  }
}

/** What an Observe that has answered nothing yet owes: its first answer (a leader), its end (a read refused), or nothing. */
export type ObserveOwes = "answer" | "end" | "nothing";

/** How long past its window an Observe may take to give what it owes. */
const OWED_GRACE_MS = 2_000;

/**
 * Resolves when an Observe's window is over: `windowMs`, and then, when it has neither answered nor ended, until it
 * gives what `owes` says it owes (within a grace): how soon it answers is the machine's business, what it answers not.
 */
export async function windowOver(
  windowMs: number,
  answered: () => number,
  ended: () => boolean,
  owes: () => Promise<ObserveOwes>,
): Promise<void> {
  await sleep(windowMs);
  if (answered() > 0 || ended()) return;
  const what = await owes();
  const given = () => (what === "end" ? ended() : what === "answer" ? answered() > 0 || ended() : true);
  const until = Date.now() + OWED_GRACE_MS;
  while (!given() && Date.now() < until) await sleep(10);
}

/** A leader as an Observe reports it: its key and the revision of its value. */
function leaderMark(key: string, modRevision: number): string {
  return `${key}@${modRevision}`;
}

/**
 * A streaming call of the gateway: POSTs `req` and hands each JSON value of the answer (one a line, as grpc-gateway
 * writes a stream) to `onLine` as it comes; resolves with the HTTP status when the stream ends, or when `signal`
 * aborts it (0 when that was before the answer's headers came).
 */
export async function gatewayLines(
  side: Pick<HeldSide, "base" | "callToken">,
  path: string,
  req: unknown,
  signal: AbortSignal,
  onLine: (value: unknown) => void,
): Promise<number> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (side.callToken !== undefined) headers.authorization = side.callToken;
  let res: Response;
  try {
    res = await fetch(`${side.base}${path}`, {
      method: "POST",
      headers,
      body: JSON.stringify(requestJson(req)),
      signal,
    });
  } catch (err) {
    // grpc-gateway sends a stream's headers with its first message: none yet when the client left
    if (signal.aborted) return 0;
    throw err;
  }
  let pending = "";
  const emit = (line: string) => {
    if (line.trim() === "") return;
    try {
      onLine(JSON.parse(line));
    } catch {
      onLine({ text: line });
    }
  };
  try {
    if (res.body) {
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        pending += decoder.decode(chunk, { stream: true });
        let nl = pending.indexOf("\n");
        while (nl >= 0) {
          emit(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
          nl = pending.indexOf("\n");
        }
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  }
  emit(pending);
  return res.status;
}
