// The socket.io event feed of one member: connections, subscriptions, the send loop and its bounds.
import type { Server as HttpServer, IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Server as EngineServer } from "engine.io";
import { isLeft } from "fp-ts/lib/Either.js";
import { PathReporter } from "io-ts/lib/PathReporter.js";
import { type OperatorFunction, Subject, type Subscription } from "rxjs";
import type { Socket, Server as SocketServer } from "socket.io";
import { contained } from "../../streams/operators/contained.js";
import { formatId } from "../membership/ids.js";
import { CompactedError } from "../mvcc/errors.js";
import type { EtcdServer } from "../server/etcd-server.js";
import { fromBytes, keyValueProps } from "./bytes.js";
import { EncodedBatch } from "./encoded-batch.js";
import {
  type FeedConnection,
  type FeedUser,
  type GroupRange,
  type SharedInitialState,
  SubscriptionGroup,
} from "./group.js";
import { storeRangeEnd, toByteRange } from "./key-range.js";
import { defaultFeedLimits, type FeedLimits } from "./limits.js";
import { MemberObserver, type PeerHealth, type Published } from "./member-observer.js";
import {
  type EventOf,
  FEED_PATH,
  type FeedBatch,
  type FeedDropped,
  type FeedEncoding,
  type FeedError,
  type FeedEvent,
  FeedMessages,
  Subscription as SubscriptionCodec,
  type Topic,
} from "./protocol.js";

/** Checks a connection's credentials (token from the handshake, client certificate) when auth is on. */
export type FeedAuthenticator = (credentials: {
  token: string | undefined;
  certificateCommonName: string | undefined;
}) => Promise<FeedUser>;

export interface FeedLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface EventFeedOptions {
  limits?: Partial<FeedLimits>;
  /** Feed operators: filter, map, redact or sample what observers see (each event on its own, contained). */
  operator?: OperatorFunction<FeedEvent, FeedEvent>;
  /** Auth on: every connection presents a token (or a client certificate) and sees only what its user may read. */
  authenticate?: FeedAuthenticator;
  /** etcd's --experimental-warning-apply-duration, for apply.slow events. */
  warningApplyMs?: number;
  peerHealth?: PeerHealth;
  logger?: FeedLogger;
}

/** What a subscription names, checked. */
interface CheckedSubscription {
  topics: Set<Topic>;
  encoding: FeedEncoding;
  ranges: Array<GroupRange & { startRevision: number | undefined; key: string }>;
}

class SubscriptionRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The event feed: socket.io under /socket.io on the client port. Clients subscribe to topics and
 * key ranges, get the current state at once, then batches of events every `flushIntervalMs`, and
 * acknowledge each batch; one that leaves `maxUnackedBatches` unacknowledged is told and dropped.
 */
export class EventFeed {
  readonly limits: FeedLimits;
  readonly observer: MemberObserver;
  /** Every client dropped for falling behind, for tests and logs. */
  readonly drops$ = new Subject<{ id: string; dropped: FeedDropped }>();
  /** Initial states read from the member, and those a newcomer got from its group's earlier read. */
  readonly initialStates = { read: 0, shared: 0 };
  private readonly connections = new Map<string, FeedConnection>();
  private readonly groups = new Map<string, SubscriptionGroup>();
  private readonly sockets = new Map<string, Socket>();
  private readonly subscriptions: Subscription[] = [];
  /** socket.io, built on the first feed request (most members never get one: it is not loaded at start). */
  private io: SocketServer | undefined;
  private ioLoading: Promise<SocketServer> | undefined;
  /** Sends queued batches; runs only while some client is subscribed. */
  private flushTimer: NodeJS.Timeout | undefined;
  /** Samples metrics and peers; runs only while some subscription wants them. */
  private sampleTimer: NodeJS.Timeout | undefined;
  /** Each connection's subscription waiting for a first metrics sample, so that its later ones keep their order. */
  private readonly pendingSubscribes = new Map<FeedConnection, Promise<void>>();
  private readonly operatorInput: Subject<FeedEvent> | undefined;
  private readonly attached = new Set<HttpServer>();
  private closed = false;

