// The HTTP/2 thread's side of every stream it does not answer from a batch (gRPC streams, the calls
// that wait, health, compressed requests, HTTP over HTTP/2): the stream is forwarded as is, headers,
// messages both ways, trailers and resets, over an in-process HTTP/2 connection to the main thread's
// client port, whose handlers answer it as they answer a stream of their own. Each client
// connection has its own forwarding connection, so what etcd bounds per connection (watchers, lease
// keep-alive streams) stays bounded per client connection.
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { Duplex } from "node:stream";
import { openForwardingSession } from "../forwarding-session.js";

/** Opens the in-process connection to the main thread for one client connection. */
export type OpenConnection = (session: ServerHttp2Session) => Duplex;

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_FLAG_END_STREAM } = constants;
const noop = () => {};
/** The answer's headers as the main thread sent them: no `date` of the thread's own. */
const trailersOnly = { endStream: true, sendDate: false };
const grpcAnswer = { waitForTrailers: true, sendDate: false };
const otherAnswer = { endStream: false, sendDate: false };

const forwarding = Symbol("forwarding connection");
type ForwardedSession = ServerHttp2Session & { [forwarding]?: ClientHttp2Session };

/** Forwards the streams of the thread's client connections, each over its own connection. */
export class StreamForwarder {
  constructor(private readonly open: OpenConnection) {}

  /** The forwarding connection of a client connection, opened with its first forwarded stream. */
  private connectionOf(session: ForwardedSession): ClientHttp2Session {
    const existing = session[forwarding];
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const inner = openForwardingSession(this.open(session));
    session[forwarding] = inner;
    session.once("close", () => inner.destroy());
    return inner;
  }

  /** Forwards one stream of a client connection to the main thread. */
  forward(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on("error", noop);
    const session = stream.session as ForwardedSession | undefined;
    if (session === undefined) return;
    const request: OutgoingHttpHeaders = {};
    for (const name of Object.keys(headers)) request[name] = headers[name];
    let upstream: ClientHttp2Stream;
    try {
      upstream = this.connectionOf(session).request(request);
    } catch {
      stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    upstream.on("error", noop);
    let answered = false;
    let trailers: IncomingHttpHeaders | undefined;
    upstream.on("response", (answer: IncomingHttpHeaders, flags: number) => {
      if (stream.closed || stream.destroyed) return;
      answered = true;
      if (flags & NGHTTP2_FLAG_END_STREAM) {
        stream.respond(answer, trailersOnly);
        return;
      }
      // a gRPC answer always ends with trailers; anything else ends with its body
      const grpc = String(answer["content-type"] ?? "").startsWith("application/grpc");
      stream.respond(answer, grpc ? grpcAnswer : otherAnswer);
      upstream.pipe(stream);
    });
    upstream.on("trailers", (t: IncomingHttpHeaders) => {
      trailers = t;
    });
    stream.on("wantTrailers", () => stream.sendTrailers(trailers ?? {}));
    stream.pipe(upstream);
    // a client that resets (or goes away) cancels the forwarded call; a reset answer resets the client's
    stream.on("close", () => {
      if (!upstream.closed && !upstream.destroyed) upstream.close(NGHTTP2_CANCEL);
    });
    upstream.on("close", () => {
      if (stream.closed || stream.destroyed) return;
      const code = upstream.rstCode ?? NGHTTP2_INTERNAL_ERROR;
      if (code !== NGHTTP2_NO_ERROR) stream.close(code);
      else if (!answered) stream.close(NGHTTP2_INTERNAL_ERROR);
    });
  }
}
