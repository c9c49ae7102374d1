// The header blocks of gRPC answers, as the fields they carry: etcd's two answer headers, the OK
// trailers, a failed call's trailers-only answer (see answerHeaders, okTrailers in call-stream.ts),
// and any header object a forwarded answer has. Each connection's AnswerHpack encodes them when they
// go out, in wire order, since the client's HPACK table makes a block's bytes depend on the ones before.
import { grpcAnswerType } from "../grpc/grpc-content-type.js";
import type { HeaderField } from "../grpc/hpack.js";
import { grpcMessageValue } from "../grpc/status-text.js";

/** A header block's fields, in order. */
export type AnswerBlock = readonly HeaderField[];

/** `:status 200`, `content-type: application/grpc`. */
export const answerHeadersBlock: AnswerBlock = [
  [":status", "200"],
  ["content-type", "application/grpc"],
];

/** `grpc-status: 0`, `grpc-message:` (empty), as etcd ends a call that succeeded. */
export const okTrailersBlock: AnswerBlock = [
  ["grpc-status", "0"],
  ["grpc-message", ""],
];

/** The trailers that end a call with a status and its text, percent-encoded as grpc-go encodes it. */
export function statusTrailers(code: number, message: string): AnswerBlock {
  return [
    ["grpc-status", String(code)],
    ["grpc-message", grpcMessageValue(message)],
  ];
}

/**
 * The answer headers of a request whose content-type names a subtype (`application/grpc+json`,
 * `application/grpc;charset=utf-8`): grpc-go's answer names it back after a `+`.
 */
export function subtypeAnswerHeaders(requestType: string): AnswerBlock {
  return [
    [":status", "200"],
    ["content-type", grpcAnswerType(requestType)],
  ];
}

/** A failed call's only header block: the answer headers with its status and text. */
export function failBlock(
  code: number,
  message: string,
  headers: AnswerBlock = answerHeadersBlock,
): AnswerBlock {
  return [...headers, ...statusTrailers(code, message)];
}

/** Any header object (a forwarded answer's) as fields, `:status` first. */
export function headersBlock(headers: Record<string, string | string[] | number | undefined>): AnswerBlock {
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
  return fields;
}