  constructor(
    private readonly server: EtcdServer,
    private readonly options: EventFeedOptions = {},
  ) {
    this.limits = { ...defaultFeedLimits, ...options.limits };
    this.observer = new MemberObserver(server, {
      warningApplyMs: options.warningApplyMs ?? 100,
      ...(options.peerHealth ? { peerHealth: options.peerHealth } : {}),
    });
    if (options.operator) {
      const input = new Subject<FeedEvent>();
      this.operatorInput = input;
      this.subscriptions.push(
        input
          .pipe(
            contained(options.operator, {
              timeoutMs: this.limits.operatorTimeoutMs,
              maxPending: this.limits.maxOperatorPending,
              onFailure: (f) =>
                this.options.logger?.warn(
                  {
                    reason: f.reason,
                    event: f.value.type,
                    err: f.reason === "error" ? String(f.error) : undefined,
                  },
                  "feed operator failed on an event; the event is not delivered",
                ),
            }),
          )
          .subscribe((e) => this.route(e, undefined)),
      );
    }
  }

  /** socket.io and its engine, loaded and built once. */
  private socketServer(): Promise<SocketServer> {
    this.ioLoading ??= (async () => {
      const [{ Server: Io }, { Server: Engine }] = await Promise.all([
        import("socket.io"),
        import("engine.io"),
      ]);
      const options = {
        path: FEED_PATH,
        serveClient: false,
        // as etcd's --cors default: any origin (the dashboard of one member reads every member's feed)
        cors: { origin: "*" },
        maxHttpBufferSize: this.limits.maxMessageBytes,
        transports: ["polling" as const, "websocket" as const],
      };
      const io = new Io(options);
      // the engine serves requests and upgrades handed to it by path; it listens on no server itself
      io.bind(new Engine(options) as unknown as Parameters<SocketServer["bind"]>[0]);
      io.use(
        (socket, next) =>
          void this.admit(socket).then(
            () => next(),
            (err: Error) => next(err),
          ),
      );
      io.on("connection", (socket) => this.onConnection(socket));
      this.io = io;
      return io;
    })();
    return this.ioLoading;
  }

  /** The engine, once socket.io is built (undefined when the member stopped meanwhile). */
  private async engine(): Promise<EngineServer | undefined> {
    const io = await this.socketServer();
    return this.closed ? undefined : (io.engine as unknown as EngineServer);
  }

  /** Starts observing the member and sending. */
  async start(): Promise<void> {
    await this.observer.start();
    this.subscriptions.push(this.observer.published$.subscribe((p) => this.onPublished(p)));
    this.subscriptions.push(this.server.stopped$.subscribe(() => void this.close()));
  }

  get clientCount(): number {
    return this.connections.size;
  }

