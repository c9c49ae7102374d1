// The requests of the key-value RPCs decoded by hand where the generated decoder costs most for least:
// a Put (every write of a put load) is six flat fields, and the generated decoder builds a reader with
// a DataView and a recursion counter for each. The hand-written decoder takes the layout clients send
// (the known fields, short lengths and varints, booleans as 0 or 1) and gives the generated decoder's
// result, key and value copied out of the request as it copies them; anything else (an unknown or
// repeated-with-another-type field, a long varint, a truncated message) goes to the generated decoder,
// so its results and its errors stay the generated ones.
import { KVService, PutRequest } from "../../gen/etcdserverpb/rpc.js";
import { decodePutRange } from "../../rpctypes/put-request-bytes.js";

/** A PutRequest as the generated decoder gives it. */
export function decodePutRequest(bytes: Uint8Array): PutRequest {
  return decodePutByHand(bytes) ?? PutRequest.decode(bytes);
}

/** The put, or undefined for any layout left to the generated decoder. */
function decodePutByHand(buf: Uint8Array): PutRequest | undefined {
  return decodePutRange(buf, 0, buf.length);
}

/** Hand-written request decoders by gRPC path. */
export const kvRequestDecoders: ReadonlyMap<string, (bytes: Uint8Array) => unknown> = new Map([
  [KVService.put.path, decodePutRequest],
]);
