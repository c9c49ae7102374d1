// What the etcd data dir tests ask of a member: its whole visible state through etcdctl (keys with
// revisions, HashKV, members, leases, users and roles), fingerprints of etcd's files, and the lines a
// refused start leaves.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { etcdctl, type Member } from "../e2e/harness.js";

export const ROOT = ["--user", "root:rootpw"];

async function ctlJson(m: Member, args: string[]): Promise<Record<string, unknown>> {
  const r = await m.etcdctl([...ROOT, ...args, "-w", "json"], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

async function ctlText(m: Member, args: string[]): Promise<string> {
  const r = await m.etcdctl([...ROOT, ...args], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

export interface MemberState {
  revision: number;
  /** key -> [create, mod, version, lease, sha256 of the value] */
  kvs: Array<[string, number, number, number, string, string]>;
  hash: number;
  compactRevision: number;
  memberIds: string[];
  clusterId: string;
  leases: string[];
  /** lease id -> attached keys */
  leaseKeys: string[];
  users: string;
  roles: string;
  authEnabled: boolean;
}

/** Everything a client sees of a member that these tests compare. */
export async function memberState(m: Member): Promise<MemberState> {
  const got = (await ctlJson(m, ["get", "", "--from-key"])) as {
    header: { revision: number };
    kvs?: Array<{
      key: string;
      value?: string;
      create_revision: number;
      mod_revision: number;
      version: number;
      lease?: number;
    }>;
  };
  const hashkv = (await ctlJson(m, ["endpoint", "hashkv"])) as unknown as Array<{
    HashKV: { hash: number; compact_revision: number };
  }>;
  const members = await ctlText(m, ["member", "list"]);
  const status = await ctlText(m, ["endpoint", "status", "-w", "json"]);
  const leases = (await ctlText(m, ["lease", "list"]))
    .split("\n")
    .slice(1)
    .filter((l) => l !== "")
    .sort();
  const leaseKeys: string[] = [];
  for (const id of leases) {
    const ttl = await ctlText(m, ["lease", "timetolive", id, "--keys"]);
    leaseKeys.push(
      `${id} ${/attached keys\((.*)\)/.exec(ttl)?.[1] ?? "?"} granted ${/TTL\((\d+)s\)/.exec(ttl)?.[1]}`,
    );
  }
  const users = await ctlText(m, ["user", "list"]);
  let roles = "";
  for (const role of (await ctlText(m, ["role", "list"])).split("\n").filter((r) => r !== ""))
    roles += await ctlText(m, ["role", "get", role]);
  for (const user of users.split("\n").filter((u) => u !== ""))
    roles += await ctlText(m, ["user", "get", user]);
  // etcdctl 3.4 has no `auth status`: with auth on, a request without a user is refused
  const anonymous = await m.etcdctl(["get", "a"]);
  return {
    revision: got.header.revision,
    kvs: (got.kvs ?? []).map((kv) => [
      Buffer.from(kv.key, "base64").toString("latin1"),
      kv.create_revision,
      kv.mod_revision,
      kv.version,
      String(kv.lease ?? 0),
      createHash("sha256")
        .update(Buffer.from(kv.value ?? "", "base64"))
        .digest("hex"),
    ]),
    hash: hashkv[0].HashKV.hash,
    compactRevision: hashkv[0].HashKV.compact_revision,
    memberIds: members
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => l.split(",")[0]),
    // read from the text: the id does not fit in a JSON number
    clusterId: /"cluster_id":(\d+)/.exec(status)?.[1] ?? status,
    leases,
    leaseKeys,
    users,
    roles,
    authEnabled: anonymous.code !== 0 && /user name is empty/.test(anonymous.stderr),
  };
}

/** sha256 of every file under dir (relative names), leaving out one subdirectory. */
export function fingerprints(dir: string, leaveOut: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (p === leaveOut) continue;
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), createHash("sha256").update(readFileSync(p)).digest("hex"));
    }
  };
  walk(dir);
  return out;
}

/** etcdctl snapshot restore of `file` into a member's (not yet existing) data dir. */
export async function restoreInto(file: string, m: Member): Promise<void> {
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
  ]);
  assert.equal(r.code, 0, `etcdctl snapshot restore: ${r.stderr}`);
}

/** Offsets of the frames of an etcd WAL segment (length field, record bytes). */
export function walFrames(file: string): Array<{ offset: number; recBytes: number }> {
  const buf = readFileSync(file);
  const out: Array<{ offset: number; recBytes: number }> = [];
  let pos = 0;
  while (pos + 8 <= buf.length) {
    const len = buf.readBigInt64LE(pos);
    if (len === 0n) break;
    const recBytes = Number(BigInt.asUintN(64, len) & 0xff_ffff_ffff_ffffn);
    const pad = len < 0n ? Number((BigInt.asUintN(64, len) >> 56n) & 7n) : 0;
    out.push({ offset: pos, recBytes });
    pos += 8 + recBytes + pad;
  }
  return out;
}

export function flipByte(file: string, at: number): void {
  const buf = readFileSync(file);
  buf[at] ^= 0x5a;
  writeFileSync(file, buf);
}
