import type { Bytes } from "./protocol.js";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Bytes as the feed sends them: the text when they are valid UTF-8, else base64. */
export function toBytes(b: Uint8Array): Bytes {
  if (b.length === 0) return "";
  try {
    return strictUtf8.decode(b);
  } catch {
    return { base64: Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64") };
  }
}

/** The raw bytes of a feed value. */
export function fromBytes(b: Bytes): Buffer {
  return typeof b === "string" ? Buffer.from(b, "utf8") : Buffer.from(b.base64, "base64");
}
