// A record table keyed by etcd's record keys of any length. LMDB keys hold at most MAX_KEY_BYTES
// (bbolt's up to 32 KiB, and etcd keys a user or role record by its name), so a key LMDB cannot
// hold is stored under a stand-in: HASHED followed by the SHA-256 of the key, with the key itself
// kept in the value (4 bytes of its length, the key, the record's value). A short key that begins
// with HASHED is stored the same way, so every stored key that begins with HASHED is a stand-in
// and every other stored key is the record's own. Readers get the records' own keys back, in the
// order of their bytes, as bbolt gives them.

import { createHash } from "node:crypto";
import type { Database, Transaction } from "lmdb";
import { type BufferedTable, MAX_KEY_BYTES, type StagedSnapshot } from "./write-buffer.js";

/** First byte of a stand-in key. */
const HASHED = 0xff;
const HASHED_START = Buffer.from([HASHED]);
const LENGTH_BYTES = 4;

/** True when `key` is stored as itself. */
export function storedAsItself(key: Buffer): boolean {
  return key.length <= MAX_KEY_BYTES && key[0] !== HASHED;
}

/** The LMDB key a record key is stored under. */
export function storedKey(key: Buffer): Buffer {
  if (storedAsItself(key)) return key;
  return Buffer.concat([HASHED_START, createHash("sha256").update(key).digest()]);
}

/** The LMDB value a record is stored with. */
export function storedValue(key: Buffer, value: Buffer): Buffer {
  if (storedAsItself(key)) return value;
  const length = Buffer.allocUnsafe(LENGTH_BYTES);
  length.writeUInt32BE(key.length, 0);
  return Buffer.concat([length, key, value]);
}

/** The record a stand-in's value holds (views of `stored`). */
function unwrap(stored: Buffer): [key: Buffer, value: Buffer] {
  const length = stored.length >= LENGTH_BYTES ? stored.readUInt32BE(0) : -1;
  if (length < 0 || LENGTH_BYTES + length > stored.length)
    throw new Error("backend: a record stored under a hashed key lacks its key");
  return [stored.subarray(LENGTH_BYTES, LENGTH_BYTES + length), stored.subarray(LENGTH_BYTES + length)];
}

/** Puts a record straight into an LMDB table (inside a synchronous write: import, migration). */
export function putRecord(db: Database<Buffer, Buffer>, key: Buffer, value: Buffer): void {
  db.put(storedKey(key), storedValue(key, value));
}

/**
 * Schema 2 stored every record key as itself (keys were at most MAX_KEY_BYTES): the ones that
 * begin with HASHED move under their stand-ins. Runs inside the caller's synchronous write.
 */
export function moveHashedPrefixKeys(db: Database<Buffer, Buffer>): number {
  const moving: Array<[Buffer, Buffer]> = [];
  for (const { key, value } of db.getRange({ start: HASHED_START }))
    moving.push([Buffer.from(key), Buffer.from(value)]);
  for (const [key, value] of moving) {
    db.remove(key);
    putRecord(db, key, value);
  }
  return moving.length;
}

/** Records in the order of their keys' bytes. */
const byKey = (a: [Buffer, Buffer], b: [Buffer, Buffer]) => Buffer.compare(a[0], b[0]);

/** One record bucket of the applied state (see BufferedTable), keyed by the records' own keys. */
export class RecordTable {
  constructor(readonly table: BufferedTable<Buffer>) {}

  /** The value of `key`; one from LMDB is only valid until the next read. */
  get(key: Buffer): Buffer | undefined {
    if (storedAsItself(key)) return this.table.get(key);
    return this.ownValue(key, this.table.get(storedKey(key)));
  }

  /** The value of `key` in a buffer that stays valid. */
  getStable(key: Buffer): Buffer | undefined {
    if (storedAsItself(key)) return this.table.getStable(key);
    return this.ownValue(key, this.table.getStable(storedKey(key)));
  }

  put(key: Buffer, value: Buffer): void {
    this.table.put(storedKey(key), storedValue(key, value));
  }

  remove(key: Buffer): void {
    this.table.remove(storedKey(key));
  }

  /** Every key, in byte order (a key LMDB yields is only valid until the iteration moves on). */
  *keys(): Generator<Buffer> {
    const hashed: Array<[Buffer, Buffer]> = [];
    for (const stand of this.table.keys({ start: HASHED_START })) {
      const stored = this.table.getStable(Buffer.from(stand));
      if (stored !== undefined) hashed.push(unwrap(stored));
    }
    hashed.sort(byKey);
    let i = 0;
    for (const key of this.table.keys({ end: HASHED_START })) {
      for (; i < hashed.length && Buffer.compare(hashed[i][0], key) < 0; i++) yield hashed[i][0];
      yield key;
    }
    for (; i < hashed.length; i++) yield hashed[i][0];
  }

  /** @internal Every record as a read view sees it, in key order. */
  *entriesAt(batches: StagedSnapshot, transaction: Transaction): Generator<[Buffer, Buffer]> {
    const hashed: Array<[Buffer, Buffer]> = [];
    for (const [, stored] of this.table.entriesAt(batches, transaction, { start: HASHED_START }))
      hashed.push(unwrap(Buffer.from(stored)));
    hashed.sort(byKey);
    let i = 0;
    for (const entry of this.table.entriesAt(batches, transaction, { end: HASHED_START })) {
      for (; i < hashed.length && Buffer.compare(hashed[i][0], entry[0]) < 0; i++) yield hashed[i];
      yield entry;
    }
    for (; i < hashed.length; i++) yield hashed[i];
  }

  /** The value a stand-in holds for `key` (none when it holds another key, which SHA-256 rules out). */
  private ownValue(key: Buffer, stored: Buffer | undefined): Buffer | undefined {
    if (stored === undefined) return undefined;
    const [own, value] = unwrap(stored);
    return own.equals(key) ? value : undefined;
  }
}
