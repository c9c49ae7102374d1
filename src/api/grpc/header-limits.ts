// HTTP/2 header limits of the client port as grpc-go's server has them: etcd serves gRPC (and, with
// TLS, its gateway over h2) through grpc-go, which takes a header list of up to 16 MiB
// (defaultServerMaxHeaderListSize) with any number of fields. Node's HTTP/2 defaults are a 64 KiB
// list of at most 128 fields, so a client with many metadata entries (or a large token) that etcd
// serves got ENHANCE_YOUR_CALM from rxetcd. A single field stays bounded by nghttp2's HPACK decoder
// (64 KiB encoded), which Node does not let a server change.
import type { Http2Server } from "node:http2";

/** grpc-go's defaultServerMaxHeaderListSize. */
export const MAX_HEADER_LIST_BYTES = 16 << 20;
/** Go counts 32 bytes per field on top of its name and value: the most fields a list can hold. */
export const MAX_HEADER_FIELDS = MAX_HEADER_LIST_BYTES / 32;

/**
 * Raises the header limits of an HTTP/2 server for the sessions it starts from now on. Node reads a
 * session's field-count bound from its server's options (no public setter): false when that object
 * could not be found (the size bound is set all the same).
 */
export function applyHeaderLimits(server: Http2Server): boolean {
  server.updateSettings({ maxHeaderListSize: MAX_HEADER_LIST_BYTES });
  const key = Object.getOwnPropertySymbols(server).find((s) => s.description === "options");
  const options = key === undefined ? undefined : (server as unknown as Record<symbol, unknown>)[key];
  if (typeof options !== "object" || options === null) return false;
  (options as { maxHeaderListPairs?: number }).maxHeaderListPairs = MAX_HEADER_FIELDS;
  return true;
}