  /**
   * Receives an HTTP/1.1 server to serve on: the client port's, or a feed-only listener's. Every one
   * hands its feed WebSocket upgrades to the same engine (one set of sessions and bounds); its other
   * feed requests arrive through `handle`. The client port's other upgrades have handlers of their
   * own: one nobody answered within a second is ended, as socket.io's engine does on the server it
   * is attached to; a feed-only listener has nothing else to offer and closes them at once.
   */
  attach(http: HttpServer): void {
    if (this.attached.has(http)) return;
    const first = this.attached.size === 0;
    this.attached.add(http);
    http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!(req.url ?? "").startsWith(`${FEED_PATH}/`) || this.closed) {
        if (!first) socket.destroy();
        else {
          socket.on("error", () => {});
          setTimeout(() => {
            if (socket.writable && (socket as Duplex & { bytesWritten?: number }).bytesWritten === 0)
              socket.end();
          }, 1000);
        }
        return;
      }
      void this.engine().then(
        (engine) => {
          if (engine) engine.handleUpgrade(req, socket, head);
          else socket.destroy();
        },
        (err: unknown) => this.cannotServe(err, () => socket.destroy()),
      );
    });
  }

  /** Serves a feed request (every HTTP request on a port serving the feed passes here first). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = req.url ?? "";
    if (!path.startsWith(`${FEED_PATH}/`)) return false;
    void this.engine().then(
      (engine) => {
        if (engine) engine.handleRequest(req, res);
        else {
          res.writeHead(503, { "Content-Type": "text/plain; charset=utf-8" });
          res.end("feed: the member is stopping\n");
        }
      },
      (err: unknown) =>
        this.cannotServe(err, () => {
          res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
          res.end(`feed: cannot load socket.io: ${String(err)}\n`);
        }),
    );
    return true;
  }

  private cannotServe(err: unknown, answer: () => void): void {
    this.options.logger?.warn({ err: String(err) }, "feed: cannot load socket.io");
    answer();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTimers();
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
    this.observer.stop();
    this.drops$.complete();
    for (const socket of this.sockets.values()) socket.disconnect(true);
    // the http servers belong to the client listeners: only the engine closes here
    this.io?.engine?.close();
  }

  // ---- timers: they run only while someone listens -------------------------------------------

  private get wantsSamples(): boolean {
    for (const g of this.groups.values()) if (g.topics.has("metrics") || g.topics.has("peers")) return true;
    return false;
  }

  /** Starts or stops the send and sample timers after the groups changed. */
  private groupsChanged(): void {
    if (this.closed) return;
    if (this.groups.size > 0) {
      this.flushTimer ??= setInterval(() => this.flush(), this.limits.flushIntervalMs).unref();
    } else if (this.flushTimer) {
      clearInterval(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (this.wantsSamples) {
      this.sampleTimer ??= setInterval(() => void this.sample(), this.limits.sampleIntervalMs).unref();
    } else if (this.sampleTimer) {
      clearInterval(this.sampleTimer);
      this.sampleTimer = undefined;
    }
  }

  private stopTimers(): void {
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.sampleTimer) clearInterval(this.sampleTimer);
    this.flushTimer = undefined;
    this.sampleTimer = undefined;
  }

  // ---- connections -----------------------------------------------------------------------------

  private async admit(socket: Socket): Promise<void> {
    if (this.closed) throw new Error("feed: the member is stopping");
    if (this.connections.size >= this.limits.maxClients)
      throw new Error(`feed: too many clients (limit maxClients=${this.limits.maxClients})`);
    const auth = this.options.authenticate;
    if (!auth) return;
    const handshakeAuth = socket.handshake.auth as { token?: unknown };
    const token = typeof handshakeAuth.token === "string" ? handshakeAuth.token : undefined;
    const peer = (
      socket.request.socket as { getPeerCertificate?: () => { subject?: { CN?: string } } }
    ).getPeerCertificate?.();
    const user = await auth({ token, certificateCommonName: peer?.subject?.CN });
    (socket.data as { user?: FeedUser }).user = user;
  }

  private onConnection(socket: Socket): void {
    const conn: FeedConnection = {
      id: socket.id,
      user: (socket.data as { user?: FeedUser }).user,
      group: undefined,
      encoding: "json",
      sent: 0,
      acked: 0,
    };
    this.connections.set(socket.id, conn);
    this.sockets.set(socket.id, socket);
    this.observer.feedClients = this.connections.size;
    socket.on(FeedMessages.subscribe, (input: unknown) => this.onSubscribe(socket, conn, input));
    socket.on(FeedMessages.ack, (n: unknown) => {
      if (typeof n === "number" && Number.isInteger(n) && n <= conn.sent)
        conn.acked = Math.max(conn.acked, n);
    });
    socket.on("disconnect", () => {
      this.leave(conn);
      this.connections.delete(socket.id);
      this.sockets.delete(socket.id);
      this.observer.feedClients = this.connections.size;
    });
  }

  private refuse(socket: Socket, code: string, message: string): void {
    const err: FeedError = { code, message };
    socket.emit(FeedMessages.error, err);
  }

  private onSubscribe(socket: Socket, conn: FeedConnection, input: unknown): void {
    const pending = this.pendingSubscribes.get(conn);
    // an earlier subscription of this client waits for a metrics sample: this one comes after it
    const waiting = pending
      ? pending.then(() => this.subscribe(socket, conn, input))
      : this.subscribe(socket, conn, input);
    if (waiting) this.queueSubscribe(conn, waiting);
  }

  /** Checks and joins a subscription; a promise when it first waits for a metrics sample. */
  private subscribe(socket: Socket, conn: FeedConnection, input: unknown): Promise<void> | undefined {
    let checked: CheckedSubscription;
    try {
      checked = this.check(input);
    } catch (err) {
      if (err instanceof SubscriptionRefused) this.refuse(socket, err.code, err.message);
      else this.refuse(socket, "bad-subscription", `feed: bad subscription: ${String(err)}`);
      return undefined;
    }
    if (checked.topics.has("metrics") && this.sampleTimer === undefined) {
      // nobody wanted metrics, so none were sampled: the newcomer's initial state needs a fresh one
      return this.observer.sampleMetrics().then(
        () => {
          if (!this.closed && socket.connected) this.join(socket, conn, checked);
        },
        (err: unknown) => {
          this.options.logger?.warn({ err: String(err) }, "feed: metrics sample failed");
          if (!this.closed && socket.connected) this.join(socket, conn, checked);
        },
      );
    }
    this.join(socket, conn, checked);
    return undefined;
  }

  private queueSubscribe(conn: FeedConnection, done: Promise<void>): void {
    this.pendingSubscribes.set(conn, done);
    void done.finally(() => {
      if (this.pendingSubscribes.get(conn) === done) this.pendingSubscribes.delete(conn);
    });
  }

  /** Sends the subscription's initial state and puts the client in its group, in one turn of the event loop. */
  private join(socket: Socket, conn: FeedConnection, checked: CheckedSubscription): void {
    const now = Date.now();
    let shared: SharedInitialState | undefined;
    let initial: FeedEvent[] | undefined;
    let replays = false;
    if (this.groups.size === 0) {
      // window state gathered while nobody listened is nobody's: the first subscriber starts afresh
      this.observer.windowEvents(this.limits.flushIntervalMs);
    }
    try {
      // a replay from a start revision is the client's own; a plain initial state is the same for the group
      replays = checked.ranges.some((r) => r.startRevision !== undefined);
      const existing = this.groups.get(this.signature(checked, conn.user));
      // (a group this client alone is in goes when it leaves, and its queue with it)
      const others = existing !== undefined && existing.clients.size > (existing.clients.has(conn) ? 1 : 0);
      shared = replays || !others ? undefined : existing.sharedInitialState(now, this.limits.flushIntervalMs);
      if (!shared) initial = this.initialState(checked, conn.user);
    } catch (err) {
      // bad input, or a store that cannot answer (closing): the client is told, the member goes on
      if (err instanceof SubscriptionRefused) this.refuse(socket, err.code, err.message);
      else this.refuse(socket, "unavailable", `feed: cannot read the initial state: ${String(err)}`);
      return;
    }
    this.leave(conn);
    const group = this.groupFor(checked, conn.user);
    if (!shared && initial) {
      // what the group has queued happened before the initial state was read: send it to the others first
      this.flushGroup(group);
      this.initialStates.read++;
      const batch: FeedBatch = { initial: true, events: this.applyOperatorNow(initial) };
      shared = { readAt: now, events: batch.events, encoded: new EncodedBatch(batch) };
      if (!replays) group.shareInitialState(shared);
    } else this.initialStates.shared++;
    // the group's queue holds every change since the shared state was read: the newcomer gets them next
    conn.encoding = checked.encoding;
    if (shared) this.sendEncoded(socket, conn, shared.encoded);
    group.clients.add(conn);
    conn.group = group;
    this.groupsChanged();
  }

  private leave(conn: FeedConnection): void {
    const group = conn.group;
    if (!group) return;
    group.clients.delete(conn);
    conn.group = undefined;
    if (group.clients.size === 0) {
      this.groups.delete(group.id);
      this.groupsChanged();
    }
  }

  private check(input: unknown): CheckedSubscription {
    const decoded = SubscriptionCodec.decode(input);
    if (isLeft(decoded))
      throw new SubscriptionRefused(
        "bad-subscription",
        `feed: bad subscription: ${PathReporter.report(decoded).join("; ")}`,
      );
    const sub = decoded.right;
    const keys = sub.keys ?? [];
    if (keys.length > this.limits.maxKeyRanges)
      throw new SubscriptionRefused(
        "too-many-ranges",
        `feed: ${keys.length} key ranges (limit maxKeyRanges=${this.limits.maxKeyRanges})`,
      );
    const topics = new Set(sub.topics);
    if (keys.length > 0) topics.add("kv");
    const ranges = keys.map((k, i) => {
      const r = toByteRange(k);
      if ("error" in r) throw new SubscriptionRefused("bad-range", `feed: key range ${i}: ${r.error}`);
      if (k.startRevision !== undefined && !(Number.isInteger(k.startRevision) && k.startRevision > 0))
        throw new SubscriptionRefused(
          "bad-range",
          `feed: key range ${i}: startRevision must be a positive integer`,
        );
      return { range: r, prevKv: k.prevKv ?? false, startRevision: k.startRevision, key: k.key };
    });
    return { topics, ranges, encoding: sub.encoding ?? "json" };
  }

  /** What makes two subscriptions receive the same events: topics, key ranges (with prevKv), user. */
  private signature(sub: CheckedSubscription, user: FeedUser | undefined): string {
    return JSON.stringify({
      t: [...sub.topics].sort(),
      r: sub.ranges.map((r) => [
        r.range.start.toString("hex"),
        r.range.end?.toString("hex") ?? null,
        r.prevKv,
      ]),
      u: user?.name ?? null,
    });
  }

  private groupFor(sub: CheckedSubscription, user: FeedUser | undefined): SubscriptionGroup {
    const signature = this.signature(sub, user);
    let group = this.groups.get(signature);
    if (!group) {
      group = new SubscriptionGroup(signature, sub.topics, sub.ranges, user);
      this.groups.set(signature, group);
    }
    return group;
  }

  /** The current state of everything subscribed, read in one turn of the event loop. */
  private initialState(sub: CheckedSubscription, user: FeedUser | undefined): FeedEvent[] {
    const o = this.observer;
    const out: FeedEvent[] = [];
    const t = sub.topics;
    if (t.has("raft")) out.push(o.raftState());
    if (t.has("members")) out.push(o.members());
    if (t.has("peers")) out.push(o.peers());
    if (t.has("leases")) out.push(o.leases());
    if (t.has("alarms")) out.push(o.alarms());
    const metrics = o.metrics();
    if (t.has("metrics") && metrics) out.push(metrics);
    const store = this.server.store;
    const member = formatId(this.server.memberId);
    const at = Date.now();
    sub.ranges.forEach((r, i) => {
      const end = storeRangeEnd(r.range);
      const readable = (key: Uint8Array) => !user || user.canRead(key);
      if (r.startRevision === undefined) {
        const res = store.range(r.range.start, end, { limit: this.limits.maxInitialKeys });
        const rev = res.rev;
        out.push({
          type: "kv.snapshot",
          at,
          member,
          range: i,
          revision: rev,
          kvs: res.kvs.filter((kv) => readable(kv.key)).map(keyValueProps),
          more: res.count > res.kvs.length,
        });
        return;
      }
      let events: ReturnType<typeof store.eventsBetween>;
      try {
        events = store.eventsBetween(
          r.range.start,
          end,
          r.startRevision,
          store.currentRev(),
          this.limits.maxReplayEvents + 1,
        );
      } catch (err) {
        if (err instanceof CompactedError)
          throw new SubscriptionRefused(
            "compacted",
            `feed: key range ${i}: required revision ${r.startRevision} has been compacted (compact revision ${store.compactRev()})`,
          );
        throw err;
      }
      if (events.length > this.limits.maxReplayEvents)
        throw new SubscriptionRefused(
          "replay-too-long",
          `feed: key range ${i}: more than ${this.limits.maxReplayEvents} changes since revision ${r.startRevision} (limit maxReplayEvents)`,
        );
      for (const e of events) {
        const kv = e.kv;
        if (!kv || !readable(kv.key)) continue;
        const rev = kv.modRevision;
        const ev: EventOf<"kv"> = {
          type: "kv",
          at,
          member,
          revision: rev,
          kind: e.type === 0 ? "put" : "delete",
          ...keyValueProps(kv),
        };
        if (r.prevKv) {
          const prev = store.get(kv.key, rev - 1);
          if (prev) ev.prev = keyValueProps(prev);
        }
        out.push(ev);
      }
    });
    return out;
  }

  // ---- routing -----------------------------------------------------------------------------------

  private onPublished(p: Published): void {
    if (this.groups.size === 0) return;
    if (p.kind === "event") {
      if (this.operatorInput) this.operatorInput.next(p.event);
      else this.route(p.event, p.coalesce);
      return;
    }
    const change = p.change;
    if (this.operatorInput) {
      let wantsPrev = false;
      for (const g of this.groups.values()) if (g.rangeFor(change.key)?.prevKv) wantsPrev = true;
      this.operatorInput.next(wantsPrev ? change.eventWithPrev() : change.event());
      return;
    }
    for (const g of this.groups.values()) {
      const r = g.rangeFor(change.key);
      if (r) g.offerChange(change, r.prevKv);
    }
  }

  /** Offers an event to every group that wants it (kv events by their key). */
  private route(e: FeedEvent, coalesce: string | undefined): void {
    if (e.type === "kv") {
      const key = fromBytes(e.key);
      for (const g of this.groups.values()) {
        const r = g.rangeFor(key);
        if (!r) continue;
        if (r.prevKv || e.prev === undefined) g.offer(e);
        else {
          const { prev: _prev, ...plain } = e;
          g.offer(plain);
        }
      }
      return;
    }
    const key =
      coalesce ?? (e.type === "lease" && e.action === "keepalive" ? `lease.keepalive:${e.id}` : undefined);
    for (const g of this.groups.values()) if (g.wantsTopic(e)) g.offer(e, key);
  }

  /** Runs initial-state events through the feed operator; only what it answers at once is sent. */
  private applyOperatorNow(events: FeedEvent[]): FeedEvent[] {
    const op = this.options.operator;
    if (!op) return events;
    const out: FeedEvent[] = [];
    const input = new Subject<FeedEvent>();
    const sub = input
      .pipe(contained(op, { timeoutMs: this.limits.operatorTimeoutMs, maxPending: 0 }))
      .subscribe((e) => out.push(e));
    for (const e of events) input.next(e);
    sub.unsubscribe();
    return out;
  }

  // ---- sending -----------------------------------------------------------------------------------

  private flush(): void {
    for (const { event, coalesce } of this.observer.windowEvents(this.limits.flushIntervalMs)) {
      this.onPublished(
        coalesce === undefined ? { kind: "event", event } : { kind: "event", event, coalesce },
      );
    }
    for (const group of [...this.groups.values()]) this.flushGroup(group);
  }

  private async sample(): Promise<void> {
    try {
      const metrics = await this.observer.sampleMetrics();
      if (this.closed || this.groups.size === 0) return;
      this.onPublished({ kind: "event", event: metrics, coalesce: "metrics" });
      this.onPublished({ kind: "event", event: this.observer.peers(), coalesce: "peers" });
    } catch (err) {
      if (!this.closed) this.options.logger?.warn({ err: String(err) }, "feed: metrics sample failed");
    }
  }

  private flushGroup(group: SubscriptionGroup): void {
    const queued = group.queued;
    if (queued === 0) return;
    if (queued > this.limits.maxQueuedEvents) {
      group.discard();
      for (const conn of [...group.clients])
        this.drop(conn, { reason: "too many events queued", limit: "maxQueuedEvents", value: queued });
      return;
    }
    for (const conn of [...group.clients]) {
      const behind = conn.sent - conn.acked;
      if (behind >= this.limits.maxUnackedBatches)
        this.drop(conn, { reason: "client is not keeping up", limit: "maxUnackedBatches", value: behind });
    }
    if (group.clients.size === 0) {
      group.discard();
      return;
    }
    const encodings = group.encodings();
    for (const json of group.take(this.limits.maxBatchEvents)) {
      const batch = EncodedBatch.ofJson(json);
      // compressed here once for all the group's deflate clients; each WebSocket client then gets the same
      // frames (JSON, or the binary event and its deflated attachment) in one write
      if (encodings.deflate > 0) batch.deflated(group.deflateLevel);
      for (const conn of group.clients) {
        const socket = this.sockets.get(conn.id);
        if (!socket) continue;
        if (conn.encoding === "json") writePacket(socket, batch);
        else writeDeflated(socket, batch);
        conn.sent++;
      }
    }
  }

  /** Writes a batch encoded once (an initial state shared by a group's newcomers) to one client. */
  private sendEncoded(socket: Socket, conn: FeedConnection, encoded: EncodedBatch): void {
    if (conn.encoding === "json") writePacket(socket, encoded);
    else writeDeflated(socket, encoded);
    conn.sent++;
  }

  private drop(conn: FeedConnection, dropped: FeedDropped): void {
    const socket = this.sockets.get(conn.id);
    this.options.logger?.warn({ client: conn.id, ...dropped }, "feed: dropping a slow client");
    if (socket) {
      this.leave(conn);
      socket.emit(FeedMessages.dropped, dropped);
      socket.disconnect(true);
    }
    this.drops$.next({ id: conn.id, dropped });
  }
}

