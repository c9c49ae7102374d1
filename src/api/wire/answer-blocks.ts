// The header blocks of gRPC answers, encoded once. They never touch the client's HPACK dynamic table
// (indexed static entries and literals without indexing), so the same bytes serve every answer on
// every connection: etcd's two answer headers, the OK trailers, and a failed call's trailers-only
// answer (see answerHeaders, okTrailers in call-stream.ts).
import { encodeLiterals, type HeaderField } from "../grpc/hpack.js";
import { grpcMessageValue } from "../grpc/status-text.js";

/** `:status: 200` as the static table's entry 8. */
const STATUS_200 = 0x88;
/** A literal without indexing whose name is the static table's `content-type` (31). */
const CONTENT_TYPE_NAME = [0x0f, 31 - 15];

function literal(value: string): number[] {
  const bytes = Buffer.from(value, "latin1");
  if (bytes.length >= 127) throw new Error("pre-encoded values are short");
  return [bytes.length, ...bytes];
}

/** `:status 200`, `content-type: application/grpc`. */
export const answerHeadersBlock = Buffer.from([
  STATUS_200,
  ...CONTENT_TYPE_NAME,
  ...literal("application/grpc"),
]);

/** `grpc-status: 0`, `grpc-message:` (empty), as etcd ends a call that succeeded. */
export const okTrailersBlock = Buffer.from([
  0x00,
  ...literal("grpc-status"),
  ...literal("0"),
  0x00,
  ...literal("grpc-message"),
  ...literal(""),
]);

/** A failed call's only header block: the answer headers with its status and text (encoded as grpc-go's). */
export function failBlock(code: number, message: string): Buffer {
  return Buffer.concat([
    answerHeadersBlock,
    encodeLiterals([
      ["grpc-status", String(code)],
      ["grpc-message", grpcMessageValue(message)],
    ]),
  ]);
}

/** Any header object (a forwarded answer's) as literals without indexing, `:status` first. */
export function headersBlock(headers: Record<string, string | string[] | number | undefined>): Buffer {
  const fields: HeaderField[] = [];
  const status = headers[":status"];
  if (status !== undefined) fields.push([":status", String(status)]);
  for (const name of Object.keys(headers)) {
    if (name === ":status") continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) fields.push([name, v]);
    else fields.push([name, String(value)]);
  }
  return encodeLiterals(fields);
}
