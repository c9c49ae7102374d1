// Shared helpers for the mvcc tests: temporary store files and byte shorthands.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { KVStore, type KVStoreOptions } from "../../src/mvcc/kvstore.js";

export function b(s: string): Buffer {
  return Buffer.from(s, "latin1");
}

export interface TempStore {
  store: KVStore;
  file: string;
  dir: string;
  reopen(options?: KVStoreOptions): Promise<KVStore>;
  cleanup(): Promise<void>;
}

export function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), "rxetcd-mvcc-"));
}

export function openTempStore(options: KVStoreOptions = {}): TempStore {
  const dir = tempDir();
  const file = path.join(dir, "member", "snap", "db");
  const t: TempStore = {
    store: KVStore.open(file, options),
    file,
    dir,
    async reopen(opts = options) {
      await t.store.close();
      t.store = KVStore.open(file, opts);
      return t.store;
    },
    async cleanup() {
      await t.store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}
