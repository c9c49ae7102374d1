import { isUtf8 } from "node:buffer";
import type { KeyValue } from "../gen/mvccpb/kv.js";
import { formatId } from "../membership/ids.js";
import type { Bytes, KeyValueProps } from "./protocol.js";

/** Bytes as the feed sends them: the text when they are valid UTF-8, else base64. */
export function toBytes(b: Uint8Array): Bytes {
  if (b.length === 0) return "";
  // checked first: a failing strict decode would throw, and exceptions are slow on the hot path
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return isUtf8(buf) ? buf.toString("utf8") : { base64: buf.toString("base64") };
}
/** The raw bytes of a feed value. */
export function fromBytes(b: Bytes): Buffer {
  return typeof b === "string" ? Buffer.from(b, "utf8") : Buffer.from(b.base64, "base64");
}

/** A store record as the feed sends it. */
export function keyValueProps(kv: KeyValue): KeyValueProps {
  return {
    key: toBytes(kv.key),
    value: toBytes(kv.value),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: formatId(kv.lease),
  };
}
