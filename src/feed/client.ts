// A feed client for Node and the browser (the CLI, the dashboard and the tests use it): it
// subscribes, decodes every batch with the protocol's codecs and acknowledges it.
import { isLeft } from "fp-ts/lib/Either.js";
import { PathReporter } from "io-ts/lib/PathReporter.js";
import { BehaviorSubject, mergeMap, type Observable, Subject } from "rxjs";
import type { Socket } from "socket.io-client";
import {
  FEED_PATH,
  FeedBatch,
  FeedDropped,
  type FeedEncoding,
  FeedError,
  type FeedEvent,
  FeedMessages,
  type Subscription,
} from "./protocol.js";

/**
 * Batches acknowledged at once: every acknowledgement costs the member a message to decode, and a
 * hundred clients acknowledging ten batches a second each cost it a measurable share of its writes.
 */
export const DEFAULT_ACK_EVERY = 8;
/** A batch is acknowledged within this time even when fewer than `ackEvery` arrived (a quiet feed). */
export const ACK_WITHIN_MS = 500;

export interface FeedClientOptions {
  subscription: Subscription;
  /**
   * How batches should travel, unless the subscription names it: deflate (the default) costs the member one
   * compression per batch for all such clients and the network a fraction of the bytes; json is protocol 1's.
   */
  encoding?: FeedEncoding;
  /** An auth token, when the member has auth on. */
  token?: string;
  /**
   * For an https:// member from Node: the CA to trust, and a client certificate, as PEM text (with auth on and
   * --client-cert-auth, its Common Name names the user). Browsers use their own certificate store.
   */
  tls?: { ca?: string; cert?: string; key?: string };
  /** Acknowledge batches once handled (default); false leaves it to `ack()`, as a slow client would. */
  autoAck?: boolean;
  /**
   * Acknowledge after this many batches (default 8), and within ACK_WITHIN_MS of any batch. Keep it
   * below the member's maxUnackedBatches (32 by default), or the member drops the client as too slow.
   */
  ackEvery?: number;
  transports?: Array<"polling" | "websocket">;
  /** Reconnect after a lost connection (default true); never after being dropped. */
  reconnection?: boolean;
}

/**
 * socket.io's client is loaded with the first FeedClient, not with the package: an embedding program that never
 * opens a feed does not pay its load time and memory.
 */
let socketIo: Promise<typeof import("socket.io-client")> | undefined;
const loadSocketIo = () => {
  socketIo ??= import("socket.io-client");
  return socketIo;
};

export class FeedClient {
  readonly batches$ = new Subject<FeedBatch>();
  readonly events$: Observable<FeedEvent>;
  readonly errors$ = new Subject<FeedError>();
  readonly dropped$ = new Subject<FeedDropped>();
  /** Whether the socket is connected now; every connect and disconnect after that. */
  readonly connected$ = new BehaviorSubject<boolean>(false);
  /** Resolves with the socket once socket.io's client is loaded and the socket created (it connects on its own). */
  readonly opened: Promise<Socket>;
  private socketNow: Socket | undefined;
  private closed = false;
  private subscription: Subscription;
  private received = 0;
  private handled = 0;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** Batches are handled in arrival order: a deflated one is inflated asynchronously, the next waits for it. */
  private handling: Promise<void> = Promise.resolve();
  /** Counts connections, so that batches of a lost one that were still inflating are not counted on the new one. */
  private connection = 0;
  private readonly encoding: FeedEncoding;

  /** `url` is a member's client URL, e.g. http://127.0.0.1:2379 (the feed is under /socket.io). */
  constructor(url: string, options: FeedClientOptions) {
    this.encoding = options.encoding ?? "deflate";
    this.subscription = options.subscription;
    this.events$ = this.batches$.pipe(mergeMap((b) => b.events));
    this.opened = loadSocketIo().then(({ io }) => {
      const socket = io(url, {
        path: FEED_PATH,
        transports: options.transports ?? ["websocket", "polling"],
        reconnection: options.reconnection ?? true,
        auth: options.token === undefined ? {} : { token: options.token },
        forceNew: true,
        ...options.tls,
        autoConnect: !this.closed,
      });
      this.socketNow = socket;
      this.wire(socket, options);
      return socket;
    });
    this.opened.catch((err: unknown) => {
      this.errors$.next({ code: "connect", message: `cannot load socket.io's client: ${String(err)}` });
    });
  }

