// What the bbolt tests ask of Debian's etcd and etcdctl: snapshot status and restore, a member started on a
// restored data dir, and the same status figures computed independently from our reader.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { BboltReader } from "../../src/bbolt/index.js";
import { Crc32c } from "../../src/mvcc/hash.js";
import { debianEtcd, etcdctl, etcdctlPath, Member } from "../e2e/harness.js";

/** Fails (never skips) when the binaries the test needs are missing. */
export function requireEtcd(): void {
  etcdctlPath();
  if (!debianEtcd)
    throw new Error("Debian's etcd is not installed (apt-get install etcd-server): this test needs it");
}

export interface SnapshotStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

/** `etcdctl snapshot status -w json`. */
export async function snapshotStatus(file: string): Promise<SnapshotStatus> {
  const r = await etcdctl(["snapshot", "status", file, "-w", "json"]);
  assert.equal(r.code, 0, `etcdctl snapshot status ${file}: ${r.stderr}`);
  return JSON.parse(r.stdout) as SnapshotStatus;
}

/**
 * The status etcdctl should print, from our reader: CRC-32C over every top-level bucket name and its entries in
 * order, the main revision of the last `key` entry, the entry count and the bytes in use.
 */
export function expectedStatus(file: string): SnapshotStatus {
  const reader = BboltReader.open(file);
  try {
    const h = new Crc32c();
    let totalKey = 0;
    let revision = 0;
    for (const name of reader.bucketNames()) {
      h.update(name);
      for (const e of reader.entries([name])) {
        h.update(e.key);
        if (!e.bucket) h.update(e.value);
        totalKey++;
        if (name.toString() === "key") revision = Number(e.key.readBigUInt64BE(0));
      }
    }
    return { hash: h.digest(), revision, totalKey, totalSize: reader.size };
  } finally {
    reader.close();
  }
}

/** Appends the SHA-256 trailer `etcdctl snapshot save` writes. */
export function appendSha256(file: string): void {
  appendFileSync(file, createHash("sha256").update(readFileSync(file)).digest());
}

/** `etcdctl snapshot restore` into a new member's data dir, then Debian's etcd started on it. */
export async function restoreAndStart(file: string, opts: { skipHashCheck?: boolean } = {}): Promise<Member> {
  return await Member.start({
    binary: "etcd",
    name: "restored",
    prepare: async (m) => {
      const r = await etcdctl([
        "snapshot",
        "restore",
        file,
        "--data-dir",
        m.dataDir,
        "--name",
        m.name,
        "--initial-cluster",
        `${m.name}=${m.peerUrl}`,
        "--initial-advertise-peer-urls",
        m.peerUrl,
        ...(opts.skipHashCheck ? ["--skip-hash-check"] : []),
      ]);
      assert.equal(r.code, 0, `etcdctl snapshot restore ${file}: ${r.stderr}`);
    },
  });
}

export interface JsonKv {
  key: string;
  value: string;
  create_revision: number;
  mod_revision: number;
  version: number;
  lease?: number;
}

/** Every live key of a member (`etcdctl get "" --from-key -w json`), keys and values decoded. */
export async function allKeys(m: Member): Promise<{ revision: number; kvs: JsonKv[] }> {
  const r = await m.etcdctl(["get", "", "--from-key", "-w", "json"], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { header: { revision: number }; kvs?: JsonKv[] };
  const text = (b64: string) => Buffer.from(b64 ?? "", "base64").toString("latin1");
  return {
    revision: out.header.revision,
    kvs: (out.kvs ?? []).map((kv) => ({ ...kv, key: text(kv.key), value: text(kv.value) })),
  };
}

/** Reads a protobuf message of varint fields only (leasepb.Lease, AlarmMember): field number → value. */
export function varintFields(bytes: Uint8Array): Map<number, bigint> {
  const out = new Map<number, bigint>();
  let pos = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = bytes[pos++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
      shift += 7n;
    }
  };
  while (pos < bytes.length) {
    const tag = Number(varint());
    assert.equal(tag & 7, 0, `field ${tag >> 3} is not a varint`);
    out.set(tag >> 3, varint());
  }
  return out;
}
