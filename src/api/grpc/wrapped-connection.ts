// The address of a client connection that Node's HTTP/2 reads through a JavaScript stream (the
// :authority repair's wrapper, a connection from the client port's thread). Node puts a socket of its
// own around such a stream, which has no address: without this, its calls would all be "unknown" to
// grpc-js and the fast paths, and share one budget of watchers and keep-alive streams.

import type { ServerHttp2Session } from "node:http2";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";

/** Gives `wrapper`, served in place of `socket`, the socket's address (for nameWrappedConnection). */
export function carryAddress(socket: Socket, wrapper: Duplex): void {
  if (wrapper === (socket as Duplex)) return;
  Object.defineProperty(wrapper, "remoteAddress", { value: socket.remoteAddress, configurable: true });
  Object.defineProperty(wrapper, "remotePort", { value: socket.remotePort, configurable: true });
}

/** Names a session's connection by the address its stream carries, when its socket has none. */
export function nameWrappedConnection(session: ServerHttp2Session): void {
  // session.socket is Node's view of that socket: reads and plain writes reach the socket itself
  const socket = session.socket as Socket & {
    stream?: { remoteAddress?: unknown; remotePort?: unknown };
    _peername?: object;
  };
  if (socket.remoteAddress !== undefined) return;
  const { remoteAddress, remotePort } = socket.stream ?? {};
  if (typeof remoteAddress !== "string") return;
  // what a socket's address getters read once known (a stream's handle cannot be asked for it)
  socket._peername = {
    address: remoteAddress,
    ...(typeof remotePort === "number" ? { port: remotePort } : {}),
  };
}
