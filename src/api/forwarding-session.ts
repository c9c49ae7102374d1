// The client end of the in-process HTTP/2 connection that carries one client connection's forwarded
// streams to the port's grpc-js and HTTP handlers (from the own connection, and from the HTTP/2
// thread): windows large enough that a snapshot or a burst of watch events is not held by flow
// control, and header blocks as large as the port takes.
import { type ClientHttp2Session, connect } from "node:http2";
import type { Duplex } from "node:stream";
import { MAX_HEADER_LIST_BYTES } from "./grpc/header-limits.js";

const WINDOW_BYTES = 4 << 20;
const noop = () => {};

/** An HTTP/2 client session over `connection` (an in-process byte stream to the port's handlers). */
export function openForwardingSession(connection: Duplex): ClientHttp2Session {
  const session = connect("http://client-port", {
    createConnection: () => connection,
    maxSendHeaderBlockLength: MAX_HEADER_LIST_BYTES,
    maxSessionMemory: Number.MAX_SAFE_INTEGER,
    settings: { initialWindowSize: WINDOW_BYTES, maxHeaderListSize: MAX_HEADER_LIST_BYTES },
  });
  session.on("error", noop);
  session.once("connect", () => session.setLocalWindowSize(WINDOW_BYTES));
  return session;
}
