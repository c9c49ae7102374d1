import { crc32 } from "node:zlib";

/**
 * Schema 1's meta record (kept to read directories written by it, see convert.ts): which on-disk layout wrote the directory, and the opaque metadata the server
 * gave at creation (its member and cluster ids, like etcd's WAL metadata).
 *
 *   value = schema (uint32 big-endian) | crc32 (uint32 big-endian) | metadata
 *
 * The schema comes first and outside the checksum's framing so that every future layout can still
 * be recognised and refused with a clear message. Keep this framing in every later schema.
 */
export const LEGACY_SCHEMA = 1;

export const META_KEY = Buffer.from("meta");
export const HARD_STATE_KEY = Buffer.from("hardstate");

export interface MetaRecord {
  readonly schema: number;
  readonly metadata: Buffer;
}

function checksum(schemaBytes: Uint8Array, metadata: Uint8Array): number {
  return crc32(metadata, crc32(schemaBytes, crc32(META_KEY)));
}

export function encodeMeta(metadata: Uint8Array, schema = LEGACY_SCHEMA): Buffer {
  const value = Buffer.allocUnsafe(8 + metadata.length);
  value.writeUInt32BE(schema, 0);
  value.writeUInt32BE(checksum(value.subarray(0, 4), metadata), 4);
  value.set(metadata, 8);
  return value;
}

/** Reads only the schema number; works for any layout that kept the framing above. */
export function metaSchema(value: Uint8Array): number | undefined {
  if (value.length < 4) return undefined;
  return Buffer.from(value.buffer, value.byteOffset, value.length).readUInt32BE(0);
}

export function decodeMeta(value: Uint8Array): MetaRecord | string {
  if (value.length < 8) return `meta record is truncated (${value.length} bytes)`;
  const view = Buffer.from(value.buffer, value.byteOffset, value.length);
  const metadata = Buffer.from(view.subarray(8));
  if (view.readUInt32BE(4) !== checksum(view.subarray(0, 4), metadata))
    return "meta record checksum mismatch";
  return { schema: view.readUInt32BE(0), metadata };
}
