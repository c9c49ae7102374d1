// Bounds on what one client connection may hold open: watchers (over all its watch streams) and
// lease keep-alive streams. etcd 3.4 bounds neither (only streams, with --max-concurrent-streams,
// unlimited by default); without a bound one client could take the member's memory. The defaults
// are far above what etcd clients open (clientv3 and the etcd3 npm client multiplex every watcher
// of a client on one or a few streams, and keep leases alive on one stream or one per lease).
import { Errors } from "../rpctypes/errors.js";
import type { WatcherAdmission } from "../server/client-api.js";

export interface ConnectionLimits {
  /** --max-watchers-per-connection: watchers one connection may hold over all its watch streams. */
  maxWatchersPerConnection: number;
  /** --max-lease-keepalive-streams-per-connection: LeaseKeepAlive streams open at once on one connection. */
  maxKeepAliveStreamsPerConnection: number;
}

export const defaultConnectionLimits: ConnectionLimits = {
  maxWatchersPerConnection: 10_000,
  maxKeepAliveStreamsPerConnection: 10_000,
};

/**
 * A refusal for want of room: etcd's own answer when a member cannot take more work,
 * "etcdserver: too many requests" (ResourceExhausted). A watch create refused this way is answered
 * created and canceled with it as cancel reason, as etcd refuses any watch create; clientv3 maps the
 * text back to rpctypes.ErrTooManyRequests and does not retry it.
 */
export const TOO_MANY = Errors.TooManyRequests;

/** What one connection holds. */
interface Holdings {
  watchers: number;
  keepAliveStreams: number;
}

/**
 * The bounded holdings of every client connection, by a name that is unique among open connections
 * (its remote "address:port", the peer name grpc-js gives its calls). An entry lives while the
 * connection holds anything.
 */
export class ConnectionBudgets {
  private readonly held = new Map<string, Holdings>();

  constructor(readonly limits: ConnectionLimits = defaultConnectionLimits) {
    for (const [name, value] of Object.entries(limits))
      if (!Number.isSafeInteger(value) || value < 0)
        throw new RangeError(`${name} must be a whole number >= 0`);
  }

  /** Places for the watchers of one connection's watch streams. */
  watchers(connection: string): WatcherAdmission {
    return {
      take: () => {
        const h = this.entry(connection);
        if (h.watchers >= this.limits.maxWatchersPerConnection) {
          this.forgetIfEmpty(connection, h);
          return false;
        }
        h.watchers++;
        return true;
      },
      release: () => {
        const h = this.held.get(connection);
        if (h === undefined || h.watchers === 0) return;
        h.watchers--;
        this.forgetIfEmpty(connection, h);
      },
      refusal: TOO_MANY.message,
    };
  }

  /**
   * Opens a keep-alive stream on a connection: the function that closes it (call it once the stream
   * is over; later calls do nothing), or undefined when the connection already has as many as allowed.
   */
  openKeepAlive(connection: string): (() => void) | undefined {
    const h = this.entry(connection);
    if (h.keepAliveStreams >= this.limits.maxKeepAliveStreamsPerConnection) {
      this.forgetIfEmpty(connection, h);
      return undefined;
    }
    h.keepAliveStreams++;
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      h.keepAliveStreams--;
      this.forgetIfEmpty(connection, h);
    };
  }

  /** What a connection holds now (watchers, keep-alive streams). */
  holdings(connection: string): Readonly<Holdings> {
    return this.held.get(connection) ?? { watchers: 0, keepAliveStreams: 0 };
  }

  /** Connections holding anything. */
  get connections(): number {
    return this.held.size;
  }

  private entry(connection: string): Holdings {
    let h = this.held.get(connection);
    if (h === undefined) {
      h = { watchers: 0, keepAliveStreams: 0 };
      this.held.set(connection, h);
    }
    return h;
  }

  private forgetIfEmpty(connection: string, h: Holdings): void {
    if (h.watchers === 0 && h.keepAliveStreams === 0 && this.held.get(connection) === h)
      this.held.delete(connection);
  }
}

/** The name of an HTTP request's connection, as grpc-js names a call's peer ("address:port"). */
export function connectionName(socket: { remoteAddress?: string; remotePort?: number }): string {
  if (!socket.remoteAddress) return "unknown";
  return socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress;
}