  /** The socket, once created (see `opened`). */
  get socket(): Socket | undefined {
    return this.socketNow;
  }

  private wire(socket: Socket, options: FeedClientOptions): void {
    socket.on("connect", () => {
      this.connected$.next(true);
      this.connection++;
      this.received = 0;
      this.handled = 0;
      socket.emit(FeedMessages.subscribe, this.withEncoding(this.subscription));
    });
    socket.on("disconnect", () => {
      this.connected$.next(false);
    });
    socket.on("connect_error", (err: Error) => {
      this.errors$.next({ code: "connect", message: err.message });
    });
    socket.on(FeedMessages.batch, (payload: unknown) => {
      const connection = this.connection;
      const handle = (batch: unknown) => {
        if (connection !== this.connection || this.batches$.closed) return;
        this.received++;
        const decoded = FeedBatch.decode(typeof batch === "string" ? safeParse(batch) : batch);
        if (isLeft(decoded)) {
          this.errors$.next({
            code: "bad-batch",
            message: PathReporter.report(decoded).slice(0, 3).join("; "),
          });
        } else {
          this.batches$.next(decoded.right);
        }
        if (options.autoAck ?? true) {
          if (this.received - this.handled >= (options.ackEvery ?? DEFAULT_ACK_EVERY)) this.ack();
          else this.ackTimer ??= setTimeout(() => this.ack(), ACK_WITHIN_MS);
        }
      };
      const bytes = binary(payload);
      if (bytes === undefined) {
        this.handling = this.handling.then(() => handle(payload));
        return;
      }
      const text = inflate(bytes).catch((err: unknown) => {
        this.errors$.next({ code: "bad-batch", message: `cannot inflate a batch: ${String(err)}` });
        return undefined;
      });
      this.handling = this.handling.then(async () => {
        const json = await text;
        if (json !== undefined) handle(json);
      });
    });
    socket.on(FeedMessages.error, (e: unknown) => {
      const decoded = FeedError.decode(e);
      this.errors$.next(isLeft(decoded) ? { code: "bad-error", message: String(e) } : decoded.right);
    });
    socket.on(FeedMessages.dropped, (d: unknown) => {
      const decoded = FeedDropped.decode(d);
      if (!isLeft(decoded)) this.dropped$.next(decoded.right);
    });
  }

  /** Replaces the subscription; the next batch is the new initial state. */
  subscribe(subscription: Subscription): void {
    this.subscription = subscription;
    if (this.socketNow?.connected)
      this.socketNow.emit(FeedMessages.subscribe, this.withEncoding(subscription));
  }

  private withEncoding(subscription: Subscription): Subscription {
    return subscription.encoding === undefined ? { ...subscription, encoding: this.encoding } : subscription;
  }

  /** Acknowledges every batch received so far. */
  ack(): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.handled === this.received) return;
    this.handled = this.received;
    this.socketNow?.emit(FeedMessages.ack, this.handled);
  }

  close(): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.closed = true;
    this.socketNow?.disconnect();
    this.connected$.next(false);
    this.connected$.complete();
    this.batches$.complete();
    this.errors$.complete();
    this.dropped$.complete();
  }
}

/** A binary socket.io argument: a Buffer in Node, an ArrayBuffer in a browser. */
function binary(payload: unknown): Uint8Array<ArrayBuffer> | undefined {
  // socket.io hands over what it received: never a view of shared memory
  if (payload instanceof Uint8Array) return payload as Uint8Array<ArrayBuffer>;
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  return undefined;
}

/** A deflated batch's JSON text (DecompressionStream: the same code in Node and in browsers). */
async function inflate(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Response(stream).text();
}

function safeParse(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}
