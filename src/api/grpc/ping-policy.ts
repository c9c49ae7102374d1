// etcd's keepalive enforcement (grpc-go's server policy with MinTime = --grpc-keepalive-min-time and
// PermitWithoutStream = false): a client ping that comes sooner than the minimum time after the
// previous one (or sooner than two hours when the connection has no stream open) is a strike, unless
// the server has sent headers or data since that ping; more than two strikes end the connection with
// GOAWAY ENHANCE_YOUR_CALM "too_many_pings", which clients read as "slow down your pings".
import {
  constants,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";

/** grpc-go's maxPingStrikes: the third early ping is tolerated, the fourth is not. */
const MAX_PING_STRIKES = 2;
/** grpc-go's defaultPingTimeout: the shortest interval between pings on a connection without streams. */
const IDLE_PING_INTERVAL_MS = 2 * 60 * 60 * 1000;
/** grpc-go's defaultKeepalivePolicyMinTime, used when --grpc-keepalive-min-time is 0. */
export const DEFAULT_PING_MIN_TIME_MS = 5 * 60 * 1000;
const TOO_MANY_PINGS = Buffer.from("too_many_pings");
/** The default clock, one function for every connection: a closure each made `ping`'s call of it a new target each. */
const monotonicNow = (): number => performance.now();

export interface PingPolicyOptions {
  /** --grpc-keepalive-min-time; 0 means grpc-go's default of 5 minutes. */
  minTimeMs: number;
  /** Milliseconds from a monotonic clock (tests inject their own). */
  now?: () => number;
  onViolation?: () => void;
  /**
   * Whether a request path is a unary RPC. A unary call writes its answer before it closes, so its
   * writes are read off the stream (headers sent) instead of watched call by call; without this,
   * every stream's writes are watched.
   */
  isUnary?: (path: string) => boolean;
}

/**
 * The policy's count of early pings on one connection, apart from how the connection is served
 * (Node's HTTP/2 session here, the client port's own connection in src/api/wire/).
 */
export class PingStrikes {
  private readonly minTimeMs: number;
  private readonly now: () => number;
  private strikes = 0;
  // grpc-go starts from the zero time: the first ping is never early
  private lastPingAt = Number.NEGATIVE_INFINITY;

  constructor(minTimeMs: number, now: () => number = monotonicNow) {
    this.minTimeMs = minTimeMs > 0 ? minTimeMs : DEFAULT_PING_MIN_TIME_MS;
    this.now = now;
  }

  /**
   * A client ping: whether the server wrote headers or data since the previous one, and whether the
   * connection has a stream open. Answers true when the ping is one too many (too_many_pings).
   */
  ping(serverWrote: boolean, streamsOpen: boolean): boolean {
    const at = this.now();
    const previous = this.lastPingAt;
    this.lastPingAt = at;
    if (serverWrote) {
      this.strikes = 0;
      return false;
    }
    const interval = streamsOpen ? this.minTimeMs : IDLE_PING_INTERVAL_MS;
    if (previous + interval > at) this.strikes++;
    return this.strikes > MAX_PING_STRIKES;
  }
}

/** The GOAWAY debug data of a connection ended for its pings. */
export const tooManyPings = TOO_MANY_PINGS;

/** Enforces the policy on one HTTP/2 connection of the client port. */
export function enforcePingPolicy(session: ServerHttp2Session, options: PingPolicyOptions): void {
  const strikes = new PingStrikes(options.minTimeMs, options.now);
  const isUnary = options.isUnary;
  let serverWrote = false;
  const open = new Set<ServerHttp2Stream>();
  /** Open unary calls: their writes are seen through headersSent (see isUnary). */
  const unary = new Set<ServerHttp2Stream>();
  const wrote = () => {
    serverWrote = true;
  };
  // one listener for the connection's streams (a once() wrapper per stream cost every request)
  function closed(this: ServerHttp2Stream): void {
    open.delete(this);
    if (unary.delete(this) && this.headersSent) serverWrote = true;
  }

  session.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    open.add(stream);
    stream.on("close", closed);
    if (isUnary?.(headers[":path"] ?? "")) unary.add(stream);
    else noteWrites(stream, wrote);
  });
  // grpc-go clears the strikes on every data frame it writes: a response still going out (a large
  // one sent with a single end(), flow-controlled by the client) counts as writing, or the client's
  // BDP pings that come with it would be struck
  const stillSending = () => {
    for (const s of open) if (s.writableLength > 0) return true;
    return false;
  };
  session.on("ping", () => {
    // a unary call's answer counts once: by the first ping after it went out, or as its stream closes
    for (const s of unary) {
      if (!s.headersSent) continue;
      serverWrote = true;
      unary.delete(s);
    }
    const wroteSince = serverWrote || stillSending();
    serverWrote = false;
    if (strikes.ping(wroteSince, open.size > 0) && !session.destroyed) {
      options.onViolation?.();
      session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, TOO_MANY_PINGS);
      // after the GOAWAY is on its way, as grpc-go closes the connection once it is written
      setImmediate(() => session.destroy());
    }
  });
}

/** Calls `wrote` whenever the server sends headers or data on the stream. */
function noteWrites(stream: ServerHttp2Stream, wrote: () => void): void {
  const respond = stream.respond;
  const write = stream.write;
  const end = stream.end;
  stream.respond = function (this: ServerHttp2Stream, ...args: Parameters<typeof respond>) {
    wrote();
    return respond.apply(this, args);
  };
  stream.write = function (this: ServerHttp2Stream, ...args: unknown[]) {
    wrote();
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  };
  stream.end = function (this: ServerHttp2Stream, ...args: unknown[]) {
    // end(data) sends data too (the unary path answers this way)
    if (args.length > 0 && typeof args[0] !== "function") wrote();
    return (end as (...a: unknown[]) => ServerHttp2Stream).apply(this, args);
  } as typeof stream.end;
}
