// What grpc-go makes of a unary request as it reads it, for every native path (the unary fast path,
// the own connection, the HTTP/2 thread's batches): the receive limit's text, and the first message
// of the body the client sent before its END_STREAM, or grpc-go's status and text for a body that has
// none it can read (what follows the first message is not read). No imports: the HTTP/2 thread loads it.

/** The gRPC length prefix of a message: a compressed flag and a 4-byte big-endian length. */
export const messagePrefixLength = 5;

/** grpc-go's text of a call whose deadline passed (context.DeadlineExceeded). */
export const DEADLINE_TEXT = "context deadline exceeded";

/** A gRPC status: its code and text. */
export interface RequestFailure {
  readonly code: number;
  readonly message: string;
}

/** The client's end before any message: grpc-go's io.EOF, answered as it is (code 2). */
const noMessage: RequestFailure = { code: 2, message: "EOF" };
/** A message cut short: io.ErrUnexpectedEOF (code 2). */
const cutShort: RequestFailure = { code: 2, message: "unexpected EOF" };
/** A compressed flag on a request whose encoding is identity (the only one a native call reads). */
const compressed: RequestFailure = {
  code: 13,
  message: "grpc: compressed flag set with identity or empty encoding",
};

/** grpc-go's answer to a whole message whose first byte (the payload format) is `flag`, if it refuses it. */
export function payloadFailure(flag: number): RequestFailure | undefined {
  if (flag === 0) return undefined;
  if (flag === 1) return compressed;
  return { code: 13, message: `grpc: received unexpected payload format ${flag}` };
}

/** grpc-go's text for a message announced larger than the receive limit (code 8). */
export function tooLargeText(length: number, max: number): string {
  return `grpc: received message larger than max (${length} vs. ${max})`;
}

/** The length of the body's first message, or grpc-go's answer to a body without one it can read. */
export function firstMessageLength(body: Buffer): number | RequestFailure {
  if (body.length === 0) return noMessage;
  if (body.length < messagePrefixLength) return cutShort;
  const length = body.readUInt32BE(1);
  if (body.length < messagePrefixLength + length) return cutShort;
  return payloadFailure(body[0]) ?? length;
}

/** grpc-go's answer to a message its decoder cannot read (code 13). */
export function undecodableText(err: unknown): string {
  // the codec's own error (unmarshal-errors.ts)
  if (err instanceof Error && err.name === "ProtoUnmarshalError")
    return `grpc: error unmarshalling request: ${err.message}`;
  // protobufjs reads past the end of a truncated message (Go's proto: unexpected EOF)
  return err instanceof RangeError
    ? "grpc: error unmarshalling request: unexpected EOF"
    : "Error deserializing request";
}
