// What HTTP servers, HTTP/2 sessions and WebSocket libraries use of a socket, on a connection that is
// none (an in-process byte stream): the client's address behind it, for peer names and per-connection
// budgets, and the socket options, which have nothing to set.
import { Duplex } from "node:stream";

/** The address of the client behind an in-process connection. */
export interface PeerAddress {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

export class SocketLikeDuplex extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;

  constructor(peer: PeerAddress = {}) {
    super({ allowHalfOpen: true });
    this.remoteAddress = peer.remoteAddress;
    this.remotePort = peer.remotePort;
  }

  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  setTimeout(_ms: number, callback?: () => void): this {
    if (callback !== undefined) this.once("timeout", callback);
    return this;
  }
}
