// What a streamed gRPC call (the Watch fast path) needs of its HTTP/2 stream, and nothing more: so that
// the call runs on any transport's stream, Node's (through an adapter) or one the client port frames
// itself. The stream's inbound side is heard through one listener object set on the stream, not
// through events: a transport without a per-stream EventEmitter calls its methods directly, and a
// call that is its own listener costs no closure.

/** What a call hears from its stream. */
export interface AnswerStreamListener {
  /** A chunk of the request body (gRPC messages, split and packed as the client sent them). */
  data(chunk: Buffer): void;
  /** The client ended its side of the stream (half-closed); the stream may still answer. */
  end(): void;
  /** The stream is over (ended both ways, or reset by either side): nothing more can be sent. */
  closed(): void;
  /** What the transport refused to take (a `write` that answered false) has left: it takes more. */
  drained(): void;
}

/** One HTTP/2 stream of a gRPC call, from the side that answers it. */
export interface AnswerStream {
  /**
   * The name of the stream's connection, unique among open connections: its remote "address:port",
   * as grpc-js names a call's peer ("unknown" without an address). The per-connection budgets and the
   * client-certificate names are looked up by it.
   */
  readonly connection: string;
  /** Whether the stream is over (closed or reset): a call writes nothing more on it. */
  readonly closed: boolean;
  /** Sets who hears the stream's request body, its end, its close and its drains. */
  listen(listener: AnswerStreamListener): void;
  /** Sends the answer's headers (etcd's two: `:status` 200, `content-type` application/grpc); once, before the first write. */
  respond(): void;
  /**
   * Writes gRPC frames (after `respond`). False when the transport holds more than it wants: the
   * bytes are still taken, and `drained` tells when it wants more.
   */
  write(frames: Buffer): boolean;
  /**
   * Writes `frames[start, end)` as `write` writes a buffer of them, without a view of its own for
   * them: for streams that copy their writes (see copiesWrites).
   */
  writePart?(frames: Buffer, start: number, end: number): boolean;
  /**
   * True when `write` is done with the memory of `frames` once it returns (it copies what it keeps):
   * the caller may then write the next frames into the same memory.
   */
  readonly copiesWrites?: boolean;
  /** Stops reading the request body (no `data` until `resumeReading`; the client's window fills). */
  pauseReading(): void;
  resumeReading(): void;
  /**
   * Ends the stream with a gRPC status, `message` as plain text (the stream percent-encodes it into
   * grpc-message as grpc-go does): in trailers after what was written, or, when `respond` was not
   * called, as a trailers-only answer (one HEADERS frame with `:status`, content-type and the status).
   */
  finish(code: number, message: string): void;
}