/** engine.io's write options, with the frame it writes as it is on a WebSocket (socket.io's broadcasts use it). */
type PreEncodedWrite = NonNullable<Parameters<Socket["conn"]["write"]>[1]> & { wsPreEncodedFrame: Buffer[] };

/** Writes a JSON batch's socket.io packet to one client: on a WebSocket, the frame built once for every client. */
function writePacket(socket: Socket, batch: EncodedBatch): void {
  const options: PreEncodedWrite = { wsPreEncodedFrame: batch.wsFrame };
  socket.conn.write(batch.packet, options);
}

/** Whether a connection writes frames built in advance as they are: a WebSocket without per-message compression. */
function takesFrames(socket: Socket): boolean {
  const transport = socket.conn.transport as { name: string; perMessageDeflate?: unknown };
  return transport.name === "websocket" && !transport.perMessageDeflate;
}

/**
 * Writes a deflated batch to one client: on a WebSocket, the frames built once for every client (socket.io's
 * binary event and its attachment, in one write); elsewhere through socket.io.
 */
function writeDeflated(socket: Socket, batch: EncodedBatch): void {
  if (!takesFrames(socket)) {
    socket.emit(FeedMessages.batch, batch.deflated());
    return;
  }
  const options: PreEncodedWrite = { wsPreEncodedFrame: batch.deflatedWsFrames };
  socket.conn.write(EncodedBatch.binaryEventPacket, options);
}
