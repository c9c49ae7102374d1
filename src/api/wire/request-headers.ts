// Whether a client's header block is a well-formed HTTP/2 request (RFC 9113 §8.2, §8.3.1): lower-case
// token names, values without control characters, the pseudo-headers first, each once and only the
// request's, no connection-specific field, and a method, scheme and path. A malformed request is a
// PROTOCOL_ERROR reset of its stream, as grpc-go's framer and Go's HTTP/2 server answer it.
import type { HeaderField } from "../grpc/hpack.js";

/** RFC 9110 §5.6.2 token characters, lower case only (HTTP/2 field names are lower case). */
const NAME_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") NAME_CHAR[c.charCodeAt(0)] = 1;

const COLON = 0x3a;

/** A field name of lower-case token characters. */
function validName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || NAME_CHAR[c] === 0) return false;
  }
  return true;
}

/** A field value without control characters other than HTAB (Go's httpguts rule). */
function validValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false;
  }
  return true;
}

/** Fields that only mean something to an HTTP/1.1 connection (RFC 9113 §8.2.2). */
function connectionSpecific(name: string, value: string): boolean {
  switch (name) {
    case "connection":
    case "keep-alive":
    case "proxy-connection":
    case "transfer-encoding":
    case "upgrade":
      return true;
    case "te":
      return value !== "trailers";
    default:
      return false;
  }
}

/** Whether a request's header block is well formed (CONNECT aside, which needs no path or scheme). */
export function wellFormedRequest(fields: HeaderField[]): boolean {
  let method: string | undefined;
  let path: string | undefined;
  let scheme: string | undefined;
  let authority = false;
  let regular = false;
  for (let i = 0; i < fields.length; i++) {
    const [name, value] = fields[i];
    if (!validValue(value)) return false;
    if (name.charCodeAt(0) === COLON) {
      if (regular) return false;
      switch (name) {
        case ":method":
          if (method !== undefined) return false;
          method = value;
          break;
        case ":path":
          if (path !== undefined) return false;
          path = value;
          break;
        case ":scheme":
          if (scheme !== undefined) return false;
          scheme = value;
          break;
        case ":authority":
          if (authority) return false;
          authority = true;
          break;
        default:
          return false;
      }
      continue;
    }
    regular = true;
    if (!validName(name) || connectionSpecific(name, value)) return false;
  }
  if (method === undefined || method === "") return false;
  if (method === "CONNECT") return path === undefined && scheme === undefined;
  return path !== undefined && path !== "" && scheme !== undefined && scheme !== "";
}

/** Whether a trailer block is well formed: regular fields only. */
export function wellFormedTrailers(fields: HeaderField[]): boolean {
  for (let i = 0; i < fields.length; i++) {
    const [name, value] = fields[i];
    if (!validValue(value) || !validName(name) || connectionSpecific(name, value)) return false;
  }
  return true;
}
